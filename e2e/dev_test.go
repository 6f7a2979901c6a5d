package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/internal/app"
	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/store"
)

// TestDevStack runs what `make run` runs — `smartmaint dev` with its own
// Temporal server and Web UI, an in-process Redis, a database it creates,
// the API, the worker and the simulator — on free ports, and checks the
// promises of the README: the UI answers, curl-style ingest is visible
// through the query endpoint, the simulator's readings arrive, and the demo
// crew gets its first preventive work order.
func TestDevStack(t *testing.T) {
	// A database that does not exist yet: dev mode creates it.
	cfg := devConfig(t)
	p, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TemporalUIPort = p
	cfg.DevSimulate = true

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var db *store.DB
	a := fx.New(app.Core(cfg), app.Dev(), app.API(), app.Worker(), app.DevSimulator(), fx.Populate(&db), fx.NopLogger)
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start dev stack: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}()

	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", cfg.TemporalUIPort))
	if err != nil {
		t.Fatalf("Temporal UI: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Errorf("Temporal UI answered %d: %.100s", resp.StatusCode, page)
	}

	s := &stack{t: t, cfg: cfg, baseURL: "http://" + cfg.HTTPAddr, db: db, keys: map[string]string{"dev": cfg.DevAPIKey}}
	s.must(200, "", "GET", "/health/ready", nil)
	s.must(201, "dev", "POST", "/api/v1/assets", map[string]any{"id": "press-1", "type": "press"})
	s.must(201, "dev", "POST", "/api/v1/assets/press-1/sensors", map[string]any{"id": "oil_temp", "unit": "K", "min_valid": 200, "max_valid": 500})
	ts := time.Now().UTC().Add(-time.Second).Truncate(time.Millisecond)
	s.must(201, "dev", "POST", "/api/v1/readings", map[string]any{"asset_id": "press-1", "sensor_id": "oil_temp", "ts": ts, "value": 331.5})
	out := s.must(200, "dev", "GET", "/api/v1/assets/press-1/readings?sensor=oil_temp", nil)
	points, _ := field(out, "series").([]any)
	if len(points) != 1 || fmt.Sprint(field(points[0].(map[string]any), "points")) != fmt.Sprintf("[map[ts:%s value:331.5]]", ts.Format(time.RFC3339Nano)) {
		t.Errorf("query after ingest: %v", out)
	}

	eventually(t, 60*time.Second, "the simulator's readings of mill-01", func() bool {
		code, out := s.call("dev", "GET", "/api/v1/assets/mill-01/readings?sensor=torque", nil)
		if code != 200 {
			return false
		}
		series, _ := out["series"].([]any)
		if len(series) != 1 {
			return false
		}
		pts, _ := field(series[0].(map[string]any), "points").([]any)
		return len(pts) >= 3
	})
	// The demo crew is registered and mill-01's lubrication, due within the
	// lead time, is booked on one of them at once.
	eventually(t, 30*time.Second, "mill-01's preventive work order", func() bool {
		out := s.must(200, "dev", "GET", "/api/v1/work-orders?asset=mill-01", nil)
		items, _ := out["items"].([]any)
		for _, it := range items {
			wo := it.(map[string]any)
			if wo["preventive_schedule_id"] != nil && wo["technician_id"] != nil && wo["title"] == "Spindle lubrication" {
				return true
			}
		}
		return false
	})
}
