package faults

import (
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/devserver"
)

// startRedis runs a throwaway redis-server (no persistence) on port.
func startRedis(t *testing.T, port int) *process {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed (apt-get install -y redis-server)")
	}
	p := run(t, "redis", nil, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	eventually(t, 10*time.Second, "redis-server to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return p
}

var failOpenMetric = regexp.MustCompile(`(?m)^smartmaint_ratelimit_fail_open_total (\d+)`)

// TestRedisDown stops the API's Redis and starts it again. Documented
// behaviour (docs/SECURITY.md): rate limits fail open — ingest and other
// requests go on, without RateLimit headers, counted in
// smartmaint_ratelimit_fail_open_total — while POSTs carrying an
// Idempotency-Key fail closed with 503; readiness reports Redis down; both
// features come back with Redis, without a restart.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	port, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	redis := startRedis(t, port)
	s := newStack(t)
	s.redisURL = fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	proc, api := s.startAPI("RATE_LIMIT_WRITE=3/m")
	s.key("admin", "acme", apikey.Admin)
	s.key("sensor", "acme", apikey.ReadingsWrite)
	s.must(201, api, "admin", "POST", "/api/v1/assets", map[string]any{"id": "fan-1", "type": "fan"})
	s.must(201, api, "admin", "POST", "/api/v1/assets/fan-1/sensors", map[string]any{"id": "rpm", "unit": "1/min"})

	n := 0
	ingest := func(header map[string]string) response {
		n++
		ts := time.Now().UTC().Add(-time.Minute).Add(time.Duration(n) * time.Millisecond)
		return s.call(api, "sensor", "POST", "/api/v1/readings",
			fmt.Sprintf(`{"asset_id":"fan-1","sensor_id":"rpm","ts":%q,"value":1500}`, ts.Format(time.RFC3339Nano)), header)
	}
	idempotent := func(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

	// Redis up: limits and idempotency work.
	if r := ingest(nil); r.code != 201 || r.header.Get("RateLimit-Limit") == "" {
		t.Fatalf("ingest = %d %s, RateLimit-Limit %q", r.code, r.body, r.header.Get("RateLimit-Limit"))
	}
	if r := s.call(api, "admin", "POST", "/api/v1/assets", map[string]any{"id": "fan-2", "type": "fan"}, nil); r.code != 201 {
		t.Fatalf("third write = %d %s", r.code, r.body)
	}
	if r := s.call(api, "admin", "POST", "/api/v1/assets", map[string]any{"id": "fan-3", "type": "fan"}, nil); r.code != 429 || r.errCode() != "rate_limited" {
		t.Fatalf("fourth write within a minute = %d %s, want 429", r.code, r.body)
	}
	body := `{"asset_id":"fan-1","sensor_id":"rpm","ts":"` + time.Now().UTC().Add(-30*time.Second).Format(time.RFC3339Nano) + `","value":1400}`
	for i, want := range []string{"", "true"} {
		r := s.call(api, "sensor", "POST", "/api/v1/readings", body, idempotent("up-1"))
		if r.code != 201 || r.header.Get("Idempotent-Replayed") != want {
			t.Fatalf("idempotent ingest %d = %d %s, replayed %q", i+1, r.code, r.body, r.header.Get("Idempotent-Replayed"))
		}
	}

	redis.kill()

	// Redis down: ingest goes on, unlimited and quick.
	for i := range 50 {
		start := time.Now()
		r := ingest(nil)
		if r.code != 201 || r.header.Get("RateLimit-Limit") != "" {
			t.Fatalf("ingest %d with Redis down = %d %s (RateLimit-Limit %q), want 201 without limits", i+1, r.code, r.body, r.header.Get("RateLimit-Limit"))
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("ingest %d with Redis down took %s", i+1, d)
		}
	}
	if r := s.call(api, "admin", "POST", "/api/v1/assets", map[string]any{"id": "fan-4", "type": "fan"}, nil); r.code != 201 {
		t.Errorf("write over the limit with Redis down = %d %s, want 201 (fail open)", r.code, r.body)
	}
	if r := ingest(idempotent("down-1")); r.code != 503 || r.header.Get("Retry-After") == "" {
		t.Errorf("Idempotency-Key with Redis down = %d %s, want 503 with Retry-After (fail closed)", r.code, r.body)
	}
	if r := s.call(api, "", "GET", "/health/ready", nil, nil); r.code != 503 {
		t.Errorf("/health/ready with Redis down = %d %s, want 503", r.code, r.body)
	}
	metrics := s.call(proc.admin, "", "GET", "/metrics", nil, nil)
	if m := failOpenMetric.FindSubmatch(metrics.body); m == nil || string(m[1]) == "0" {
		t.Errorf("smartmaint_ratelimit_fail_open_total not counting: %q", m)
	}

	// Redis back (empty, as after a failover): everything works again.
	startRedis(t, port)
	eventually(t, 15*time.Second, "rate limits to come back", func() bool {
		return ingest(nil).header.Get("RateLimit-Limit") != ""
	})
	eventually(t, 15*time.Second, "Idempotency-Key to work again", func() bool {
		return ingest(idempotent("back-1")).code == 201
	})
	if r := ingest(idempotent("back-1")); r.code != 422 {
		// Same key, different body (every call makes a new timestamp).
		t.Errorf("reused key after recovery = %d %s, want 422", r.code, r.body)
	}
}
