package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/mlops/mlopstest"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/simulate"
)

// rulTestUnit is the C-MAPSS FD001 test engine replayed live: 156 cycles
// recorded, 10 left at its last (RUL_FD001.txt).
const rulTestUnit = 42

// TestRULTrainedEndToEnd is issue 14's chain for a fresh tenant that is
// not the demo tenant (plant-11): the edge features of the 20 shortest
// C-MAPSS FD001 training engines (simulate.EngineFeatures, one cycle a
// second, hours ago) posted through POST /api/v1/readings, each engine's
// last cycle a confirmed failure → the TrainModel workflow trains kind rul
// → version 1, the champion → bound to turbofan-engine as rul → a test
// engine never trained on reports its cycles live → RUL findings → an
// incident whose forecast is the trained model's (method rul, v1, an
// interval) → a work order whose deadline is the forecast's, planned
// against the interval's lower bound.
func TestRULTrainedEndToEnd(t *testing.T) {
	s := startStack(t, func(c *config.Config) { c.RateLimitWrite = "500/s:500" })
	const tenant, assetType, model = "plant-11", simulate.EngineType, "rul-" + simulate.EngineType
	s.key("plant", tenant, apikey.Admin)
	start := time.Now().UTC().Add(-6 * time.Hour).Truncate(time.Second)
	h := mlopstest.CMAPSS(t, 20, start, time.Second)
	h.CreateAssets(t, s.db, tenant, assetType)
	ids := h.SensorIDs()
	var batch []map[string]any
	for i, r := range h.Records {
		for _, id := range ids {
			batch = append(batch, map[string]any{"asset_id": r.Asset, "sensor_id": id, "ts": r.TS, "value": r.Values[id]})
		}
		if len(batch) >= 50*len(ids) || i == len(h.Records)-1 {
			s.must(201, "plant", "POST", "/api/v1/readings", batch)
			batch = nil
		}
	}
	want := len(h.Records) * len(ids)
	eventually(t, time.Minute, fmt.Sprintf("the %d readings stored", want), func() bool {
		var n int
		if err := s.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM readings r JOIN sensors s ON s.key = r.sensor_key WHERE s.tenant_id = $1`, tenant).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == want
	})
	h.ConfirmFailures(t, s.db, tenant)

	// Few trees: the chain, not the model's quality, is under test here
	// (activities' TestTrainModelRUL and docs/BENCHMARKS.md have figures).
	body := map[string]any{"kind": string(modelkind.RUL), "asset_type": assetType, "alias": "champion",
		"from": start.Format(time.RFC3339), "to": h.End().Format(time.RFC3339), "params": map[string]any{"max_iter": 40, "learning_rate": 0.15}}
	started := s.must(202, "plant", "POST", "/api/v1/models/"+model+"/training", body)
	loc, _ := started["location"].(string)
	if id, _ := started["training_id"].(string); id == "" || loc != "/api/v1/models/"+model+"/training/"+url.PathEscape(id) {
		t.Fatalf("POST training: %v", started)
	}
	var got map[string]any
	eventually(t, 2*time.Minute, "the training to end", func() bool {
		got = s.must(200, "plant", "GET", loc, nil)
		return got["status"] != "running"
	})
	metrics, _ := field(got, "result", "metrics").(map[string]any)
	t.Logf("rul model: v%v, %v readings, metrics %v, %vs", field(got, "result", "version"), field(got, "result", "readings"), metrics, field(got, "result", "seconds"))
	if got["status"] != "completed" || field(got, "result", "version") != 1.0 || field(got, "result", "alias") != "champion" ||
		field(got, "result", "train_runs") != 16.0 || field(got, "result", "holdout_runs") != 4.0 {
		t.Fatalf("training: %v", got)
	}
	if rmse, _ := metrics["rmse"].(float64); rmse <= 0 || rmse > 30 {
		t.Errorf("holdout metrics %v", metrics)
	}
	versions := s.must(200, "plant", "GET", "/api/v1/models/"+model+"/versions", nil)
	if field(versions, "model", "aliases", "champion") != 1.0 {
		t.Fatalf("versions: %v", versions)
	}

	// A bad upload is refused with a clear 4xx, and nothing is stored.
	other := sha256.Sum256([]byte("another body"))
	for _, bad := range []struct {
		what, digest, code string
		body               []byte
	}{
		{"not a model file", "", "invalid_model_file", []byte("not a model file\n")},
		{"a checksum that does not match", "sha-256=:" + base64.StdEncoding.EncodeToString(other[:]) + ":", "checksum_mismatch", []byte("{}")},
	} {
		status, out := s.uploadRaw("plant", model, bad.body, bad.digest)
		if status != http.StatusBadRequest || field(out, "error", "code") != bad.code {
			t.Errorf("upload of %s: %d %v, want 400 %s", bad.what, status, out, bad.code)
		}
	}
	if after := s.must(200, "plant", "GET", "/api/v1/models/"+model+"/versions", nil); len(after["items"].([]any)) != len(versions["items"].([]any)) {
		t.Errorf("refused uploads stored a version: %v", after["items"])
	}

	// The live engine, its sensors as the simulator registers them.
	live := fmt.Sprintf("engine-t%03d", rulTestUnit)
	s.must(201, "plant", "POST", "/api/v1/assets", map[string]any{"id": live, "type": assetType, "metadata": map[string]any{"repair_minutes": 30}})
	for _, spec := range simulate.EngineSensors() {
		s.must(201, "plant", "POST", "/api/v1/assets/"+live+"/sensors", map[string]any{"id": spec.ID, "kind": spec.Kind, "unit": spec.Unit})
	}
	allDay := [][]string{{"00:00", "24:00"}}
	week := map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}
	s.must(201, "plant", "POST", "/api/v1/technicians", map[string]any{"name": "Ada", "time_zone": "UTC", "shifts": week})
	s.must(200, "plant", "PUT", "/api/v1/incident-policy", map[string]any{
		"collect_window": "1s", "reject_below": 0.05, "auto_approve_at": 0.1, "approval_timeout": "1h",
		"escalation_stages": 1, "timeout_decision": "approve", "clear_after": "15m", "persistence_readings": 3,
	})
	s.must(200, "plant", "PUT", "/api/v1/asset-types/"+assetType+"/models/"+string(modelkind.RUL), map[string]any{"model": model, "threshold": 30})
	time.Sleep(500 * time.Millisecond) // the API's model loader hears of the binding

	f, err := rul.FD001()
	if err != nil {
		t.Fatal(err)
	}
	tests, err := dataset.LoadCMAPSSEngines(f.Test)
	if err != nil {
		t.Fatal(err)
	}
	var cycles [][]float64
	for _, e := range tests {
		if e.Unit == rulTestUnit {
			if cycles, err = simulate.EngineFeatures(e, rul.DefaultConfig()); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(cycles) == 0 {
		t.Fatalf("no test engine %d", rulTestUnit)
	}
	now := time.Now().UTC().Add(-time.Second)
	for from := 0; from < len(cycles); from += 50 {
		var batch []map[string]any
		for i := from; i < min(from+50, len(cycles)); i++ {
			ts := now.Add(-time.Duration(len(cycles)-1-i) * time.Second)
			for j, id := range ids {
				batch = append(batch, map[string]any{"asset_id": live, "sensor_id": id, "ts": ts, "value": cycles[i][j]})
			}
		}
		s.must(201, "plant", "POST", "/api/v1/readings", batch)
	}

	var inc map[string]any
	eventually(t, 60*time.Second, "a scheduled incident on "+live, func() bool {
		for _, status := range []string{string(incident.StatusAwaiting), string(incident.StatusScheduled)} {
			out := s.must(200, "plant", "GET", "/api/v1/incidents?status="+status, nil)
			items, _ := out["items"].([]any)
			for _, it := range items {
				if m := it.(map[string]any); m["asset_id"] == live {
					if status != string(incident.StatusScheduled) {
						s.must(200, "plant", "POST", "/api/v1/incidents/"+m["id"].(string)+"/decision", map[string]any{"action": "approve", "user": "e2e"})
						return false
					}
					inc = s.must(200, "plant", "GET", "/api/v1/incidents/"+m["id"].(string), nil)
					return true
				}
			}
		}
		return false
	})
	fc, _ := field(inc, "state", "forecast").(map[string]any)
	t.Logf("forecast: %v", fc["detail"])
	est, _ := fc["estimate"].(map[string]any)
	lower, _ := est["lower"].(float64)
	value, _ := est["value"].(float64)
	upper, _ := est["upper"].(float64)
	if fc["method"] != incident.ForecastRUL || fc["model"] != model || fc["model_version"] != 1.0 || fc["fallback"] != nil ||
		est["unit"] != incident.UnitCycles || est["per"] != "1s" || !(lower <= value && value <= upper && upper > lower) || lower >= 30 {
		t.Fatalf("forecast %v: want the trained v1's, an interval of cycles of one second, its lower bound under the threshold", fc)
	}
	list := s.must(200, "plant", "GET", "/api/v1/work-orders?asset="+live, nil)
	items, _ := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("work orders: %v", list)
	}
	wo := items[0].(map[string]any)
	due, _ := time.Parse(time.RFC3339Nano, wo["deadline"].(string))
	deadline, _ := time.Parse(time.RFC3339Nano, fc["deadline"].(string))
	desc, _ := wo["description"].(string)
	if due.Sub(deadline).Abs() > time.Millisecond || wo["priority"] != fc["priority"] || !strings.Contains(desc, "Forecast (method rul, model "+model+" v1") {
		t.Errorf("work order %v; forecast deadline %v, priority %v", wo, fc["deadline"], fc["priority"])
	}
	// The forecast activity plans against the lower bound: the lead is a
	// fifth short of lower × per, at least an hour (and the repair's 30
	// minutes), at most the severity's response time (4 h or more). The
	// lower bound is under 30 one-second cycles, so the lead is the hour.
	earliest, _ := time.ParseDuration(fmt.Sprint(fc["earliest"]))
	if earliest.Round(time.Millisecond) != (time.Duration(lower * float64(time.Second))).Round(time.Millisecond) {
		t.Errorf("earliest %v for a lower bound of %v one-second cycles", fc["earliest"], lower)
	}
	if lead := deadline.Sub(now); lead < max(earliest*4/5, time.Hour)-5*time.Minute || lead > max(earliest*4/5, time.Hour)+5*time.Minute {
		t.Errorf("forecast deadline in %s; want max(%s × 4/5, 1h)", lead, earliest)
	}
}

// uploadRaw posts body as a model file of name with the given
// Content-Digest (none when empty) and answers the status and JSON body.
func (s *stack) uploadRaw(key, name string, body []byte, digest string) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.baseURL+"/api/v1/models/"+name+"/versions", bytes.NewReader(body))
	req.Header.Set("X-API-Key", s.keys[key])
	req.Header.Set("Content-Type", "application/octet-stream")
	if digest != "" {
		req.Header.Set("Content-Digest", digest)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
