package ratelimit

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/smartmaint/smartmaint/internal/testenv"
)

func TestParseLimit(t *testing.T) {
	tests := []struct {
		in      string
		want    Limit
		wantErr bool
	}{
		{"20000/s", Limit{Rate: 20000, Period: time.Second, Burst: 20000}, false},
		{"10/m", Limit{Rate: 10, Period: time.Minute, Burst: 10}, false},
		{"50/s:100", Limit{Rate: 50, Period: time.Second, Burst: 100}, false},
		{"3/h:1", Limit{Rate: 3, Period: time.Hour, Burst: 1}, false},
		{" 5/s ", Limit{Rate: 5, Period: time.Second, Burst: 5}, false},
		{"off", Limit{}, false},
		{"0", Limit{}, false},
		{"", Limit{}, true},
		{"10", Limit{}, true},
		{"10/d", Limit{}, true},
		{"-1/s", Limit{}, true},
		{"0/s", Limit{}, true},
		{"x/s", Limit{}, true},
		{"10/s:0", Limit{}, true},
		{"10/s:", Limit{}, true},
	}
	for _, tt := range tests {
		got, err := ParseLimit(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil {
			back, err := ParseLimit(got.String())
			if err != nil || back != got {
				t.Errorf("ParseLimit(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
			}
		}
	}
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"20000/s", "10/m", "50/s:100", "off", "1/h:1", "9/x", "/:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLimit(s)
		if err != nil {
			return
		}
		if !l.Unlimited() && (l.Burst < 1 || l.Period <= 0) {
			t.Fatalf("ParseLimit(%q) = %+v: a limit needs a burst and a period", s, l)
		}
		back, err := ParseLimit(l.String())
		if err != nil || back != l {
			t.Fatalf("round trip of %q: %+v → %q → %+v, %v", s, l, l.String(), back, err)
		}
	})
}

func TestAllow(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	l := New(rdb, Options{Prefix: prefix, Limits: map[Class]Limit{
		Expensive: {Rate: 3, Period: time.Minute, Burst: 3},
		Read:      {Rate: 100, Period: time.Second, Burst: 100},
	}})
	ctx := context.Background()
	for i := range 3 {
		d := l.Allow(ctx, "keyA", Expensive)
		if !d.Allowed || d.FailedOpen || d.Remaining != 2-i {
			t.Fatalf("request %d: %+v, want allowed with %d remaining", i+1, d, 2-i)
		}
	}
	d := l.Allow(ctx, "keyA", Expensive)
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > 20*time.Second || d.ResetAfter <= 0 {
		t.Fatalf("4th request within a minute: %+v, want refused with a retry-after of at most 20s", d)
	}
	// Budgets are per key and per class.
	if d := l.Allow(ctx, "keyB", Expensive); !d.Allowed {
		t.Errorf("another key shares keyA's budget: %+v", d)
	}
	if d := l.Allow(ctx, "keyA", Read); !d.Allowed || d.Remaining != 99 {
		t.Errorf("another class shares the expensive budget: %+v", d)
	}
	// A class without a limit never asks Redis.
	if d := l.Allow(ctx, "keyA", Ingest); !d.Allowed || !d.Limit.Unlimited() {
		t.Errorf("unlimited class: %+v", d)
	}
}

// countHook counts the commands a Redis client sends.
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestLeases checks that two replicas serving a busy key from leases never
// let more through than the shared budget, and ask Redis far less often
// than once a request.
func TestLeases(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	hook := &countHook{}
	rdb.AddHook(hook)
	lim := Limit{Rate: 2000, Period: time.Second, Burst: 400}
	replicas := []*Limiter{
		New(rdb, Options{Prefix: prefix, Limits: map[Class]Limit{Ingest: lim}}),
		New(rdb, Options{Prefix: prefix, Limits: map[Class]Limit{Ingest: lim}}),
	}
	const requests = 4000
	allowed := 0
	start := time.Now()
	for i := range requests {
		if d := replicas[i%2].Allow(context.Background(), "busy", Ingest); d.Allowed {
			allowed++
		} else if d.RetryAfter <= 0 {
			t.Fatalf("refusal without Retry-After: %+v", d)
		}
	}
	elapsed := time.Since(start)
	budget := lim.Burst + int(float64(lim.Rate)*elapsed.Seconds()) + 1
	if allowed > budget {
		t.Errorf("allowed %d of %d requests in %s; the budget was %d", allowed, requests, elapsed, budget)
	}
	if allowed < lim.Burst/2 {
		t.Errorf("allowed only %d requests; leases waste too much of a burst of %d", allowed, lim.Burst)
	}
	if n := hook.n.Load(); n > requests/10 {
		t.Errorf("%d Redis commands for %d requests; leases should save most of them", n, requests)
	}
	t.Logf("%d of %d allowed in %s (budget %d), %d Redis commands", allowed, requests, elapsed, budget, hook.n.Load())

	// A key that only trickles asks for one token at a time: exact.
	slow := New(rdb, Options{Prefix: prefix, Limits: map[Class]Limit{Read: {Rate: 1000, Period: time.Second, Burst: 3}}})
	for i := range 3 {
		if d := slow.Allow(context.Background(), "slow", Read); !d.Allowed {
			t.Fatalf("request %d within the burst refused: %+v", i+1, d)
		}
	}
}

func TestFailOpen(t *testing.T) {
	// A port nobody listens on: connection refused at once.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer rdb.Close()
	var logs bytes.Buffer
	l := New(rdb, Options{
		Limits: map[Class]Limit{Ingest: {Rate: 1, Period: time.Hour, Burst: 1}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	before := counterValue(failOpen)
	for i := range 5 {
		start := time.Now()
		d := l.Allow(context.Background(), "k", Ingest)
		if !d.Allowed || !d.FailedOpen {
			t.Fatalf("request %d with Redis down: %+v, want allowed and failed open", i+1, d)
		}
		if took := time.Since(start); took > 300*time.Millisecond {
			t.Errorf("request %d waited %s for a dead Redis", i+1, took)
		}
	}
	if n := counterValue(failOpen) - before; n != 5 {
		t.Errorf("fail-open counter rose by %v, want 5", n)
	}
	if n := strings.Count(logs.String(), "rate limiting is off"); n != 1 {
		t.Errorf("logged the fail-open warning %d times, want once:\n%s", n, logs.String())
	}
	// After the backoff Redis is asked again (and still fails open).
	l.now = func() time.Time { return time.Now().Add(2 * time.Second) }
	if d := l.Allow(context.Background(), "k", Ingest); !d.Allowed || !d.FailedOpen {
		t.Fatalf("after backoff: %+v", d)
	}
}

// BenchmarkAllow measures rate-limit decisions against the local Redis
// with 32 concurrent callers per CPU, as a busy API makes them: ns/op is the
// inverse of the throughput, not the latency of one decision.
func BenchmarkAllow(b *testing.B) {
	rdb, prefix := testenv.Redis(b)
	l := New(rdb, Options{Prefix: prefix, Limits: map[Class]Limit{Ingest: {Rate: 1_000_000_000, Period: time.Second}}})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if d := l.Allow(ctx, "bench", Ingest); !d.Allowed || d.FailedOpen {
				b.Fatalf("decision %+v", d)
			}
		}
	})
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}
