package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/modelkind/kindtest"
)

// TestRULForecastEndToEnd: a turbofan type bound to a C-MAPSS RUL model
// (kindtest.RUL, uploaded and promoted through the API) gets incidents
// from the model's findings, and the incident's forecast is the model's:
// method rul, the champion's name and version, its interval, and the work
// order's deadline and priority from the lower bound. Engine 21, never
// seen in training, reports its whole run to failure (195 cycles), one
// cycle a second, through POST /api/v1/readings.
func TestRULForecastEndToEnd(t *testing.T) {
	fix := kindtest.RUL(t)
	s := startStack(t, func(c *config.Config) { c.RateLimitWrite = "500/s:500" }) // a sensor per feature, 85 of them
	s.key("admin", "fleet", apikey.Admin)
	features := fix.Model.Meta.FeatureNames

	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "engine-21", "type": "turbofan", "metadata": map[string]any{"repair_minutes": 30}})
	for _, f := range features {
		s.must(201, "admin", "POST", "/api/v1/assets/engine-21/sensors", map[string]any{"id": f, "unit": "1"})
	}
	allDay := [][]string{{"00:00", "24:00"}}
	week := map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}
	s.must(201, "admin", "POST", "/api/v1/technicians", map[string]any{"name": "Ada", "time_zone": "UTC", "shifts": week})
	s.must(200, "admin", "PUT", "/api/v1/incident-policy", map[string]any{
		"collect_window": "1s", "reject_below": 0.05, "auto_approve_at": 0.1, "approval_timeout": "1h",
		"escalation_stages": 1, "timeout_decision": "approve", "clear_after": "15m", "persistence_readings": 3,
	})

	file, err := modelfile.Marshal(fix.Model)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", s.baseURL+"/api/v1/models/rul-turbofan/versions", bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-API-Key", s.keys["admin"])
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("upload: %d", resp.StatusCode)
	}
	s.must(200, "admin", "POST", "/api/v1/models/rul-turbofan/promote", map[string]any{"version": 1, "reason": "e2e"})
	s.must(200, "admin", "PUT", "/api/v1/asset-types/turbofan/models/"+string(modelkind.RUL), map[string]any{"model": "rul-turbofan", "threshold": 30})
	time.Sleep(500 * time.Millisecond) // the API's model loader hears of the promotion

	cycles := fix.Cycles
	now := time.Now().UTC().Add(-time.Second)
	for from := 0; from < len(cycles); from += 50 {
		var batch []map[string]any
		for i := from; i < min(from+50, len(cycles)); i++ {
			ts := now.Add(-time.Duration(len(cycles)-1-i) * time.Second)
			for j, f := range features {
				batch = append(batch, map[string]any{"asset_id": "engine-21", "sensor_id": f, "ts": ts, "value": cycles[i][j]})
			}
		}
		s.must(201, "admin", "POST", "/api/v1/readings", batch)
	}

	var inc map[string]any
	eventually(t, 60*time.Second, "a scheduled incident on engine-21", func() bool {
		out := s.must(200, "admin", "GET", "/api/v1/incidents?status=scheduled", nil)
		items, _ := out["items"].([]any)
		if len(items) != 1 {
			return false
		}
		inc = s.must(200, "admin", "GET", "/api/v1/incidents/"+items[0].(map[string]any)["id"].(string), nil)
		return true
	})
	f, _ := field(inc, "state", "forecast").(map[string]any)
	t.Logf("forecast: %v", f["detail"])
	if f["method"] != incident.ForecastRUL || f["model"] != "rul-turbofan" || f["model_version"] != 1.0 || f["fallback"] != nil {
		t.Fatalf("forecast %v: want the bound RUL model's", f)
	}
	est, _ := f["estimate"].(map[string]any)
	if est["unit"] != incident.UnitCycles || est["per"] != "1s" {
		t.Errorf("estimate %v: want cycles of one second (the age feature's readings)", est)
	}
	list := s.must(200, "admin", "GET", "/api/v1/work-orders?asset=engine-21", nil)
	items, _ := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("work orders: %v", list)
	}
	wo := items[0].(map[string]any)
	desc, _ := wo["description"].(string)
	due, _ := time.Parse(time.RFC3339Nano, wo["deadline"].(string))
	want, _ := time.Parse(time.RFC3339Nano, f["deadline"].(string))
	if wo["priority"] != f["priority"] || due.Sub(want).Abs() > time.Millisecond || !strings.Contains(desc, "Forecast (method rul, model rul-turbofan v1") ||
		!strings.Contains(desc, "interval [") || !strings.Contains(wo["title"].(string), "rul-turbofan v1") {
		t.Errorf("work order %v; forecast deadline %v, priority %v", wo, f["deadline"], f["priority"])
	}
	// Engine 21 is cycles from its failure: no life is left at the lower
	// bound, so an hour of lead, the least the rule gives, and critical.
	if lead := want.Sub(now); f["priority"] != "critical" || lead < 55*time.Minute || lead > 65*time.Minute {
		t.Errorf("forecast deadline in %s, priority %v; want about an hour, critical", lead, f["priority"])
	}
}
