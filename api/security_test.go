package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"github.com/redis/go-redis/v9"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/account"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/idempotency"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/ratelimit"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// fullServer is the real router with every feature's routes over a
// throwaway database (no Temporal: routes that need it are only called in
// ways that answer before reaching it). Keys: admin, writer, reader,
// decider, none (no scopes) in tenant acme; rival (admin) in tenant rival.
type fullServer struct {
	*server
	registry *registry.Registry
	router   http.Handler
}

func newFullServer(t *testing.T, extra []api.Routes, opts ...api.Option) *fullServer {
	t.Helper()
	var reg *registry.Registry
	srv, h := startServer(t, func(db *store.DB, log *slog.Logger) []api.Routes {
		folder, err := artifact.NewFolder(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		reg = registry.New(db, folder, registry.Options{Logger: log})
		return append([]api.Routes{
			&api.Incidents{DB: db},
			&api.Technicians{Store: &maintenance.Store{DB: db}},
			&api.WorkOrders{DB: db, Store: &maintenance.Store{DB: db}},
			&api.Channels{DB: db, Notifier: notify.New(db, notify.Config{}, log)},
			&api.Models{Registry: reg},
			&api.Users{Store: &account.Store{DB: db}},
		}, extra...)
	}, opts...)
	s := &fullServer{server: srv, registry: reg, router: h}
	s.key(t, "decider", "acme", apikey.IncidentsDecide)
	s.key(t, "none", "acme")
	return s
}

// send is server.do with extra request headers; it returns the raw body.
func (s *server) send(t *testing.T, key, method, path, body string, header map[string]string) (int, []byte, http.Header) {
	t.Helper()
	h := http.Header{}
	if body != "" {
		h.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		h.Set(k, v)
	}
	return s.exchange(t, key, method, path, strings.NewReader(body), h)
}

func jsonErrCode(raw []byte) string {
	var body map[string]any
	json.Unmarshal(raw, &body)
	return errCode(body)
}

// routeVar fills a route template's variables with a placeholder.
var routeVar = regexp.MustCompile(`\{[^}]+\}`)

// TestEveryRouteIsGuarded walks the router: outside /health and
// /health/ready nothing answers without a key (401), and every /api/v1 route
// refuses a key without scopes (403). /metrics is not on it (TestNoMetricsForTenants).
func TestEveryRouteIsGuarded(t *testing.T) {
	s := newFullServer(t, nil)
	public := map[string]bool{"/health": true, "/health/ready": true}
	var checked int
	err := s.router.(*mux.Router).Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // a subrouter prefix, not an endpoint
		}
		path := routeVar.ReplaceAllString(tpl, "x")
		for _, m := range methods {
			if public[tpl] {
				continue
			}
			checked++
			body := ""
			if m != http.MethodGet && m != http.MethodDelete {
				body = "{}"
			}
			if code, raw, hdr := s.send(t, "", m, path, body, nil); code != 401 || jsonErrCode(raw) != "unauthenticated" || hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s without a key = %d %s, want 401", m, tpl, code, raw)
			}
			if code, raw, _ := s.send(t, "none", m, path, body, nil); code != 403 || jsonErrCode(raw) != "forbidden" {
				t.Errorf("%s %s with a key without scopes = %d %s, want 403", m, tpl, code, raw)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 40 {
		t.Errorf("checked only %d routes; is the walk broken?", checked)
	}
	for p := range public {
		if code, _, _ := s.send(t, "", "GET", p, "", nil); code != 200 {
			t.Errorf("GET %s without a key = %d, want 200", p, code)
		}
	}
}

func TestBodyLimitOnEveryRoute(t *testing.T) {
	s := newFullServer(t, nil, api.WithMaxBodyBytes(1024))
	big := `{"id":"pump-1","type":"pump","name":"` + strings.Repeat("x", 2000) + `"}`
	// Declared length over the limit: refused before the handler.
	for _, path := range []string{"/api/v1/assets", "/api/v1/technicians", "/api/v1/work-orders", "/api/v1/notification-channels"} {
		code, raw, _ := s.send(t, "admin", "POST", path, big, nil)
		if code != 413 || jsonErrCode(raw) != "body_too_large" {
			t.Errorf("POST %s with 2 KB over a 1 KB limit = %d %s, want 413", path, code, raw)
		}
	}
	// Streamed (no Content-Length): the decoder hits the limit.
	req, _ := http.NewRequest("POST", s.URL+"/api/v1/assets", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	req.Header.Set("X-API-Key", s.keys["admin"])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || jsonErrCode(raw) != "body_too_large" {
		t.Errorf("chunked 2 KB body = %d %s, want 413", resp.StatusCode, raw)
	}
	// Under the limit all is well.
	if code, raw, _ := s.send(t, "admin", "POST", "/api/v1/assets", `{"id":"pump-1","type":"pump"}`, nil); code != 201 {
		t.Errorf("small body = %d %s", code, raw)
	}
}

func TestRouteClass(t *testing.T) {
	r := mux.NewRouter()
	v1 := r.PathPrefix("/api/v1").Subrouter()
	var got ratelimit.Class
	h := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = api.RouteClass(r) })
	v1.Handle("/readings", h).Methods("POST")
	v1.Handle("/assets/{id}/readings", h).Methods("GET")
	v1.Handle("/assets", h).Methods("POST")
	v1.Handle("/models/{name}/promote", h).Methods("POST")
	v1.Handle("/models/{name}/retrain", h).Methods("POST")
	v1.Handle("/models/{name}/versions", h).Methods("POST", "GET")
	v1.Handle("/models/{name}/aliases/{alias}/rollback", h).Methods("POST")
	v1.Handle("/work-orders/replan", h).Methods("POST")
	v1.Handle("/assets/{id}", h).Methods("DELETE")
	v1.Handle("/reports", h).Methods("POST", "GET")
	tests := []struct {
		method, path string
		want         ratelimit.Class
	}{
		{"POST", "/api/v1/readings", ratelimit.Ingest},
		{"GET", "/api/v1/assets/a/readings", ratelimit.Read},
		{"POST", "/api/v1/assets", ratelimit.Write},
		{"DELETE", "/api/v1/assets/a", ratelimit.Write},
		{"POST", "/api/v1/models/m/promote", ratelimit.Expensive},
		{"POST", "/api/v1/models/m/retrain", ratelimit.Expensive},
		{"POST", "/api/v1/models/m/versions", ratelimit.Expensive},
		{"GET", "/api/v1/models/m/versions", ratelimit.Read},
		{"POST", "/api/v1/models/m/aliases/champion/rollback", ratelimit.Expensive},
		{"POST", "/api/v1/work-orders/replan", ratelimit.Expensive},
		{"POST", "/api/v1/reports", ratelimit.Expensive},
		{"GET", "/api/v1/reports", ratelimit.Read},
	}
	for _, tt := range tests {
		got = ""
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
		if got != tt.want {
			t.Errorf("%s %s: class %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	l := ratelimit.New(rdb, ratelimit.Options{Prefix: prefix, Limits: map[ratelimit.Class]ratelimit.Limit{
		ratelimit.Write:     {Rate: 2, Period: time.Minute, Burst: 2},
		ratelimit.Read:      {Rate: 100, Period: time.Second, Burst: 100},
		ratelimit.Expensive: {Rate: 1, Period: time.Minute, Burst: 1},
	}})
	s := newFullServer(t, nil, api.WithRateLimit(l))
	for i := range 2 {
		code, raw, hdr := s.send(t, "admin", "POST", "/api/v1/assets", fmt.Sprintf(`{"id":"a-%d","type":"pump"}`, i), nil)
		if code != 201 || hdr.Get("RateLimit-Limit") != "2" || hdr.Get("RateLimit-Remaining") != strconv.Itoa(1-i) || hdr.Get("RateLimit-Policy") != "2;w=60;burst=2" {
			t.Fatalf("write %d: %d %s, headers %v", i+1, code, raw, hdr)
		}
	}
	code, raw, hdr := s.send(t, "admin", "POST", "/api/v1/assets", `{"id":"a-3","type":"pump"}`, nil)
	retry, _ := strconv.Atoi(hdr.Get("Retry-After"))
	if code != 429 || jsonErrCode(raw) != "rate_limited" || retry < 1 || retry > 30 || hdr.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("third write within a minute = %d %s, Retry-After %q; want 429 with Retry-After ≤ 30", code, raw, hdr.Get("Retry-After"))
	}
	if !strings.Contains(string(raw), "2 requests per minute") {
		t.Errorf("429 body does not explain the limit: %s", raw)
	}
	if code, _, _ := s.send(t, "admin", "GET", "/api/v1/assets/a-3", "", nil); code != 404 {
		t.Errorf("the 429'd write happened anyway, or reads share the write budget: GET = %d", code)
	}
	// Other keys have their own budget; reads have their own class.
	if code, raw, _ := s.send(t, "rival", "POST", "/api/v1/assets", `{"id":"r-1","type":"pump"}`, nil); code != 201 {
		t.Errorf("another key = %d %s", code, raw)
	}
	if code, _, hdr := s.send(t, "admin", "GET", "/api/v1/assets", "", nil); code != 200 || hdr.Get("RateLimit-Limit") != "100" {
		t.Errorf("read = %d, RateLimit-Limit %q", code, hdr.Get("RateLimit-Limit"))
	}
	// Promotion is expensive: one a minute.
	s.send(t, "admin", "POST", "/api/v1/models/m/promote", `{"version":1,"alias":"champion"}`, nil)
	if code, raw, _ := s.send(t, "admin", "POST", "/api/v1/models/m/promote", `{"version":1,"alias":"champion"}`, nil); code != 429 {
		t.Errorf("second promotion within a minute = %d %s, want 429", code, raw)
	}
}

// deadRedis is a client of a port nobody listens on.
func deadRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRedisDown checks the documented behaviour without Redis: rate limits
// fail open, Idempotency-Key requests fail closed (503), the rest works.
func TestRedisDown(t *testing.T) {
	rdb := deadRedis(t)
	l := ratelimit.New(rdb, ratelimit.Options{Logger: slog.New(slog.DiscardHandler), Limits: map[ratelimit.Class]ratelimit.Limit{
		ratelimit.Write: {Rate: 1, Period: time.Hour, Burst: 1},
	}})
	s := newFullServer(t, nil, api.WithRateLimit(l), api.WithIdempotency(idempotency.New(rdb, idempotency.Options{})))
	for i := range 3 {
		code, raw, hdr := s.send(t, "admin", "POST", "/api/v1/assets", fmt.Sprintf(`{"id":"a-%d","type":"pump"}`, i), nil)
		if code != 201 || hdr.Get("RateLimit-Limit") != "" {
			t.Fatalf("write %d with Redis down = %d %s (RateLimit-Limit %q); want 201 without rate-limit headers", i+1, code, raw, hdr.Get("RateLimit-Limit"))
		}
	}
	code, raw, hdr := s.send(t, "admin", "POST", "/api/v1/assets", `{"id":"b","type":"pump"}`, map[string]string{"Idempotency-Key": "k1"})
	if code != 503 || hdr.Get("Retry-After") == "" {
		t.Errorf("Idempotency-Key with Redis down = %d %s, want 503 with Retry-After", code, raw)
	}
	if code, _, _ := s.send(t, "admin", "GET", "/api/v1/assets/b", "", nil); code != 404 {
		t.Errorf("the refused idempotent request was processed anyway: GET = %d", code)
	}
}

// testRoutes are handlers whose behaviour the idempotency tests control.
type testRoutes struct {
	calls   atomic.Int32
	release chan struct{} // /slow waits for it
	entered chan struct{}
	fail    atomic.Bool // /flaky answers 503 while set
}

func (h *testRoutes) Register(v1 *mux.Router) {
	v1.Handle("/test/slow", api.Require(apikey.ReadingsWrite, func(w http.ResponseWriter, r *http.Request) {
		h.calls.Add(1)
		h.entered <- struct{}{}
		<-h.release
		api.WriteJSON(w, http.StatusCreated, map[string]string{"done": "slow"})
	})).Methods(http.MethodPost)
	v1.Handle("/test/flaky", api.Require(apikey.ReadingsWrite, func(w http.ResponseWriter, r *http.Request) {
		n := h.calls.Add(1)
		if h.fail.Load() {
			api.WriteUnavailable(w, r, 1, "try again")
			return
		}
		api.WriteJSON(w, http.StatusCreated, map[string]int32{"call": n})
	})).Methods(http.MethodPost)
	v1.Handle("/test/big", api.Require(apikey.ReadingsWrite, func(w http.ResponseWriter, r *http.Request) {
		n := h.calls.Add(1)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, "%d %s", n, strings.Repeat("x", 2048))
	})).Methods(http.MethodPost)
}

func TestIdempotencyKey(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	s := newFullServer(t, nil, api.WithIdempotency(idempotency.New(rdb, idempotency.Options{Prefix: prefix})))
	s.seedMill(t)
	key := map[string]string{"Idempotency-Key": "create-pump-7"}

	code, first, hdr := s.send(t, "admin", "POST", "/api/v1/assets", `{"id":"pump-7","type":"pump"}`, key)
	if code != 201 || hdr.Get(api.IdempotentReplayedHeader) != "" {
		t.Fatalf("first = %d %s", code, first)
	}
	code, again, hdr2 := s.send(t, "admin", "POST", "/api/v1/assets", `{"id":"pump-7","type":"pump"}`, key)
	if code != 201 || !bytes.Equal(again, first) || hdr2.Get(api.IdempotentReplayedHeader) != "true" ||
		hdr2.Get("Location") != hdr.Get("Location") || hdr2.Get("Content-Type") != "application/json" {
		t.Errorf("repeat = %d %s %v; want the first 201 replayed", code, again, hdr2)
	}
	code, raw, _ := s.send(t, "admin", "POST", "/api/v1/assets", `{"id":"pump-8","type":"pump"}`, key)
	if code != 422 || jsonErrCode(raw) != "idempotency_key_reused" {
		t.Errorf("same key, other body = %d %s; want 422 idempotency_key_reused", code, raw)
	}
	// Without the header, a repeat is a new request (and conflicts).
	if code, _, _ := s.send(t, "admin", "POST", "/api/v1/assets", `{"id":"pump-7","type":"pump"}`, nil); code != 409 {
		t.Errorf("repeat without Idempotency-Key = %d, want 409", code)
	}
	// The same key in another tenant is another request.
	if code, raw, hdr := s.send(t, "rival", "POST", "/api/v1/assets", `{"id":"pump-7","type":"pump"}`, key); code != 201 || hdr.Get(api.IdempotentReplayedHeader) != "" {
		t.Errorf("rival with acme's key = %d %s", code, raw)
	}
	if code, raw, _ := s.send(t, "admin", "POST", "/api/v1/assets", `{}`, map[string]string{"Idempotency-Key": "bad key"}); code != 400 || jsonErrCode(raw) != "invalid_idempotency_key" {
		t.Errorf("malformed key = %d %s", code, raw)
	}

	// Ingest: a retried batch is stored once.
	ts := time.Now().UTC().Add(-time.Minute)
	batch := "[" + reading(ts, 41) + "," + reading(ts.Add(time.Second), 42) + "]"
	for i := range 3 {
		code, raw, hdr := s.send(t, "writer", "POST", "/api/v1/readings", batch, map[string]string{"Idempotency-Key": "batch-1"})
		if code != 201 || (i > 0) != (hdr.Get(api.IdempotentReplayedHeader) == "true") {
			t.Fatalf("ingest %d = %d %s %v", i+1, code, raw, hdr)
		}
	}
	if n, err := s.db.CountReadings(context.Background(), "acme"); err != nil || n != 2 {
		t.Errorf("stored %d readings (%v) after three tries of one batch of 2", n, err)
	}
}

func TestIdempotencyInFlightAndFailures(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	routes := &testRoutes{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	s := newFullServer(t, []api.Routes{routes}, api.WithIdempotency(idempotency.New(rdb, idempotency.Options{Prefix: prefix, MaxBodyBytes: 1024})))
	key := map[string]string{"Idempotency-Key": "slow-1"}

	var wg sync.WaitGroup
	wg.Add(1)
	var firstCode int
	go func() {
		defer wg.Done()
		firstCode, _, _ = s.send(t, "writer", "POST", "/api/v1/test/slow", `{}`, key)
	}()
	<-routes.entered
	code, raw, hdr := s.send(t, "writer", "POST", "/api/v1/test/slow", `{}`, key)
	if code != 409 || jsonErrCode(raw) != "idempotency_in_progress" || hdr.Get("Retry-After") == "" {
		t.Errorf("duplicate while in flight = %d %s, want 409 idempotency_in_progress with Retry-After", code, raw)
	}
	close(routes.release)
	wg.Wait()
	if firstCode != 201 {
		t.Fatalf("first = %d", firstCode)
	}
	if code, _, hdr := s.send(t, "writer", "POST", "/api/v1/test/slow", `{}`, key); code != 201 || hdr.Get(api.IdempotentReplayedHeader) != "true" || routes.calls.Load() != 1 {
		t.Errorf("after it finished = %d, replayed %q, handler ran %d times", code, hdr.Get(api.IdempotentReplayedHeader), routes.calls.Load())
	}

	// A 5xx is not stored: the retry runs the handler again.
	routes.calls.Store(0)
	routes.fail.Store(true)
	flaky := map[string]string{"Idempotency-Key": "flaky-1"}
	if code, _, _ := s.send(t, "writer", "POST", "/api/v1/test/flaky", `{}`, flaky); code != 503 {
		t.Fatalf("flaky = %d", code)
	}
	routes.fail.Store(false)
	code, raw, hdr = s.send(t, "writer", "POST", "/api/v1/test/flaky", `{}`, flaky)
	if code != 201 || hdr.Get(api.IdempotentReplayedHeader) != "" || routes.calls.Load() != 2 {
		t.Errorf("retry after a 503 = %d %s (replayed %q, calls %d); want a fresh 201", code, raw, hdr.Get(api.IdempotentReplayedHeader), routes.calls.Load())
	}
	if code, again, _ := s.send(t, "writer", "POST", "/api/v1/test/flaky", `{}`, flaky); code != 201 || !bytes.Equal(again, raw) {
		t.Errorf("then replay = %d %s, want %s", code, again, raw)
	}

	// A response over the store's cap is not kept: the key is released.
	routes.calls.Store(0)
	big := map[string]string{"Idempotency-Key": "big-1"}
	for i := range 2 {
		if code, raw, _ := s.send(t, "writer", "POST", "/api/v1/test/big", `{}`, big); code != 201 || !strings.HasPrefix(string(raw), strconv.Itoa(i+1)+" ") {
			t.Errorf("big %d = %d %.20s", i+1, code, raw)
		}
	}
}

// BenchmarkMiddleware measures the authenticated path of a minimal POST
// with and without the Redis rate limit, 32 concurrent callers per CPU, the
// handler itself doing nothing: the cost the middleware adds per request.
func BenchmarkMiddleware(b *testing.B) {
	db, _ := testenv.DB(b)
	log := slog.New(slog.DiscardHandler)
	testenv.Tenant(b, db, "acme")
	key, prefix, hash := apikey.Generate()
	if _, err := db.CreateAPIKey(context.Background(), "acme", "bench", prefix, hash, []apikey.Scope{apikey.ReadingsWrite}, nil); err != nil {
		b.Fatal(err)
	}
	rdb, rprefix := testenv.Redis(b)
	limiter := ratelimit.New(rdb, ratelimit.Options{Prefix: rprefix, Limits: map[ratelimit.Class]ratelimit.Limit{
		ratelimit.Ingest: {Rate: 1_000_000_000, Period: time.Second},
	}})
	noop := benchRoutes{}
	for _, bc := range []struct {
		name string
		opts []api.Option
	}{
		{"auth", nil},
		{"auth+ratelimit", []api.Option{api.WithRateLimit(limiter)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, []api.Routes{noop}, nil, bc.opts...)
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", "/api/v1/readings", strings.NewReader(`{}`))
					req.Header.Set("X-API-Key", key)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					if w.Code != 201 {
						b.Fatalf("status %d: %s", w.Code, w.Body)
					}
				}
			})
		})
	}
}

type benchRoutes struct{}

func (benchRoutes) Register(v1 *mux.Router) {
	v1.Handle("/readings", api.Require(apikey.ReadingsWrite, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})).Methods(http.MethodPost)
}
