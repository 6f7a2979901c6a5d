package e2e

import (
	"context"
	"fmt"
	"image/png"
	"math"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
)

// TestBacktestEndToEnd: two days of stored readings of press-1 with a
// clear step in temp a day in, and a model version registered (not
// promoted); a backtest started over the API runs as a workflow on the
// real Temporal server and its report puts the first alarm at the step,
// the lead time before the given failure, and the model's findings in;
// the chart is a PNG. Bad requests answer 4xx JSON errors; a read-only
// key cannot start one and another tenant cannot see it.
func TestBacktestEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	s.key("admin", "acme", apikey.Admin)
	s.key("modeler", "acme", apikey.ModelsWrite, apikey.ReadingsRead)
	s.key("reader", "acme", apikey.ReadingsRead)
	s.key("rival", "rival", apikey.Admin)
	ctx := context.Background()

	s.press("admin", "press-1")
	temp, err := s.db.GetSensor(ctx, "acme", "press-1", "temp")
	if err != nil {
		t.Fatal(err)
	}
	flow, err := s.db.GetSensor(ctx, "acme", "press-1", "flow")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Now().UTC().Truncate(time.Hour).Add(-72 * time.Hour)
	to, step := from.Add(48*time.Hour), from.Add(24*time.Hour)
	rng := rand.New(rand.NewPCG(5, 6))
	var rows []store.Reading
	var calm [][]float64
	for ts := from; ts.Before(to); ts = ts.Add(time.Minute) {
		v, f := 50+rng.NormFloat64()*0.5, 10+rng.NormFloat64()*0.2
		if !ts.Before(step) {
			v += 30
		} else {
			calm = append(calm, []float64{v, f})
		}
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: temp.Key, TS: ts, Value: v},
			store.Reading{TenantID: "acme", SensorKey: flow.Key, TS: ts.Add(10 * time.Second), Value: f})
	}
	if err := s.db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
	// iforest-press v1, in the stack's registry (its model folder).
	forest, err := iforest.Train(calm, iforest.Params{Trees: 50, Contamination: 0.01, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	file, err := modelfile.Marshal(modelfile.Model{Meta: modelfile.Metadata{FeatureNames: []string{"temp", "flow"}, Threshold: forest.Threshold()}, Scorer: forest})
	if err != nil {
		t.Fatal(err)
	}
	folder, err := artifact.NewFolder(s.cfg.ModelDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := registry.New(s.db, folder, registry.Options{}).Create(ctx, "acme",
		registry.NewVersion{Name: "iforest-press", Kind: "iforest", Features: []string{"temp", "flow"}, CreatedBy: "e2e"}, file); err != nil {
		t.Fatal(err)
	}

	failure := step.Add(20 * time.Hour)
	body := map[string]any{"asset_id": "press-1", "from": from, "to": to, "model": "iforest-press", "version": 1, "failure_at": failure}

	// Bad requests.
	with := func(k string, v any) map[string]any {
		b := map[string]any{}
		for k, v := range body {
			b[k] = v
		}
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	for _, tc := range []struct {
		key    string
		body   any
		status int
		code   string
	}{
		{"modeler", with("from", to), 422, "invalid_backtest"},
		{"modeler", with("from", to.Add(-91*24*time.Hour)), 422, "invalid_backtest"},
		{"modeler", with("asset_id", nil), 422, "invalid_backtest"},
		{"modeler", with("asset_id", "press-9"), 422, "unknown_asset"},
		{"modeler", with("sensors", []string{"temp", "speed"}), 422, "unknown_sensors"},
		{"modeler", with("model", "iforest-nope"), 422, "unknown_model"},
		{"modeler", with("version", 2), 422, "unknown_version"},
		{"modeler", with("version", nil), 422, "no_champion"},
		{"modeler", with("colour", "red"), 400, ""},
		{"reader", body, 403, "forbidden"},
	} {
		code, out := s.call(tc.key, "POST", "/api/v1/backtests", tc.body)
		if code != tc.status || (tc.code != "" && field(out, "error", "code") != tc.code) {
			t.Errorf("POST %v as %s = %d %v, want %d %s", tc.body, tc.key, code, out, tc.status, tc.code)
		}
	}

	started := s.must(202, "modeler", "POST", "/api/v1/backtests", body)
	id, _ := field(started, "backtest", "id").(string)
	if id == "" || field(started, "backtest", "status") != "running" {
		t.Fatalf("started = %v", started)
	}
	var got map[string]any
	eventually(t, 2*time.Minute, "the backtest to finish", func() bool {
		got = s.must(200, "reader", "GET", "/api/v1/backtests/"+id, nil)
		return field(got, "backtest", "status") != "running"
	})
	if field(got, "backtest", "status") != "done" {
		t.Fatalf("backtest = %v", got)
	}
	rep, _ := field(got, "backtest", "report").(map[string]any)
	if rep["readings"] != float64(len(rows)) || field(got, "backtest", "progress", "done") != float64(len(rows)) {
		t.Errorf("readings %v, progress %v, want %d", rep["readings"], field(got, "backtest", "progress"), len(rows))
	}
	wantRaised := step.Add(2 * time.Minute)
	if field(rep, "first_alarm", "start") != step.Format(time.RFC3339) || field(rep, "first_alarm", "raised_at") != wantRaised.Format(time.RFC3339) ||
		field(rep, "first_alarm", "sensor_id") != "temp" {
		t.Errorf("first alarm = %v, want temp from %s raised at %s", rep["first_alarm"], step, wantRaised)
	}
	if lead, _ := rep["lead_time_hours"].(float64); rep["caught"] != true || math.Abs(lead-failure.Sub(wantRaised).Hours()) > 1e-9 {
		t.Errorf("caught %v, lead time %v, want %v", rep["caught"], rep["lead_time_hours"], failure.Sub(wantRaised).Hours())
	}
	if field(rep, "model", "name") != "iforest-press" || field(rep, "model", "version") != float64(1) || field(rep, "anomalies_by_detector", "model") == nil {
		t.Errorf("model %v, by detector %v", rep["model"], rep["anomalies_by_detector"])
	}

	// The chart.
	link, _ := field(got, "links", "charts", "backtest-press-1-anomalies").(string)
	if link == "" {
		t.Fatalf("links = %v", got["links"])
	}
	req, _ := http.NewRequest("GET", s.baseURL+link, nil)
	req.Header.Set("X-API-Key", s.keys["reader"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("chart = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, err := png.Decode(resp.Body); err != nil {
		t.Fatal(err)
	}

	// Another tenant, and ids that do not exist.
	s.must(404, "rival", "GET", "/api/v1/backtests/"+id, nil)
	s.must(404, "reader", "GET", "/api/v1/backtests/"+fmt.Sprint("00000000-0000-4000-8000-000000000000"), nil)
	s.must(404, "reader", "GET", "/api/v1/backtests/not-an-id", nil)
	s.must(404, "reader", "GET", "/api/v1/backtests/"+id+"/charts/nope.png", nil)
}
