package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// server is the real router over a throwaway database.
type server struct {
	*httptest.Server
	db   *store.DB
	keys map[string]string // name → plaintext key
}

func newServer(t testing.TB) *server {
	t.Helper()
	s, _ := startServer(t, nil)
	return s
}

// startServer serves the catalog and readings routes, and those more
// returns, over a throwaway database with tenants acme and rival and the
// keys admin, writer and reader (acme) and rival (admin of rival). It
// returns the server and its router.
func startServer(t testing.TB, more func(db *store.DB, log *slog.Logger) []api.Routes, opts ...api.Option) (*server, http.Handler) {
	t.Helper()
	db, _ := testenv.DB(t)
	log := slog.New(slog.DiscardHandler)
	b := ingest.NewBatcher(db, ingest.Options{})
	t.Cleanup(b.Close)
	routes := []api.Routes{
		&api.Catalog{DB: db},
		&api.Readings{DB: db, Batcher: b, MaxBodyBytes: 1 << 20, MaxReadings: 100,
			Validator: &ingest.Validator{Catalog: ingest.NewCatalog(db, log), MaxSkew: 5 * time.Minute, Retention: 48 * time.Hour}},
	}
	if more != nil {
		routes = append(routes, more(db, log)...)
	}
	h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{Checks: map[string]api.Check{"postgres": db.Ping}}, routes, nil, opts...)
	s := &server{Server: httptest.NewServer(h), db: db, keys: map[string]string{}}
	t.Cleanup(s.Close)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	s.key(t, "admin", "acme", apikey.Admin)
	s.key(t, "writer", "acme", apikey.ReadingsWrite)
	s.key(t, "reader", "acme", apikey.ReadingsRead)
	s.key(t, "rival", "rival", apikey.Admin)
	return s, h
}

func (s *server) key(t testing.TB, name, tenant string, scopes ...apikey.Scope) {
	t.Helper()
	key, prefix, hash := apikey.Generate()
	if _, err := s.db.CreateAPIKey(context.Background(), tenant, name, prefix, hash, scopes, nil); err != nil {
		t.Fatal(err)
	}
	s.keys[name] = key
}

// do sends a request as the named key ("" for none) and decodes the JSON
// answer into a map (nil for an empty body).
func (s *server) do(t testing.TB, key, method, path, contentType, body string) (int, map[string]any, http.Header) {
	t.Helper()
	header := http.Header{}
	if contentType != "" {
		header.Set("Content-Type", contentType)
	}
	return s.doWith(t, key, method, path, strings.NewReader(body), header)
}

// doWith is do with any body and request headers.
func (s *server) doWith(t testing.TB, key, method, path string, body io.Reader, header http.Header) (int, map[string]any, http.Header) {
	t.Helper()
	code, raw, respHeader := s.exchange(t, key, method, path, body, header)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return code, out, respHeader
}

// exchange sends a request with header as the named key ("" for none) and
// returns the status, the raw body and the response headers.
func (s *server) exchange(t testing.TB, key, method, path string, body io.Reader, header http.Header) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("X-API-Key", s.keys[key])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, raw, resp.Header
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func (s *server) seedMill(t testing.TB) {
	t.Helper()
	if code, body, _ := s.do(t, "admin", "POST", "/api/v1/assets", "application/json", `{"id":"mill-1","type":"milling-machine"}`); code != 201 {
		t.Fatalf("create asset: %d %v", code, body)
	}
	if code, body, _ := s.do(t, "admin", "POST", "/api/v1/assets/mill-1/sensors", "application/json",
		`{"id":"torque","unit":"Nm","min_valid":0,"max_valid":200,"warn_high":60,"alarm_high":70}`); code != 201 {
		t.Fatalf("create sensor: %d %v", code, body)
	}
}

func reading(ts time.Time, v float64) string {
	return fmt.Sprintf(`{"asset_id":"mill-1","sensor_id":"torque","ts":%q,"value":%g}`, ts.UTC().Format(time.RFC3339Nano), v)
}

func TestIngestAndQuery(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	now := time.Now().UTC().Truncate(time.Second)

	code, body, hdr := s.do(t, "writer", "POST", "/api/v1/readings", "application/json", reading(now.Add(-2*time.Minute), 40))
	if code != 201 || body["stored"] != 1.0 {
		t.Fatalf("single: %d %v", code, body)
	}
	if hdr.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID in the response")
	}
	code, body, _ = s.do(t, "writer", "POST", "/api/v1/readings", "application/json",
		"["+reading(now.Add(-time.Minute), 41)+","+reading(now.Add(-time.Minute+time.Second), 42)+"]")
	if code != 201 || body["stored"] != 2.0 {
		t.Fatalf("array: %d %v", code, body)
	}
	code, body, _ = s.do(t, "writer", "POST", "/api/v1/readings", "application/x-ndjson",
		reading(now.Add(-30*time.Second), 43)+"\n"+reading(now.Add(-20*time.Second), 44)+"\n")
	if code != 201 || body["stored"] != 2.0 {
		t.Fatalf("ndjson: %d %v", code, body)
	}

	code, body, _ = s.do(t, "reader", "GET", "/api/v1/assets/mill-1/readings?sensor=torque&from="+now.Add(-time.Hour).Format(time.RFC3339), "", "")
	if code != 200 {
		t.Fatalf("query: %d %v", code, body)
	}
	series := body["series"].([]any)
	points := series[0].(map[string]any)["points"].([]any)
	if len(points) != 5 || points[0].(map[string]any)["value"] != 40.0 || points[4].(map[string]any)["value"] != 44.0 {
		t.Errorf("points = %v", points)
	}
	code, body, _ = s.do(t, "reader", "GET", "/api/v1/assets/mill-1/readings?step=1h&from="+now.Add(-2*time.Hour).Format(time.RFC3339), "", "")
	if code != 200 {
		t.Fatalf("rollup query: %d %v", code, body)
	}
	var n float64
	for _, b := range body["series"].([]any)[0].(map[string]any)["buckets"].([]any) {
		n += b.(map[string]any)["count"].(float64)
	}
	if n != 5 {
		t.Errorf("rollup counts %v readings, want 5", n)
	}
}

func TestIngestRejectsBadInput(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	now := time.Now().UTC()
	many := make([]string, 101)
	for i := range many {
		many[i] = reading(now, 1)
	}
	tests := []struct {
		name, key, ctype, body string
		status                 int
		code                   string
	}{
		{"no key", "", "application/json", reading(now, 1), 401, "unauthenticated"},
		{"read-only key", "reader", "application/json", reading(now, 1), 403, "forbidden"},
		{"form body", "writer", "application/x-www-form-urlencoded", reading(now, 1), 415, "unsupported_media_type"},
		{"broken json", "writer", "application/json", `[{"asset_id":`, 400, "malformed_body"},
		{"unknown field", "writer", "application/json", `{"asset_id":"mill-1","sensor_id":"torque","ts":"2026-01-01T00:00:00Z","value":1,"tmp":1}`, 400, "malformed_body"},
		{"too many", "writer", "application/json", "[" + strings.Join(many, ",") + "]", 413, "too_many_readings"},
		{"too large", "writer", "application/json", `[` + strings.Repeat(" ", 1<<20) + `]`, 413, "body_too_large"},
		{"out of range", "writer", "application/json", "[" + reading(now, 1) + "," + reading(now, 250) + "]", 422, "invalid_readings"},
		{"future", "writer", "application/json", reading(now.Add(time.Hour), 1), 422, "invalid_readings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := s.do(t, tt.key, "POST", "/api/v1/readings", tt.ctype, tt.body)
			if code != tt.status || errCode(body) != tt.code {
				t.Fatalf("got %d %v, want %d %s", code, body, tt.status, tt.code)
			}
			if msg, _ := body["error"].(map[string]any)["message"].(string); msg == "" {
				t.Error("error without a message")
			}
		})
	}
	// Nothing from the rejected requests was stored, including the valid
	// reading that shared a request with an invalid one.
	if n, _ := s.db.CountReadings(context.Background(), "acme"); n != 0 {
		t.Errorf("stored %d readings from rejected requests", n)
	}
	_, body, _ := s.do(t, "writer", "POST", "/api/v1/readings", "application/json", "["+reading(now, 1)+","+reading(now, 250)+"]")
	details := body["error"].(map[string]any)["details"].([]any)
	d := details[0].(map[string]any)
	if d["index"] != 1.0 || d["field"] != "value" {
		t.Errorf("details = %v, want index 1 field value", details)
	}
}

func TestQueryErrors(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/assets/nope/readings", 404, "not_found"},
		{"/api/v1/assets/mill-1/readings?from=yesterday", 400, "invalid_query"},
		{"/api/v1/assets/mill-1/readings?step=10ms", 400, "invalid_query"},
		{"/api/v1/assets/mill-1/readings?step=1s&from=2020-01-01T00:00:00Z", 400, "invalid_query"},
		{"/api/v1/assets/mill-1/readings?limit=0", 400, "invalid_query"},
		{"/api/v1/assets/mill-1/readings?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "invalid_query"},
	}
	for _, tt := range tests {
		code, body, _ := s.do(t, "reader", "GET", tt.path, "", "")
		if code != tt.status || errCode(body) != tt.code {
			t.Errorf("GET %s = %d %v, want %d %s", tt.path, code, body, tt.status, tt.code)
		}
	}
}

func TestTenantsAreSeparateOverHTTP(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	if code, _, _ := s.do(t, "rival", "GET", "/api/v1/assets/mill-1", "", ""); code != 404 {
		t.Errorf("rival reads acme's asset: %d", code)
	}
	// The rival cannot write readings for acme's sensor: it is unknown to it.
	code, body, _ := s.do(t, "rival", "POST", "/api/v1/readings", "application/json", reading(time.Now(), 1))
	if code != 422 {
		t.Errorf("rival writes acme's sensor: %d %v", code, body)
	}
	code, body, _ = s.do(t, "rival", "GET", "/api/v1/assets", "", "")
	if code != 200 || len(body["items"].([]any)) != 0 {
		t.Errorf("rival lists %d %v", code, body)
	}
}

func TestAssetsAndSensorsCRUD(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	tests := []struct {
		key, method, path, body string
		status                  int
	}{
		{"admin", "POST", "/api/v1/assets", `{"id":"mill-1","type":"x"}`, 409},
		{"admin", "POST", "/api/v1/assets", `{"id":"","type":"x"}`, 422},
		{"admin", "POST", "/api/v1/assets", `{"id":"m2"}`, 422},
		{"admin", "POST", "/api/v1/assets", `{"id":"m2","type":"x","colour":"red"}`, 400},
		{"reader", "POST", "/api/v1/assets", `{"id":"m2","type":"x"}`, 403},
		{"admin", "PUT", "/api/v1/assets/mill-1", `{"type":"lathe","name":"renamed"}`, 200},
		{"admin", "PUT", "/api/v1/assets/mill-1", `{"id":"other","type":"lathe"}`, 422},
		{"admin", "PUT", "/api/v1/assets/ghost", `{"type":"lathe"}`, 404},
		{"reader", "GET", "/api/v1/assets/mill-1", "", 200},
		{"reader", "GET", "/api/v1/assets?type=lathe", "", 200},
		{"reader", "GET", "/api/v1/assets?limit=5000", "", 400},
		{"admin", "POST", "/api/v1/assets/mill-1/sensors", `{"id":"temp","unit":"K","min_valid":10,"max_valid":5}`, 422},
		{"admin", "POST", "/api/v1/assets/mill-1/sensors", `{"id":"temp","unit":""}`, 422},
		{"admin", "POST", "/api/v1/assets/mill-1/sensors", `{"id":"temp","unit":"K","warn_high":80,"alarm_high":70}`, 422},
		{"admin", "POST", "/api/v1/assets/ghost/sensors", `{"id":"temp","unit":"K"}`, 404},
		{"admin", "POST", "/api/v1/assets/mill-1/sensors", `{"id":"temp","unit":"K"}`, 201},
		{"admin", "POST", "/api/v1/assets/mill-1/sensors", `{"id":"temp","unit":"K"}`, 409},
		{"admin", "PUT", "/api/v1/assets/mill-1/sensors/temp", `{"unit":"degC","max_valid":150}`, 200},
		{"reader", "GET", "/api/v1/assets/mill-1/sensors/temp", "", 200},
		{"reader", "GET", "/api/v1/assets/mill-1/sensors", "", 200},
		{"reader", "GET", "/api/v1/assets/ghost/sensors", "", 404},
		{"admin", "DELETE", "/api/v1/assets/mill-1/sensors/temp", "", 204},
		{"admin", "DELETE", "/api/v1/assets/mill-1/sensors/temp", "", 404},
		{"admin", "DELETE", "/api/v1/assets/mill-1", "", 204},
		{"reader", "GET", "/api/v1/assets/mill-1", "", 404},
		{"admin", "GET", "/api/v1/nope", "", 404},
		{"admin", "PATCH", "/api/v1/assets", "", 405},
	}
	for _, tt := range tests {
		code, body, _ := s.do(t, tt.key, tt.method, tt.path, "application/json", tt.body)
		if code != tt.status {
			t.Errorf("%s %s %s = %d %v, want %d", tt.key, tt.method, tt.path, code, body, tt.status)
		}
		if code >= 400 && errCode(body) == "" {
			t.Errorf("%s %s: error without the standard body: %v", tt.method, tt.path, body)
		}
	}
}

func TestHealthAndRequestID(t *testing.T) {
	s := newServer(t)
	for _, path := range []string{"/health", "/health/ready"} {
		if code, body, _ := s.do(t, "", "GET", path, "", ""); code != 200 || body["status"] != "ok" {
			t.Errorf("%s = %d %v", path, code, body)
		}
	}
	req, _ := http.NewRequest("GET", s.URL+"/health", nil)
	req.Header.Set("X-Request-ID", "trace-abc-123")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got != "trace-abc-123" {
		t.Errorf("request id echoed as %q", got)
	}
	req.Header.Set("X-Request-ID", "bad id with spaces")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if got := resp.Header.Get("X-Request-ID"); got == "bad id with spaces" || len(got) != 32 {
		t.Errorf("unsafe request id was echoed or not replaced: %q", got)
	}
	rec := httptest.NewRecorder()
	api.NewAdminRouter(&api.Health{}, "").ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !bytes.Contains(rec.Body.Bytes(), []byte("smartmaint_http_requests_total")) {
		t.Error("the admin listener's /metrics lacks smartmaint_http_requests_total")
	}
}

// TestConcurrentIngestLosesNothing hammers the endpoint from many clients and
// checks every acknowledged reading is in the database.
func TestConcurrentIngestLosesNothing(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	base := time.Now().UTC().Add(-time.Minute)
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := 0
	for w := range 16 {
		wg.Go(func() {
			for i := range 25 {
				ts := base.Add(time.Duration(w*1000+i) * time.Millisecond)
				code, body, _ := s.do(t, "writer", "POST", "/api/v1/readings", "application/json", "["+reading(ts, 1)+","+reading(ts.Add(time.Microsecond), 2)+"]")
				if code != 201 {
					t.Errorf("ingest: %d %v", code, body)
					return
				}
				mu.Lock()
				acked += 2
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n, _ := s.db.CountReadings(context.Background(), "acme"); n != int64(acked) || acked != 800 {
		t.Errorf("acknowledged %d, stored %d", acked, n)
	}
}

// rollupCount is what the hourly rollup says mill-1's torque has since from.
func (s *server) rollupCount(t *testing.T, from time.Time) float64 {
	t.Helper()
	code, body, _ := s.do(t, "reader", "GET", "/api/v1/assets/mill-1/readings?step=1h&from="+from.Format(time.RFC3339), "", "")
	if code != 200 {
		t.Fatalf("rollup query: %d %v", code, body)
	}
	var n float64
	for _, b := range body["series"].([]any)[0].(map[string]any)["buckets"].([]any) {
		n += b.(map[string]any)["count"].(float64)
	}
	return n
}

// TestIngestDuplicates: the same reading twice in one request and again in
// a second request is stored once and acknowledged both times; the rollup
// counts it once.
func TestIngestDuplicates(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	ts := time.Now().UTC().Add(-time.Minute)
	for i, want := range []map[string]any{{"stored": 1.0, "duplicates": 1.0}, {"stored": 0.0, "duplicates": 2.0}} {
		code, body, _ := s.do(t, "writer", "POST", "/api/v1/readings", "application/json", "["+reading(ts, 41.5)+","+reading(ts, 41.5)+"]")
		if code != 201 || body["stored"] != want["stored"] || body["duplicates"] != want["duplicates"] {
			t.Errorf("request %d: %d %v, want 201 %v", i+1, code, body, want)
		}
	}
	if n, _ := s.db.CountReadings(context.Background(), "acme"); n != 1 {
		t.Errorf("%d rows stored, want 1", n)
	}
	if n := s.rollupCount(t, ts.Add(-2*time.Hour)); n != 1 {
		t.Errorf("rollup counts %v readings, want 1", n)
	}
}

// TestIngestConflictingReading: a different value for a stored timestamp is
// refused with 409 conflicting_reading naming the reading's index and the
// stored value, and nothing of the request is stored; two values for one
// timestamp within a request are 422.
func TestIngestConflictingReading(t *testing.T) {
	s := newServer(t)
	s.seedMill(t)
	ts := time.Now().UTC().Add(-time.Minute)
	if code, body, _ := s.do(t, "writer", "POST", "/api/v1/readings", "application/json", reading(ts, 40)); code != 201 {
		t.Fatalf("first: %d %v", code, body)
	}
	code, body, _ := s.do(t, "writer", "POST", "/api/v1/readings", "application/json",
		"["+reading(ts.Add(time.Second), 1)+","+reading(ts, 40)+","+reading(ts, 40)+","+reading(ts.Add(time.Nanosecond), 40)+","+reading(ts.Add(-time.Second), 2)+"]")
	if code != 201 || body["duplicates"] != 3.0 {
		t.Fatalf("exact re-sends: %d %v", code, body)
	}
	code, body, _ = s.do(t, "writer", "POST", "/api/v1/readings", "application/json",
		"["+reading(ts.Add(2*time.Second), 1)+","+reading(ts, 40.5)+"]")
	if code != 409 || errCode(body) != "conflicting_reading" {
		t.Fatalf("conflict: %d %v, want 409 conflicting_reading", code, body)
	}
	details, _ := body["error"].(map[string]any)["details"].([]any)
	if len(details) != 1 {
		t.Fatalf("details = %v, want one", details)
	}
	d := details[0].(map[string]any)
	if d["index"] != 1.0 || d["stored_value"] != 40.0 || d["value"] != 40.5 || d["field"] != "value" {
		t.Errorf("detail = %v, want index 1, stored_value 40, value 40.5", d)
	}
	code, body, _ = s.do(t, "writer", "POST", "/api/v1/readings", "application/json",
		"["+reading(ts.Add(3*time.Second), 1)+","+reading(ts.Add(3*time.Second), 2)+"]")
	if code != 422 || errCode(body) != "invalid_readings" {
		t.Errorf("two values in one request: %d %v, want 422 invalid_readings", code, body)
	}
	// Stored: the first reading and the two new ones of the second request.
	if n, _ := s.db.CountReadings(context.Background(), "acme"); n != 3 {
		t.Errorf("%d rows stored, want 3: nothing of the refused requests", n)
	}
	if n := s.rollupCount(t, ts.Add(-2*time.Hour)); n != 3 {
		t.Errorf("rollup counts %v readings, want 3", n)
	}
}
