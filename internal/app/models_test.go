package app

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

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/temporaltest"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/workers"
	"github.com/smartmaint/smartmaint/workflows"
)

// TestModulesWire checks that every subcommand's dependency graph is
// complete with the models wiring in it.
func TestModulesWire(t *testing.T) {
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string][]fx.Option{
		"dev":    {Core(cfg), Dev(), API(), Worker(), DevBanner()},
		"api":    {Core(cfg), WithoutMigrations(), API()},
		"worker": {Core(cfg), WithoutMigrations(), Worker()},
	} {
		if err := fx.ValidateApp(append(opts, fx.NopLogger)...); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// mlopsRig is the MLOps loop on real services: a throwaway database, the
// local Redis, an artifact folder, the embedded Temporal server with a
// worker on its own task queue, and the ingest API with the model detector.
type mlopsRig struct {
	t      *testing.T
	db     *store.DB
	reg    *registry.Registry
	st     *mlops.Store
	loader *ModelLoader
	tc     client.Client
	queue  string
	srv    *httptest.Server
	key    string

	worker      worker.Worker
	startWorker func() worker.Worker

	mu        sync.Mutex
	anomalies []anomaly.Anomaly
}

const mill = "iforest-milling-machine"

func newMLOpsRig(t *testing.T) *mlopsRig {
	t.Helper()
	ctx := t.Context()
	log := slog.New(slog.DiscardHandler)
	db, _ := testenv.DB(t)
	rdb, prefix := testenv.Redis(t)
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &mlopsRig{t: t, db: db, st: &mlops.Store{DB: db}, queue: "mlops-" + prefix}
	r.reg = registry.New(db, folder, registry.Options{Redis: rdb, Channel: prefix + "models", Logger: log})
	testenv.Tenant(t, db, "acme")

	records := loadAI4I(t)
	for i := range 6 {
		id := fmt.Sprintf("mill-%02d", i+1)
		if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: id, Type: simulate.AssetType}); err != nil {
			t.Fatal(err)
		}
		for _, s := range simulate.Sensors(records) {
			// No operating limits: only the model judges these readings.
			if _, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: id, ID: s.ID, Kind: s.Kind, Unit: s.Unit}); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The loader polls only hourly: a swap within seconds proves the Redis
	// notification works.
	r.loader = registry.NewLoader(r.reg, modelfile.Unmarshal, registry.LoaderOptions{Kind: mlops.Kind, Interval: time.Hour, Logger: log})
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.loader.Run(lctx) }()
	t.Cleanup(func() { cancel(); <-done })
	<-r.loader.Ready()

	// The Temporal side.
	r.tc = temporaltest.Client(t)
	cfg := config.Config{DriftPSIThreshold: 0.2, DriftKSPValue: 0.01, DriftMinFeatures: 2, DriftMinSamples: 100, RetrainMinImprovement: 0.01, RetrainApprovalTimeout: time.Hour}
	acts := &activities.Models{
		DB: db, Registry: r.reg, Store: r.st, Defaults: defaultPolicy(cfg),
		DriftWindow: time.Hour, SampleSize: 5000, TrainWindow: time.Hour, MaxTrainRows: 20000, MinTrainRows: 500,
	}
	notifs := &activities.Notifications{Notifier: notify.New(db, notify.Config{}, log)}
	r.startWorker = func() worker.Worker {
		w := workers.New(r.tc, r.queue, []workers.Registration{
			workers.Models(acts),
			func(reg worker.Registry) { reg.RegisterActivity(notifs) },
		})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Stop)
		return w
	}
	r.worker = r.startWorker()

	// The ingest path, as newReadingsHandlers wires it, plus the models
	// routes.
	engine := &detect.Engine{Detectors: []detect.Detector{detect.NewModel(r.loader, detect.NewAssetCache(db, 0), 30*time.Second)}}
	b := ingest.NewBatcher(db, ingest.Options{})
	t.Cleanup(b.Close)
	readings := &api.Readings{DB: db, Batcher: b, MaxBodyBytes: 8 << 20, MaxReadings: 10000,
		Validator: &ingest.Validator{Catalog: ingest.NewCatalog(db, log), MaxSkew: 5 * time.Minute, Retention: 48 * time.Hour},
		Scorer: func(_ *http.Request, tenant string, v ingest.Valid) any {
			as := engine.Score(tenant, v.Rows, v.Sensors)
			r.mu.Lock()
			r.anomalies = append(r.anomalies, as...)
			r.mu.Unlock()
			return nil
		}}
	models := &api.Models{Registry: r.reg, MLOps: r.st, Defaults: defaultPolicy(cfg), Temporal: r.tc, TaskQueue: r.queue}
	r.srv = httptest.NewServer(api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, []api.Routes{readings, models}, nil))
	t.Cleanup(r.srv.Close)
	key, keyPrefix, hash := apikey.Generate()
	if _, err := db.CreateAPIKey(ctx, "acme", "ops", keyPrefix, hash, []apikey.Scope{apikey.Admin}, nil); err != nil {
		t.Fatal(err)
	}
	r.key = key
	return r
}

var (
	ai4iOnce sync.Once
	ai4iRecs []dataset.AI4I
	ai4iErr  error
)

func loadAI4I(t *testing.T) []dataset.AI4I {
	ai4iOnce.Do(func() {
		path, err := dataset.AI4IPath()
		if err != nil {
			ai4iErr = err
			return
		}
		ai4iRecs, ai4iErr = dataset.LoadAI4I(path)
	})
	if ai4iErr != nil {
		t.Fatal(ai4iErr)
	}
	return ai4iRecs
}

type wireReading struct {
	AssetID  string  `json:"asset_id"`
	SensorID string  `json:"sensor_id"`
	TS       string  `json:"ts"`
	Value    float64 `json:"value"`
}

// post sends readings through the ingest API.
func (r *mlopsRig) post(rs []wireReading) {
	r.t.Helper()
	body, _ := json.Marshal(rs)
	code, out := r.call("POST", "/api/v1/readings", string(body))
	if code != http.StatusCreated {
		r.t.Fatalf("POST readings: %d %v", code, out)
	}
}

func (r *mlopsRig) call(method, path, body string) (int, map[string]any) {
	r.t.Helper()
	req, err := http.NewRequest(method, r.srv.URL+path, strings.NewReader(body))
	if err != nil {
		r.t.Fatal(err)
	}
	req.Header.Set("X-API-Key", r.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(bytes.TrimSpace(data)) > 0 {
		if err := json.Unmarshal(data, &out); err != nil {
			r.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, data)
		}
	}
	return resp.StatusCode, out
}

// snapshotReadings turns dataset records into the five sensors' readings
// of each machine at ts, with torque and speed scaled.
func snapshotReadings(recs []dataset.AI4I, machines int, ts time.Time, torque, speed float64) []wireReading {
	var out []wireReading
	specs := simulate.Sensors(recs)
	for m := range machines {
		rec := recs[m]
		for _, s := range specs {
			v := s.Value(rec)
			switch s.ID {
			case "torque":
				v *= torque
			case "speed":
				v *= speed
			}
			out = append(out, wireReading{AssetID: fmt.Sprintf("mill-%02d", m+1), SensorID: s.ID, TS: ts.UTC().Format(time.RFC3339Nano), Value: v})
		}
	}
	return out
}

// modelAnomalies returns the anomalies the model detector raised since
// the last call.
func (r *mlopsRig) modelAnomalies() []anomaly.Anomaly {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []anomaly.Anomaly
	for _, a := range r.anomalies {
		if strings.Contains(a.Detector, "model") {
			out = append(out, a)
		}
	}
	r.anomalies = nil
	return out
}

// waitChampion waits until the loader serves version v.
func (r *mlopsRig) waitChampion(v int, within time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if m, ok := r.loader.Get("acme", mill); ok && m.Version.Version == v {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatalf("the loader did not serve v%d within %s", v, within)
	return 0
}

// TestDriftRetrainPromoteEndToEnd runs the MLOps loop on the real Temporal
// server: an AI4I champion scores ingested readings; readings shifted as
// after a change of tooling (torque +30%, speed −15%) make the drift check
// find drift and start a retraining, whose challenger is promoted; the
// loader swaps it in within seconds and the ingest path's anomalies cite
// the new version.
func TestDriftRetrainPromoteEndToEnd(t *testing.T) {
	r := newMLOpsRig(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	recs := loadAI4I(t)

	v1, promoted, err := mlops.Bootstrap(ctx, r.reg, r.st, "acme")
	if err != nil || !promoted || v1.Version != 1 {
		t.Fatalf("bootstrap: v%d promoted %v: %v", v1.Version, promoted, err)
	}
	if _, promoted, err := mlops.Bootstrap(ctx, r.reg, r.st, "acme"); err != nil || promoted {
		t.Fatalf("second bootstrap: promoted %v, %v; want a no-op", promoted, err)
	}
	r.waitChampion(1, 5*time.Second)

	// An overloaded spindle, scored by v1.
	overload := []dataset.AI4I{{Type: 'L', AirTempK: 295, ProcessTemp: 305, RPM: 1100, TorqueNm: 95, ToolWearMin: 240}}
	start := time.Now().Add(-50 * time.Minute)
	r.post(snapshotReadings(overload, 1, start, 1, 1))
	if as := r.modelAnomalies(); len(as) != 1 || !strings.Contains(as[0].Reason, mill+" v1 ") || as[0].SensorID != "tool_wear" {
		t.Fatalf("v1 anomalies: %+v", as)
	}

	// After the change: 240 snapshots of the six machines, shifted.
	for k := range 240 {
		ts := start.Add(time.Duration(k+1) * 10 * time.Second)
		r.post(snapshotReadings(recs[k*6:], 6, ts, 1.3, 0.85))
	}
	shifted := len(r.modelAnomalies())
	t.Logf("v1 flagged %d of 1440 shifted snapshots", shifted)

	// The scheduled check, for this tenant.
	run, err := r.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "drift-check-acme", TaskQueue: r.queue}, workflows.DriftCheck, workflows.DriftCheckInput{TenantID: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	var check workflows.DriftCheckResult
	if err := run.Get(ctx, &check); err != nil {
		t.Fatal(err)
	}
	if len(check.Models) != 1 || check.Models[0].Status != mlops.StatusDrift || check.Models[0].Retrain != workflows.RetrainWorkflowID("acme", mill) {
		t.Fatalf("drift check: %+v", check.Models)
	}

	// The retraining it started.
	var state workflows.RetrainState
	if err := r.tc.GetWorkflow(ctx, check.Models[0].Retrain, "").Get(ctx, &state); err != nil {
		r.explain(check.Models[0].Retrain)
		t.Fatal(err)
	}
	if state.Outcome != mlops.OutcomePromoted || state.Challenger != 2 || state.Champion != 1 {
		t.Fatalf("retraining: %s (%s)", state.Outcome, state.Reason)
	}
	t.Logf("retraining: %s", state.Reason)
	r.waitChampion(2, 5*time.Second)
	hist, err := r.reg.AliasHistory(ctx, "acme", mill, 1)
	if err != nil || hist[0].To != 2 {
		t.Fatalf("alias history %+v %v", hist, err)
	}
	served, _ := r.loader.Get("acme", mill)
	swap := served.LoadedAt.Sub(hist[0].At)
	t.Logf("the loader served v2 %s after its promotion", swap)
	if swap > 5*time.Second {
		t.Errorf("the loader took %s to swap in v2", swap)
	}

	// The ingest path now scores with v2: the shifted regime is normal,
	// an overload beyond it is not.
	now := time.Now()
	r.post(snapshotReadings(recs[3000:], 6, now.Add(-time.Second), 1.3, 0.85))
	r.post(snapshotReadings([]dataset.AI4I{{Type: 'L', AirTempK: 300, ProcessTemp: 310, RPM: 900, TorqueNm: 140, ToolWearMin: 240}}, 1, now, 1, 1))
	as := r.modelAnomalies()
	if len(as) == 0 || as[len(as)-1].AssetID != "mill-01" || as[len(as)-1].TS.Unix() != now.Unix() {
		t.Fatalf("v2 did not flag the overload: %+v", as)
	}
	for _, a := range as {
		if !strings.Contains(a.Reason, mill+" v2 ") {
			t.Errorf("anomaly not from v2: %s", a.Reason)
		}
	}

	// What the API shows.
	code, drift := r.call("GET", "/api/v1/models/"+mill+"/drift", "")
	latest, _ := drift["latest"].(map[string]any)
	retrains, _ := drift["retrains"].([]any)
	if code != 200 || latest["status"] != mlops.StatusDrift || latest["retrain_workflow"] != workflows.RetrainWorkflowID("acme", mill) || len(retrains) != 1 {
		t.Fatalf("GET drift: %d %v", code, drift)
	}
	if r0 := retrains[0].(map[string]any); r0["outcome"] != mlops.OutcomePromoted || r0["challenger_version"] != 2.0 {
		t.Errorf("retrain record %v", r0)
	}

	// The model's own policy: a margin no retraining on the same regime
	// can reach.
	code, policy := r.call("PUT", "/api/v1/models/"+mill+"/policy", `{"min_improvement":0.5,"approval_timeout":"2h"}`)
	if code != 200 || policy["min_improvement"] != 0.5 || policy["approval_timeout"] != "2h0m0s" || policy["overridden"] != true {
		t.Fatalf("PUT policy: %d %v", code, policy)
	}
	if code, body := r.call("PUT", "/api/v1/models/"+mill+"/policy", `{"ks_pvalue":2}`); code != http.StatusUnprocessableEntity || errCode(body) != "invalid_policy" {
		t.Errorf("PUT bad policy: %d %v", code, body)
	}

	// A retraining asked for through the API while the worker is away: the
	// second request finds it running. Once a worker is back, trained on
	// the same regime as v2, it is not better by the margin: kept.
	r.worker.Stop()
	code, body := r.call("POST", "/api/v1/models/"+mill+"/retrain", `{"reason":"after the tooling change"}`)
	if code != http.StatusAccepted || body["workflow_id"] != workflows.RetrainWorkflowID("acme", mill) || body["champion_version"] != 2.0 {
		t.Fatalf("POST retrain: %d %v", code, body)
	}
	if code, body := r.call("POST", "/api/v1/models/"+mill+"/retrain", ""); code != http.StatusConflict || errCode(body) != "retrain_running" {
		t.Errorf("second POST retrain: %d %v", code, body)
	}
	r.worker = r.startWorker()
	if err := r.tc.GetWorkflow(ctx, body["workflow_id"].(string), body["run_id"].(string)).Get(ctx, &state); err != nil {
		t.Fatal(err)
	}
	if state.Outcome != mlops.OutcomeKept || state.Input.Trigger != workflows.TriggerAPI {
		t.Errorf("API retraining: %s (%s)", state.Outcome, state.Reason)
	}
	if m, _ := r.loader.Get("acme", mill); m.Version.Version != 2 {
		t.Errorf("champion v%d after a kept retraining", m.Version.Version)
	}
}

// explain logs a stuck workflow's pending activities.
func (r *mlopsRig) explain(id string) {
	d, err := r.tc.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		r.t.Logf("describe %s: %v", id, err)
		return
	}
	r.t.Logf("%s: %s", id, d.WorkflowExecutionInfo.Status)
	for _, p := range d.PendingActivities {
		r.t.Logf("pending %s attempt %d: %v", p.ActivityType.GetName(), p.Attempt, p.LastFailure)
	}
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}
