// Package e2e runs smartmaint end to end on real servers: the API and the
// worker as fx applications in this process, a real Temporal server (the
// embedded dev server), a throwaway PostgreSQL database, the local Redis,
// and local receivers for email (SMTP), webhooks and Slack.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"reflect"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/app"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/replay"
	"github.com/smartmaint/smartmaint/internal/requestid"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/temporaltest"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// stack is a running smartmaint.
type stack struct {
	t        *testing.T
	cfg      config.Config
	baseURL  string
	adminURL string // the admin listener: /metrics
	db       *store.DB
	temporal client.Client
	keys     map[string]string
}

// defaults returns Config with every variable at its default.
func defaults(t *testing.T) config.Config {
	t.Helper()
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		if name := typ.Field(i).Tag.Get("env"); name != "" {
			t.Setenv(name, typ.Field(i).Tag.Get("envDefault"))
		}
	}
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.TemporalDBFile = "memory" // a test that restarts sets a file of its own
	// The dev mail sink and webhook receiver on free ports, kept in the test's folder.
	cfg.DevSMTPAddr, cfg.DevSinkAddr, cfg.DevSinkDir = "127.0.0.1:0", "127.0.0.1:0", t.TempDir()
	cfg.AdminAddr = "127.0.0.1:0" // startStack picks a port it knows
	return cfg
}

// startStack runs the API and the worker on a fresh database, its own
// Temporal namespace and task queue and a free port; change adjusts the
// config first.
func startStack(t *testing.T, change func(*config.Config)) *stack {
	t.Helper()
	srv := temporaltest.Server(t)
	cfg := defaults(t)
	cfg.DatabaseURL = testenv.DatabaseURL(t)
	cfg.RedisURL = testenv.RedisURL()
	cfg.TemporalAddress = srv.Address()
	cfg.TemporalNamespace = temporaltest.Namespace(t)
	cfg.TemporalTaskQueue = "e2e-" + requestid.New()[:10]
	cfg.ModelDir = t.TempDir()
	cfg.LogLevel = "warn"
	port, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if port, err = devserver.FreePort("127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	cfg.AdminAddr = fmt.Sprintf("127.0.0.1:%d", port)
	if change != nil {
		change(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := app.Migrate(ctx, cfg, app.NewLogger(cfg)); err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, cfg: cfg, baseURL: "http://" + cfg.HTTPAddr, adminURL: "http://" + cfg.AdminAddr, keys: map[string]string{}}
	a := fx.New(
		app.Core(cfg), app.WithoutMigrations(), app.API(), app.Worker(),
		fx.Populate(&s.db, &s.temporal),
		fx.NopLogger,
	)
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start smartmaint: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Logf("stop smartmaint: %v", err)
		}
	})
	temporaltest.TerminateOnCleanup(t, s.temporal, cfg.TemporalTaskQueue)
	return s
}

// key creates an API key for tenant with scopes and remembers it by name.
func (s *stack) key(name, tenant string, scopes ...apikey.Scope) {
	s.t.Helper()
	if err := s.db.EnsureTenant(context.Background(), tenant, tenant); err != nil {
		s.t.Fatal(err)
	}
	key, prefix, hash := apikey.Generate()
	if _, err := s.db.CreateAPIKey(context.Background(), tenant, name, prefix, hash, scopes, nil); err != nil {
		s.t.Fatal(err)
	}
	s.keys[name] = key
}

// call sends a JSON request as the named key and decodes the answer.
func (s *stack) call(key, method, path string, body any) (int, map[string]any) {
	s.t.Helper()
	code, out, err := s.callQuietly(key, method, path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	return code, out
}

// callQuietly is call returning its errors, for goroutines other than the
// test's.
func (s *stack) callQuietly(key, method, path string, body any) (int, map[string]any, error) {
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.baseURL+path, r)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-API-Key", s.keys[key])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out, nil
}

// must is call that fails the test unless the status is want.
func (s *stack) must(want int, key, method, path string, body any) map[string]any {
	s.t.Helper()
	code, out := s.call(key, method, path, body)
	if code != want {
		s.t.Fatalf("%s %s = %d %v, want %d", method, path, code, out, want)
	}
	return out
}

// webhookChannel starts a receiver checking secret and makes it, as key,
// the webhook channel name; minSeverity, when not empty, is the channel's.
func (s *stack) webhookChannel(key, name, secret, minSeverity string) *receiver {
	s.t.Helper()
	rc := newReceiver(s.t, secret)
	ch := map[string]any{"name": name, "kind": "webhook", "target": rc.URL, "secret": secret}
	if minSeverity != "" {
		ch["min_severity"] = minSeverity
	}
	s.must(201, key, "POST", "/api/v1/notification-channels", ch)
	return rc
}

// press creates, as key, the press id with the sensors temp (C, 0 to 200)
// and flow (l/min, 0 to 100).
func (s *stack) press(key, id string) {
	s.t.Helper()
	s.must(201, key, "POST", "/api/v1/assets", map[string]any{"id": id, "type": "press"})
	s.must(201, key, "POST", "/api/v1/assets/"+id+"/sensors", map[string]any{"id": "temp", "unit": "C", "min_valid": 0, "max_valid": 200})
	s.must(201, key, "POST", "/api/v1/assets/"+id+"/sensors", map[string]any{"id": "flow", "unit": "l/min", "min_valid": 0, "max_valid": 100})
}

// eventually polls f until it returns true or the timeout passes.
// series is n readings of asset's sensor, step apart from start, the i-th
// of value(i), as POST /api/v1/readings takes them.
func series(asset, sensor string, start time.Time, step time.Duration, n int, value func(i int) any) []map[string]any {
	var readings []map[string]any
	for i := range n {
		readings = append(readings, map[string]any{"asset_id": asset, "sensor_id": sensor, "ts": start.Add(time.Duration(i) * step), "value": value(i)})
	}
	return readings
}

// awaitingApproval waits, asking as key, for the one incident awaiting
// approval and returns its id.
func (s *stack) awaitingApproval(key string) string {
	s.t.Helper()
	var id string
	eventually(s.t, 30*time.Second, "an incident awaiting approval", func() bool {
		out := s.must(200, key, "GET", "/api/v1/incidents?status=awaiting_approval", nil)
		if items, _ := out["items"].([]any); len(items) == 1 {
			id = items[0].(map[string]any)["id"].(string)
		}
		return id != ""
	})
	return id
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// recordHistories exports the stack's runs that query matches into the
// folder RECORD_HISTORIES names, with the file prefix RECORD_PREFIX, when
// it is set: how the replay test's histories are recorded from the
// end-to-end tests (workflows/testdata/histories, docs/DEVELOPMENT.md).
func (s *stack) recordHistories(query string) {
	dir := os.Getenv("RECORD_HISTORIES")
	if dir == "" {
		return
	}
	files, err := replay.Export(context.Background(), s.temporal, dir, replay.Options{Query: query, Prefix: os.Getenv("RECORD_PREFIX")})
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Logf("recorded %v", files)
}
