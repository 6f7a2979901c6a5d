package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
)

// receiver is a webhook endpoint that verifies signatures with the exported
// verifier, as a customer's service would, and records what it accepted.
type receiver struct {
	*httptest.Server
	secret []byte

	mu       sync.Mutex
	accepted []notify.WebhookPayload
	headers  []http.Header
	rejected int
	// status, when set, is answered instead of 204.
	status int
}

func startReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{secret: []byte(secret)}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.status != 0 {
			http.Error(w, "receiver says no", r.status)
			return
		}
		body, err := notify.VerifyRequest(req, r.secret)
		if err != nil {
			r.rejected++
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var p notify.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.accepted = append(r.accepted, p)
		r.headers = append(r.headers, req.Header.Clone())
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) setStatus(code int) {
	r.mu.Lock()
	r.status = code
	r.mu.Unlock()
}

func (r *receiver) payloads() []notify.WebhookPayload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.WebhookPayload(nil), r.accepted...)
}

func TestWebhookSignedDelivery(t *testing.T) {
	rcv := startReceiver(t, "whsec_test")
	ch := store.Channel{ID: "c1", Name: "ops", Kind: "webhook", Target: rcv.URL + "/hooks/smartmaint", Secret: "whsec_test"}
	if err := (&notify.Webhook{}).Send(context.Background(), ch, testDelivery, testMessage); err != nil {
		t.Fatal(err)
	}
	got := rcv.payloads()
	if len(got) != 1 {
		t.Fatalf("receiver accepted %d requests", len(got))
	}
	p := got[0]
	if p.DeliveryID != testDelivery.ID || p.IdempotencyKey != testDelivery.Key || p.Tenant != "acme" || p.Subject != testMessage.Subject ||
		p.Severity != notify.SeverityMajor || p.IncidentID != "inc-42" || len(p.Links) != 1 || p.SentAt.IsZero() {
		t.Errorf("payload = %+v", p)
	}
	h := rcv.headers[0]
	if h.Get(notify.DeliveryHeader) != testDelivery.ID || !strings.HasPrefix(h.Get(notify.SignatureHeader), "sha256=") ||
		h.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", h)
	}

	// A receiver with another secret refuses it, and the refusal is
	// permanent for the sender.
	other := startReceiver(t, "another secret")
	ch.Target = other.URL
	err := (&notify.Webhook{}).Send(context.Background(), ch, testDelivery, testMessage)
	other.mu.Lock()
	rejected := other.rejected
	other.mu.Unlock()
	if !errors.Is(err, notify.ErrPermanent) || rejected != 1 {
		t.Errorf("wrong secret: err = %v, rejected %d", err, rejected)
	}
	// A channel without a secret is not sent unsigned.
	ch.Secret = ""
	if err := (&notify.Webhook{}).Send(context.Background(), ch, testDelivery, testMessage); !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("no secret: err = %v", err)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("whsec_test")
	body := []byte(`{"subject":"x"}`)
	now := time.Unix(1_750_000_000, 0)
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := notify.Sign(secret, ts, body)
	tests := []struct {
		name      string
		secret    []byte
		ts, sig   string
		body      []byte
		now       time.Time
		wantError error
	}{
		{"valid", secret, ts, sig, body, now, nil},
		{"valid, receiver clock slightly ahead", secret, ts, sig, body, now.Add(4 * time.Minute), nil},
		{"replayed later", secret, ts, sig, body, now.Add(6 * time.Minute), notify.ErrStale},
		{"from the future", secret, ts, sig, body, now.Add(-6 * time.Minute), notify.ErrStale},
		{"tampered body", secret, ts, sig, []byte(`{"subject":"y"}`), now, notify.ErrBadSignature},
		{"timestamp moved", secret, strconv.FormatInt(now.Unix()+1, 10), sig, body, now, notify.ErrBadSignature},
		{"wrong secret", []byte("guess"), ts, sig, body, now, notify.ErrBadSignature},
		{"bare hex", secret, ts, strings.TrimPrefix(sig, "sha256="), body, now, notify.ErrBadSignature},
		{"unsigned", secret, "", "", body, now, notify.ErrNoSignature},
		{"timestamp not a number", secret, "yesterday", sig, body, now, notify.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := notify.Verify(tt.secret, tt.ts, tt.sig, tt.body, tt.now, notify.DefaultTolerance)
			if !errors.Is(err, tt.wantError) || (tt.wantError == nil) != (err == nil) {
				t.Errorf("Verify() = %v, want %v", err, tt.wantError)
			}
		})
	}
}

func TestWebhookStatusHandling(t *testing.T) {
	for _, tt := range []struct {
		status        int
		wantPermanent bool
	}{
		{http.StatusInternalServerError, false},
		{http.StatusBadGateway, false},
		{http.StatusTooManyRequests, false},
		{http.StatusRequestTimeout, false},
		{http.StatusBadRequest, true},
		{http.StatusNotFound, true},
		{http.StatusGone, true},
		{http.StatusFound, true}, // redirects are not followed
	} {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.status == http.StatusFound {
					http.Redirect(w, r, "/elsewhere", tt.status)
					return
				}
				http.Error(w, "nope", tt.status)
			}))
			defer srv.Close()
			ch := store.Channel{Kind: "webhook", Target: srv.URL + "/services/T000/B000/very-secret-token", Secret: "s"}
			err := (&notify.Webhook{}).Send(context.Background(), ch, testDelivery, testMessage)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.wantPermanent, err)
			}
			if strings.Contains(err.Error(), "very-secret-token") {
				t.Errorf("error leaks the URL's secret path: %v", err)
			}
		})
	}
	// An unreachable receiver is worth a retry, and the error does not leak
	// the path either.
	ch := store.Channel{Kind: "webhook", Target: "http://127.0.0.1:1/services/T000/B000/very-secret-token", Secret: "s"}
	err := (&notify.Webhook{}).Send(context.Background(), ch, testDelivery, testMessage)
	if err == nil || errors.Is(err, notify.ErrPermanent) || strings.Contains(err.Error(), "very-secret-token") {
		t.Errorf("unreachable: err = %v", err)
	}
}

// TestWebhookDeniedNetworks checks that a target in a denied network is
// never dialled, by address or by a name that resolves into it, and that
// the failure is permanent.
func TestWebhookDeniedNetworks(t *testing.T) {
	rcv := startReceiver(t, "whsec_test")
	_, port, _ := strings.Cut(strings.TrimPrefix(rcv.URL, "http://"), ":")
	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	tests := []struct {
		name   string
		deny   []netip.Prefix
		target string
		denied bool
	}{
		{"allowed by the defaults", notify.DefaultDeniedNetworks, rcv.URL, false},
		{"denied address", loopback, rcv.URL, true},
		{"denied after DNS", loopback, "http://localhost:" + port, true},
		{"cloud metadata", notify.DefaultDeniedNetworks, "http://169.254.169.254/latest/meta-data/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rcv.payloads())
			ch := store.Channel{ID: "c1", Name: "ops", Kind: "webhook", Target: tt.target, Secret: "whsec_test"}
			err := (&notify.Webhook{Client: notify.NewHTTPClient(2*time.Second, tt.deny)}).Send(context.Background(), ch, testDelivery, testMessage)
			var denied *notify.DeniedTargetError
			switch {
			case tt.denied && (!errors.As(err, &denied) || !errors.Is(err, notify.ErrPermanent)):
				t.Errorf("err = %v, want a permanent DeniedTargetError", err)
			case !tt.denied && err != nil:
				t.Errorf("err = %v, want delivery", err)
			}
			if got := len(rcv.payloads()) - before; tt.denied && got != 0 {
				t.Errorf("the receiver got %d requests from a denied target", got)
			}
		})
	}
}
