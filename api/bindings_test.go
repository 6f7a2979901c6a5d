package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/risk"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/modelkind/kindtest"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// The tenant of the binding tests: not the demo tenant.
const plant = "plant-7"

// bindRig is the binding and readings routes over a throwaway database,
// an artifact folder and the local Redis, with the ingest path's model
// detectors of every kind over a registry Loader (polling only hourly: a
// swap within seconds is the Redis notification) and the binding cache.
type bindRig struct {
	*server
	reg    *registry.Registry
	loader *registry.Loader[modelfile.Model]
	cache  *binding.Cache

	mu        sync.Mutex
	anomalies []anomaly.Anomaly
}

func newBindRig(t *testing.T) *bindRig {
	t.Helper()
	db, _ := testenv.DB(t)
	rdb, prefix := testenv.Redis(t)
	log := slog.New(slog.DiscardHandler)
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r := &bindRig{reg: registry.New(db, folder, registry.Options{Redis: rdb, Channel: prefix + "models", Logger: log})}
	r.loader = registry.NewLoader(r.reg, modelfile.Unmarshal, registry.LoaderOptions{Interval: time.Hour, Logger: log})
	st := &binding.Store{DB: db}
	r.cache = binding.NewCache(st, time.Second, log)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { r.loader.Run(ctx) })
	wg.Go(func() { r.cache.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	<-r.loader.Ready()
	<-r.cache.Ready()

	assets := detect.NewAssetCache(db, 0)
	e := &detect.Engine{}
	for _, k := range modelkind.Kinds {
		e.Detectors = append(e.Detectors, detect.NewBound(k, r.loader, assets, r.cache, 0))
	}
	b := ingest.NewBatcher(db, ingest.Options{})
	t.Cleanup(b.Close)
	routes := []api.Routes{
		&api.Bindings{DB: db, Store: st, Registry: r.reg, Changed: r.cache.Refresh},
		&api.Readings{DB: db, Batcher: b, MaxBodyBytes: 8 << 20, MaxReadings: 10000,
			Validator: &ingest.Validator{Catalog: ingest.NewCatalog(db, log), MaxSkew: 5 * time.Minute, Retention: 48 * time.Hour},
			Scorer: func(_ *http.Request, tenant string, v ingest.Valid) any {
				found := e.Score(tenant, v.Rows, v.Sensors)
				r.mu.Lock()
				r.anomalies = append(r.anomalies, found...)
				r.mu.Unlock()
				return nil
			}},
	}
	h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, routes, nil)
	r.server = &server{Server: httptest.NewServer(h), db: db, keys: map[string]string{}}
	t.Cleanup(r.Close)
	testenv.Tenant(t, db, plant)
	testenv.Tenant(t, db, "rival")
	r.key(t, "ops", plant, apikey.ModelsWrite, apikey.ReadingsRead, apikey.ReadingsWrite)
	r.key(t, "reader", plant, apikey.ReadingsRead)
	r.key(t, "rival", "rival", apikey.Admin)
	return r
}

// register stores m as a new version of name and makes it the champion.
func (r *bindRig) register(t *testing.T, name string, m modelfile.Model, promote bool) registry.Version {
	t.Helper()
	ctx := context.Background()
	data, err := modelfile.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.reg.Create(ctx, plant, registry.NewVersion{Name: name, Kind: modelfile.KindOf(m.Scorer), Features: m.Meta.FeatureNames,
		TrainingData: m.Meta.Dataset, CreatedBy: "test"}, data)
	if err != nil {
		t.Fatal(err)
	}
	if promote {
		if _, err := r.reg.Promote(ctx, plant, registry.Promotion{Name: name, Alias: registry.Champion, Version: v.Version, Actor: "test", Reason: "bind test"}); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// asset creates an asset with a sensor per feature not read from metadata.
func (r *bindRig) asset(t *testing.T, id, typ string, meta map[string]any, features []string, metadata map[string]string) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.db.CreateAsset(ctx, plant, store.Asset{ID: id, Type: typ, Metadata: meta}); err != nil {
		t.Fatal(err)
	}
	for _, f := range features {
		if _, ok := metadata[f]; ok {
			continue
		}
		if _, err := r.db.CreateSensor(ctx, plant, store.Sensor{AssetID: id, ID: f, Kind: "gauge", Unit: "1"}); err != nil {
			t.Fatal(err)
		}
	}
}

// postedReading is one reading to post.
type postedReading struct {
	Asset  string    `json:"asset_id"`
	Sensor string    `json:"sensor_id"`
	TS     time.Time `json:"ts"`
	Value  float64   `json:"value"`
}

// snapshot is the readings of asset's features x at ts, metadata features
// left out.
func snapshot(asset string, ts time.Time, features []string, x []float64, metadata map[string]string) []postedReading {
	var out []postedReading
	for i, f := range features {
		if _, ok := metadata[f]; !ok {
			out = append(out, postedReading{asset, f, ts, x[i]})
		}
	}
	return out
}

// post ingests readings in requests of up to 5,000.
func (r *bindRig) post(t *testing.T, rs []postedReading) {
	t.Helper()
	for len(rs) > 0 {
		n := min(len(rs), 5000)
		body, _ := json.Marshal(rs[:n])
		if code, out, _ := r.do(t, "ops", "POST", "/api/v1/readings", "application/json", string(body)); code != http.StatusCreated {
			t.Fatalf("post readings: %d %v", code, out)
		}
		rs = rs[n:]
	}
}

func (r *bindRig) found() []anomaly.Anomaly {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]anomaly.Anomaly(nil), r.anomalies...)
}

func (r *bindRig) put(t *testing.T, key, path string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	code, out, _ := r.do(t, key, "PUT", path, "application/json", string(b))
	return code, out
}

// TestBindEveryKind binds a model of every kind to an asset type of
// tenant plant-7 through the API, refuses bindings that cannot serve,
// ingests held-out data of each kind through the readings API and sees
// findings of every kind, then promotes a new version and measures how
// long until findings name it.
func TestBindEveryKind(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four models and ingests 60,000 readings")
	}
	mill, rf, uf, bf := kindtest.Mill(t), kindtest.Risk(t), kindtest.RUL(t), kindtest.Bearing(t)
	r := newBindRig(t)
	r.register(t, "mill-forest", mill.Model, true)
	r.register(t, "risk-azure", rf.Model, true)
	r.register(t, "rul-turbofan", uf.Model, true)
	r.register(t, "health-rig", bf.Model, true)
	r.register(t, "unpromoted", rf.Model, false)

	// The Azure machine with the most March failures.
	fails := map[int]int{}
	machine := 0
	for i, y := range rf.March.Y {
		if m := rf.March.Machine[i]; y {
			if fails[m]++; fails[m] > fails[machine] {
				machine = m
			}
		}
	}
	am := rf.Machines[machine]
	metadata := kindtest.RiskMetadata()
	r.asset(t, "mill-1", "mill", nil, kindtest.MillFeatures, nil)
	r.asset(t, "azure-1", "press", map[string]any{"model": am.Model, "age": float64(am.Age)}, risk.FeatureNames, metadata)
	r.asset(t, "engine-21", "turbofan", nil, rul.FeatureNames(), nil)
	r.asset(t, "rig-2", "bearing-rig", nil, bf.Model.Meta.FeatureNames, nil)

	thirty := 30.0
	refusals := []struct {
		name, key, path string
		body            any
		status          int
		code            string
	}{
		{"missing model", "ops", "/api/v1/asset-types/press/models/failure_risk", map[string]any{"model": "ghost"}, 422, "unknown_model"},
		{"no champion", "ops", "/api/v1/asset-types/press/models/failure_risk", map[string]any{"model": "unpromoted", "features": metadata}, 422, "no_champion"},
		{"classifier as rul", "ops", "/api/v1/asset-types/turbofan/models/rul", map[string]any{"model": "risk-azure", "threshold": 30}, 422, "incompatible_model"},
		{"forest as bearing health", "ops", "/api/v1/asset-types/bearing-rig/models/bearing_health", map[string]any{"model": "mill-forest"}, 422, "incompatible_model"},
		{"unknown feature", "ops", "/api/v1/asset-types/mill/models/anomaly", map[string]any{"model": "mill-forest", "features": map[string]string{"spindle": "x"}}, 422, "invalid_binding"},
		{"rul without threshold", "ops", "/api/v1/asset-types/turbofan/models/rul", map[string]any{"model": "rul-turbofan"}, 422, "invalid_binding"},
		{"probability threshold", "ops", "/api/v1/asset-types/press/models/failure_risk", map[string]any{"model": "risk-azure", "features": metadata, "threshold": 2}, 422, "invalid_binding"},
		{"unknown kind", "ops", "/api/v1/asset-types/press/models/forecast", map[string]any{"model": "risk-azure"}, 404, "unknown_kind"},
		{"unknown field", "ops", "/api/v1/asset-types/press/models/failure_risk", map[string]any{"model": "risk-azure", "mapping": metadata}, 400, "malformed_body"},
		{"read-only key", "reader", "/api/v1/asset-types/press/models/failure_risk", map[string]any{"model": "risk-azure", "features": metadata}, 403, "forbidden"},
		{"another tenant's model", "rival", "/api/v1/asset-types/press/models/failure_risk", map[string]any{"model": "risk-azure", "features": metadata}, 422, "unknown_model"},
	}
	for _, tc := range refusals {
		code, out := r.put(t, tc.key, tc.path, tc.body)
		if code != tc.status || errCode(out) != tc.code {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, out, tc.status, tc.code)
		}
		if e, _ := out["error"].(map[string]any); e["message"] == "" {
			t.Errorf("%s: no message in %v", tc.name, out)
		}
	}

	// Features whose names are sensor ids are read from those sensors by
	// default: the classifier's metadata features, unmapped, are taken
	// (the type's asset lacks such sensors, which the answer warns of).
	code, out := r.put(t, "ops", "/api/v1/asset-types/press/models/failure_risk", map[string]any{"model": "risk-azure"})
	if w, _ := out["warnings"].([]any); code != 200 || len(w) != len(metadata) {
		t.Errorf("unmapped metadata features: %d %v", code, out)
	}

	// Bind every kind. The mill's anomaly model is not named
	// iforest-mill: only a binding makes it serve.
	for _, b := range []struct {
		kind modelkind.Kind
		typ  string
		body map[string]any
	}{
		{modelkind.Anomaly, "mill", map[string]any{"model": "mill-forest"}},
		{modelkind.FailureRisk, "press", map[string]any{"model": "risk-azure", "features": metadata}},
		{modelkind.RUL, "turbofan", map[string]any{"model": "rul-turbofan", "threshold": thirty}},
		{modelkind.BearingHealth, "bearing-rig", map[string]any{"model": "health-rig"}},
	} {
		code, out := r.put(t, "ops", "/api/v1/asset-types/"+b.typ+"/models/"+string(b.kind), b.body)
		ch, _ := out["champion"].(map[string]any)
		if code != 200 || out["model"] != b.body["model"] || out["kind"] != string(b.kind) || ch["version"] != 1.0 || out["warnings"] != nil {
			t.Fatalf("bind %s: %d %v", b.kind, code, out)
		}
	}
	code, out, _ = r.do(t, "reader", "GET", "/api/v1/asset-types/press/models", "", "")
	if list, _ := out["bindings"].([]any); code != 200 || len(list) != 2 { // failure_risk and the default anomaly
		t.Errorf("press bindings: %d %v", code, out)
	}
	code, out, _ = r.do(t, "reader", "GET", "/api/v1/asset-types/turbofan/models/rul", "", "")
	if code != 200 || out["threshold"] != thirty || out["updated_by"] == "" {
		t.Errorf("get rul binding: %d %v", code, out)
	}
	if code, out, _ := r.do(t, "rival", "GET", "/api/v1/asset-types/turbofan/models/rul", "", ""); code != 404 {
		t.Errorf("another tenant reads the binding: %d %v", code, out)
	}
	if code, out, _ := r.do(t, "reader", "GET", "/api/v1/model-kinds", "", ""); code != 200 || len(out["kinds"].([]any)) != len(modelkind.Kinds) {
		t.Errorf("model kinds: %d %v", code, out)
	}

	// Ingest held-out data of every kind, stamped over the last 40 minutes.
	start := time.Now().Add(-40 * time.Minute).Truncate(time.Second)
	var rs []postedReading
	for i, x := range mill.Rows[:3000] {
		rs = append(rs, snapshot("mill-1", start.Add(time.Duration(i)*time.Second/2), kindtest.MillFeatures, x, nil)...)
	}
	hour := 0
	for i, m := range rf.March.Machine {
		if m == machine {
			rs = append(rs, snapshot("azure-1", start.Add(time.Duration(hour)*time.Second), risk.FeatureNames, rf.March.X[i], metadata)...)
			hour++
		}
	}
	for c, x := range uf.Cycles {
		rs = append(rs, snapshot("engine-21", start.Add(time.Duration(c)*5*time.Second), rul.FeatureNames(), x, nil)...)
	}
	for i, x := range bf.Snapshots {
		rs = append(rs, snapshot("rig-2", start.Add(time.Duration(i)*2*time.Second), bf.Model.Meta.FeatureNames, x, nil)...)
	}
	began := time.Now()
	r.post(t, rs)
	t.Logf("%d readings ingested and scored in %v", len(rs), time.Since(began).Round(time.Millisecond))
	byDetector := map[string]int{}
	for _, a := range r.found() {
		byDetector[a.Detector]++
		if a.TenantID != plant {
			t.Errorf("finding of tenant %q", a.TenantID)
		}
	}
	t.Logf("findings by detector: %v", byDetector)
	for _, name := range []string{"model", "failure_risk", "rul", "bearing_health"} {
		if byDetector[name] == 0 {
			t.Errorf("no finding of %s", name)
		}
	}

	// A promotion swaps the served version: findings name version 2
	// within seconds.
	v2 := uf.Model
	v2.Meta.Dataset = "FD001, version 2"
	r.register(t, "rul-turbofan", v2, false)
	last := uf.Cycles[len(uf.Cycles)-1]
	promoted := time.Now()
	if _, err := r.reg.Promote(context.Background(), plant, registry.Promotion{Name: "rul-turbofan", Alias: registry.Champion, Version: 2, Actor: "test", Reason: "swap"}); err != nil {
		t.Fatal(err)
	}
	var swap time.Duration
	for i := 0; swap == 0; i++ {
		if time.Since(promoted) > 10*time.Second {
			t.Fatal("findings still name version 1 ten seconds after the promotion")
		}
		seen := len(r.found())
		r.post(t, snapshot("engine-21", start.Add(30*time.Minute+time.Duration(i)*time.Second), rul.FeatureNames(), last, nil))
		for _, a := range r.found()[seen:] {
			if v := detect.ReasonValues(a.Reason, modelkind.RUL); v["version"] == "2" {
				swap = time.Since(promoted)
			}
		}
		if swap == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Logf("promotion to served version: %v", swap.Round(time.Millisecond))

	// Unbinding stops the kind: after DELETE, rul findings end.
	if code, out, _ := r.do(t, "ops", "DELETE", "/api/v1/asset-types/turbofan/models/rul", "", ""); code != 204 {
		t.Fatalf("delete: %d %v", code, out)
	}
	if code, _, _ := r.do(t, "ops", "DELETE", "/api/v1/asset-types/turbofan/models/rul", "", ""); code != 404 {
		t.Errorf("second delete: %d", code)
	}
	seen := len(r.found())
	r.post(t, snapshot("engine-21", start.Add(35*time.Minute), rul.FeatureNames(), last, nil))
	for _, a := range r.found()[seen:] {
		t.Errorf("finding after unbinding: %s %s", a.Detector, a.Reason)
	}
}

// TestBindingRoutesAnomalyDefault: without a stored binding the anomaly
// kind answers the default model; deleting what is not stored is 404.
func TestBindingRoutesAnomalyDefault(t *testing.T) {
	r := newBindRig(t)
	code, out, _ := r.do(t, "reader", "GET", "/api/v1/asset-types/pump/models/anomaly", "", "")
	if code != 200 || out["model"] != "iforest-pump" || out["default"] != true {
		t.Errorf("default anomaly binding: %d %v", code, out)
	}
	for _, k := range []string{"failure_risk", "rul", "bearing_health"} {
		if code, out, _ := r.do(t, "reader", "GET", "/api/v1/asset-types/pump/models/"+k, "", ""); code != 404 || errCode(out) != "not_found" {
			t.Errorf("%s: %d %v", k, code, out)
		}
	}
	if code, out, _ := r.do(t, "ops", "DELETE", "/api/v1/asset-types/pump/models/anomaly", "", ""); code != 404 {
		t.Errorf("delete the default: %d %v", code, out)
	}
	code, out, _ = r.do(t, "reader", "GET", "/api/v1/model-kinds", "", "")
	kinds, _ := out["kinds"].([]any)
	var names []string
	for _, k := range kinds {
		m := k.(map[string]any)
		names = append(names, fmt.Sprint(m["kind"], "/", m["needs_labels"], "/", m["default_model"]))
	}
	if code != 200 || strings.Join(names, ",") != "anomaly/false/iforest-{type},failure_risk/true/<nil>,rul/true/<nil>,bearing_health/false/<nil>" {
		t.Errorf("model kinds: %d %v", code, names)
	}
}
