package idempotency

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/testenv"
)

func TestParseKey(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324", true},
		{`"8e03978e-40d5"`, "8e03978e-40d5", true},
		{"  abc  ", "abc", true},
		{strings.Repeat("k", MaxKeyLength), strings.Repeat("k", MaxKeyLength), true},
		{"", "", false},
		{`""`, "", false},
		{strings.Repeat("k", MaxKeyLength+1), "", false},
		{"a b", "", false},
		{"naïve", "", false},
		{"a\x00b", "", false},
		{`a"b`, "", false},
	}
	for _, tt := range tests {
		got, err := ParseKey(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseKey(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"abc", `"abc"`, "", `"`, "a b", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKey(s)
		if err != nil {
			return
		}
		if k == "" || len(k) > MaxKeyLength || strings.ContainsAny(k, "\" \t\r\n") {
			t.Fatalf("ParseKey(%q) accepted %q", s, k)
		}
		// A valid key parses to itself, bare or quoted.
		if again, err := ParseKey(`"` + k + `"`); err != nil || again != k {
			t.Fatalf("quoted %q: %q, %v", k, again, err)
		}
	})
}

func newStore(t *testing.T, o Options) *Store {
	t.Helper()
	rdb, prefix := testenv.Redis(t)
	o.Prefix = prefix
	return New(rdb, o)
}

func TestClaimReplayAndReuse(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Options{})
	scope := Scope{Tenant: "acme", Method: "POST", Path: "/api/v1/readings", Key: "k1"}
	fp := Fingerprint([]byte(`{"value":1}`))

	claim, replay, err := s.Begin(ctx, scope, fp)
	if err != nil || claim == nil || replay != nil {
		t.Fatalf("first Begin = %v, %v, %v; want a claim", claim, replay, err)
	}
	// While the first runs: the same request waits, a different body is refused.
	if _, _, err := s.Begin(ctx, scope, fp); !errors.Is(err, ErrInProgress) {
		t.Fatalf("concurrent duplicate: err = %v, want ErrInProgress", err)
	}
	if _, _, err := s.Begin(ctx, scope, Fingerprint([]byte(`{"value":2}`))); !errors.Is(err, ErrKeyReused) {
		t.Fatalf("different body while in progress: err = %v, want ErrKeyReused", err)
	}

	want := Response{Status: 201, Header: map[string]string{"Content-Type": "application/json", "Location": "/x/1"}, Body: []byte(`{"stored":1}`)}
	if err := claim.Finish(ctx, want); err != nil {
		t.Fatal(err)
	}
	_, replay, err = s.Begin(ctx, scope, fp)
	if err != nil || replay == nil {
		t.Fatalf("after Finish: %v, %v; want a replay", replay, err)
	}
	if replay.Status != 201 || string(replay.Body) != `{"stored":1}` || replay.Header["Location"] != "/x/1" {
		t.Errorf("replay = %+v, want %+v", replay, want)
	}
	if _, _, err := s.Begin(ctx, scope, Fingerprint([]byte(`{"value":2}`))); !errors.Is(err, ErrKeyReused) {
		t.Errorf("different body after Finish: err = %v, want ErrKeyReused", err)
	}
	ttl := s.rdb.PTTL(ctx, scope.redisKey(s.o.Prefix)).Val()
	if ttl < 9*time.Minute || ttl > 10*time.Minute {
		t.Errorf("stored response expires in %s, want 10 minutes", ttl)
	}

	// The same key in another tenant, method or path is another request.
	for _, other := range []Scope{
		{Tenant: "rival", Method: "POST", Path: scope.Path, Key: "k1"},
		{Tenant: "acme", Method: "POST", Path: "/api/v1/assets", Key: "k1"},
		{Tenant: "acme", Method: "PUT", Path: scope.Path, Key: "k1"},
	} {
		c, r, err := s.Begin(ctx, other, fp)
		if err != nil || c == nil || r != nil {
			t.Errorf("%+v shares the key of %+v: %v %v %v", other, scope, c, r, err)
		}
	}
}

func TestFinishReleases(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Options{MaxBodyBytes: 10})
	fp := Fingerprint(nil)
	tests := []struct {
		name string
		resp Response
	}{
		{"server error", Response{Status: 503, Body: []byte(`{}`)}},
		{"body over the cap", Response{Status: 200, Body: []byte(`{"a":"0123456789"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			scope := Scope{Tenant: "acme", Method: "POST", Path: "/p", Key: tt.name}
			c, _, err := s.Begin(ctx, scope, fp)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Finish(ctx, tt.resp); err != nil {
				t.Fatal(err)
			}
			c, r, err := s.Begin(ctx, scope, fp)
			if err != nil || c == nil || r != nil {
				t.Fatalf("after a %s the key should be free again: %v %v %v", tt.name, c, r, err)
			}
		})
	}
	// 4xx answers are kept: the same bad request gets the same answer.
	scope := Scope{Tenant: "acme", Method: "POST", Path: "/p", Key: "bad"}
	c, _, _ := s.Begin(ctx, scope, fp)
	if err := c.Finish(ctx, Response{Status: 422, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, r, err := s.Begin(ctx, scope, fp); err != nil || r == nil || r.Status != 422 {
		t.Errorf("4xx not replayed: %v %v", r, err)
	}
}

func TestExpiredClaim(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Options{LockTTL: 50 * time.Millisecond})
	scope := Scope{Tenant: "acme", Method: "POST", Path: "/p", Key: "slow"}
	fp := Fingerprint([]byte("x"))
	first, _, err := s.Begin(ctx, scope, fp)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(120 * time.Millisecond)
	// The owner died (or is very slow): the key is free again…
	second, _, err := s.Begin(ctx, scope, fp)
	if err != nil || second == nil {
		t.Fatalf("after the lock expired: %v, %v; want a new claim", second, err)
	}
	// …and the late first owner cannot overwrite the new claim.
	if err := first.Finish(ctx, Response{Status: 201}); err == nil {
		t.Error("a claim finished after it expired and was taken over")
	}
	if err := second.Finish(ctx, Response{Status: 201, Body: []byte("2")}); err != nil {
		t.Fatal(err)
	}
	if _, r, _ := s.Begin(ctx, scope, fp); r == nil || string(r.Body) != "2" {
		t.Errorf("replay = %+v, want the second owner's response", r)
	}
}
