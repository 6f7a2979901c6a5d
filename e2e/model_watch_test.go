package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/workflows"
)

// TestPromotedModelRolledBackEndToEnd: tenant plant-9 (not the demo
// tenant) has an Isolation Forest champion for its presses; a challenger
// whose threshold flags every snapshot is promoted over the API, which
// starts the model's watch on the real Temporal server. Readings keep
// arriving through the ingest API; the challenger's live alarm rate is far
// above the band the model's policy sets, so within seconds the watch
// rolls the champion back to v1 on its own: the alias history records
// "automatic rollback: …", the webhook channel gets the notice once, the
// watch workflow ends rolled_back, /metrics counts the rollback, and the
// ingest path scores with v1 again.
func TestPromotedModelRolledBackEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	s.key("admin", "plant-9", apikey.Admin)
	const secret = "s3cret-for-the-watch"
	webhook := s.webhookChannel("admin", "ml ops", secret, "")

	const model = "iforest-press"
	presses := []string{"press-1", "press-2"}
	for _, id := range presses {
		s.press("admin", id)
	}
	rng := rand.New(rand.NewPCG(9, 14))
	normal := func() (float64, float64) { return 50 + rng.NormFloat64()*0.5, 10 + rng.NormFloat64()*0.2 }
	var calm [][]float64
	for range 2000 {
		v, f := normal()
		calm = append(calm, []float64{v, f})
	}
	forest, err := iforest.Train(calm, iforest.Params{Trees: 50, Contamination: 0.01, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	features := []string{"temp", "flow"}
	// v1, the champion: its own threshold. v2: the same forest with a
	// threshold every snapshot reaches — a promotion gone wrong.
	s.upload(model, "champion", modelfile.Model{Meta: modelfile.Metadata{FeatureNames: features, Threshold: forest.Threshold()}, Scorer: forest})
	s.upload(model, "", modelfile.Model{Meta: modelfile.Metadata{FeatureNames: features, Threshold: 0.01}, Scorer: forest})

	// The watch: at most 60 alarms per hour per press, checked every
	// second, rolled back after 3 seconds out of band.
	policy := s.must(200, "admin", "PUT", "/api/v1/models/"+model+"/policy", map[string]any{
		"watch_band": []float64{0, 60}, "watch_every": "1s", "watch_for": "3s", "watch_duration": "5m",
	})
	if w, _ := policy["watch"].(map[string]any); w["every"] != "1s" || w["enabled"] != true {
		t.Fatalf("policy %v", policy)
	}

	// Readings: every press, both sensors, every 100 ms, until the test ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	posted := make(chan struct{})
	go func() {
		defer close(posted)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for ctx.Err() == nil {
			now := time.Now().UTC()
			var rs []map[string]any
			for _, id := range presses {
				v, f := normal()
				rs = append(rs, map[string]any{"asset_id": id, "sensor_id": "temp", "ts": now, "value": v},
					map[string]any{"asset_id": id, "sensor_id": "flow", "ts": now, "value": f})
			}
			s.postQuietly("admin", "/api/v1/readings", rs)
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}()
	defer func() { cancel(); <-posted }()
	time.Sleep(time.Second) // v1 serves a while first

	promotion := s.must(200, "admin", "POST", "/api/v1/models/"+model+"/promote", map[string]any{"version": 2, "reason": "retrained by hand"})
	if promotion["to_version"] != 2.0 || promotion["from_version"] != 1.0 || promotion["watch"] != workflows.ModelWatchWorkflowID("plant-9", model) {
		t.Fatalf("promotion %v", promotion)
	}
	promotedAt := time.Now()

	// The watch rolls back on its own.
	var rollback map[string]any
	eventually(t, 60*time.Second, "the automatic rollback in the alias history", func() bool {
		hist := s.must(200, "admin", "GET", "/api/v1/models/"+model+"/aliases/champion/history", nil)
		items, _ := hist["items"].([]any)
		if len(items) == 0 {
			return false
		}
		rollback = items[0].(map[string]any)
		return rollback["from_version"] == 2.0
	})
	took := time.Since(promotedAt)
	t.Logf("rolled back %s after the promotion: %s", took.Round(10*time.Millisecond), rollback["reason"])
	if rollback["to_version"] != 1.0 || rollback["actor"] != "model-watch" ||
		!strings.HasPrefix(rollback["reason"].(string), registry.AutomaticRollbackPrefix+"alarm rate above the band: v2 raised") {
		t.Errorf("rollback %v", rollback)
	}
	// Which version was live: v2 between the promotion and the rollback,
	// v1 again now.
	promoted, _ := time.Parse(time.RFC3339Nano, promotion["at"].(string))
	rolledBack, _ := time.Parse(time.RFC3339Nano, rollback["at"].(string))
	for at, want := range map[time.Time]float64{promoted.Add(rolledBack.Sub(promoted) / 2): 2, time.Now(): 1} {
		live := s.must(200, "admin", "GET", "/api/v1/models/"+model+"/aliases/champion/history?at="+at.UTC().Format(time.RFC3339Nano), nil)
		if v, _ := live["version"].(map[string]any); v["version"] != want {
			t.Errorf("champion at %s: %v, want v%v", at.Format(time.RFC3339Nano), live["version"], want)
		}
	}

	// The watch's own account.
	var state workflows.ModelWatchState
	if err := s.temporal.GetWorkflow(context.Background(), workflows.ModelWatchWorkflowID("plant-9", model), "").Get(context.Background(), &state); err != nil {
		t.Fatal(err)
	}
	if state.Outcome != workflows.WatchRolledBack || state.Rollback == nil || state.Rollback.To != 1 || state.Decision == nil || state.Decision.Reason != mlops.RollbackAlarmRateHigh {
		t.Fatalf("watch state %+v", state)
	}
	t.Logf("band %+v, last check %+v", state.Baseline.Band, state.Last)

	// The notice reached the webhook, once.
	eventually(t, 20*time.Second, "the rollback notice at the webhook", func() bool {
		bodies, _ := webhook.got()
		for _, b := range bodies {
			if strings.Contains(b, model+" rolled back from v2 to v1") {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	bodies, errs := webhook.got()
	notices := 0
	for i, b := range bodies {
		if strings.Contains(b, "rolled back from v2 to v1") {
			notices++
			if errs[i] != nil {
				t.Errorf("rollback notice not signed: %v", errs[i])
			}
		}
	}
	if notices != 1 {
		t.Errorf("%d rollback notices, want 1", notices)
	}

	s.recordHistories("WorkflowType = 'ModelWatch' OR WorkflowType = 'Retrain'")

	// /metrics counts it.
	eventually(t, 20*time.Second, "smartmaint_model_rollbacks_total on /metrics", func() bool {
		return strings.Contains(s.metrics(), `smartmaint_model_rollbacks_total{model="iforest-press",reason="alarm_rate_high",tenant="plant-9"} 1`)
	})
}

// upload stores a model file as the next version of name over the API,
// with alias when not empty.
func (s *stack) upload(name, alias string, m modelfile.Model) {
	s.t.Helper()
	data, err := modelfile.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	path := s.baseURL + "/api/v1/models/" + name + "/versions"
	if alias != "" {
		path += "?alias=" + alias
	}
	req, _ := http.NewRequest(http.MethodPost, path, bytes.NewReader(data))
	req.Header.Set("X-API-Key", s.keys["admin"])
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusCreated {
		s.t.Fatalf("upload %s: %d %s", name, resp.StatusCode, body)
	}
}

// postQuietly posts JSON as the named key from a goroutine: failures are
// logged, not fatal.
func (s *stack) postQuietly(key, path string, body any) {
	code, out, err := s.callQuietly(key, http.MethodPost, path, body)
	if err != nil || code != http.StatusCreated {
		s.t.Logf("POST %s: %d %v %v", path, code, out, err)
	}
}

// metrics returns the admin listener's /metrics page.
func (s *stack) metrics() string {
	resp, err := http.Get(s.adminURL + "/metrics")
	if err != nil {
		return fmt.Sprint(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
