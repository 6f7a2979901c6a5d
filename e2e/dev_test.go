package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/app"
	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/simulate"
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

	s, _ := startDev(t, cfg)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", cfg.TemporalUIPort))
	if err != nil {
		t.Fatalf("Temporal UI: %v", err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), "<html") {
		t.Errorf("Temporal UI answered %d: %.100s", resp.StatusCode, page)
	}

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

// TestDevFleets runs `smartmaint dev` with the simulated turbofan engines
// and bearing rig only, started close to their ends, and checks that the
// assets exist, the bootstrap binds their models, and that real
// degradation opens incidents: the bearing rig's from a bearing_health
// finding and, once the RUL model has been trained on the C-MAPSS training
// engines, an engine's from an RUL finding. The RUL model takes about 30 s
// to train on an idle 2-core machine and several times that on a loaded
// one; when it is not ready within the test's budget the RUL incident is
// left unchecked (logged), the rest still is.
func TestDevFleets(t *testing.T) {
	const budget = 85 * time.Second
	began := time.Now()
	cfg := devConfig(t)
	cfg.DevSimulate = true
	cfg.DevFleets = simulate.EngineFleet + "," + simulate.BearingFleet
	cfg.DevEngineUnits = []int{31, 34}
	cfg.DevEngineLead = 35 // engine-31's RUL lower bound falls under 30 about 28 cycles before its end
	cfg.DevBearingStart = 535
	s, _ := startDev(t, cfg)
	for _, c := range []struct{ asset, typ, sensor string }{
		{"engine-31", simulate.EngineType, "s4_drift"}, {"engine-34", simulate.EngineType, "age"}, {simulate.BearingRigID, simulate.BearingType, "b1_kurtosis"},
	} {
		eventually(t, 60*time.Second, c.asset+"'s sensor "+c.sensor, func() bool {
			code, out := s.call("dev", "GET", "/api/v1/assets/"+c.asset, nil)
			if code != 200 || out["type"] != c.typ {
				return false
			}
			code, _ = s.call("dev", "GET", "/api/v1/assets/"+c.asset+"/sensors/"+c.sensor, nil)
			return code == 200
		})
	}
	binding := func(typ string, kind modelkind.Kind, model string, threshold float64) func() bool {
		return func() bool {
			code, out := s.call("dev", "GET", "/api/v1/asset-types/"+typ+"/models/"+string(kind), nil)
			return code == 200 && out["model"] == model && out["threshold"] == threshold
		}
	}
	eventually(t, 30*time.Second, "the bearing-rig's bearing_health binding", binding(simulate.BearingType, modelkind.BearingHealth, app.DevBearingModel, 6))
	incidentBy := func(asset string, kind modelkind.Kind) func() bool {
		return func() bool {
			out := s.must(200, "dev", "GET", "/api/v1/incidents?asset="+asset, nil)
			items, _ := out["items"].([]any)
			for _, it := range items {
				inc := it.(map[string]any)
				if inc["asset_id"] != asset {
					continue
				}
				recent, _ := field(inc, "summary", "evidence", "recent").([]any)
				for _, r := range recent {
					if r.(map[string]any)["detector"] == string(kind) {
						return true
					}
				}
			}
			return false
		}
	}
	eventually(t, 45*time.Second, "an incident on the bearing rig from a bearing_health finding", incidentBy(simulate.BearingRigID, modelkind.BearingHealth))
	rulBound := binding(simulate.EngineType, modelkind.RUL, app.DevRULModel, 30)
	for !rulBound() {
		if time.Since(began) > budget {
			t.Logf("the RUL model is still training after %s; the RUL incident is not checked (see internal/simulate TestEnginesReachTheirEnd)", time.Since(began).Round(time.Second))
			return
		}
		time.Sleep(time.Second)
	}
	t.Logf("RUL model trained and bound %s after start", time.Since(began).Round(time.Second))
	eventually(t, 45*time.Second, "an incident on engine-31 from an RUL finding", incidentBy("engine-31", modelkind.RUL))
	t.Logf("RUL incident on engine-31 %s after start", time.Since(began).Round(time.Second))
}
