package detect

import (
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/ml/risk"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/modelkind/kindtest"
	"github.com/smartmaint/smartmaint/internal/store"
)

// The asset types of the kinds tests, one per kind.
const (
	typeMill    = "milling-machine" // anomaly: the default iforest-milling-machine
	typeAzure   = "azure-machine"   // failure_risk
	typeEngine  = "turbofan"        // rul
	typeBearing = "bearing-rig"     // bearing_health
	tenantKinds = "plant-7"
)

// bindings is a BindingSource the test sets bindings in, over the
// default ones.
type bindings struct {
	gen      atomic.Uint64
	mu       sync.Mutex
	m        map[string]*binding.Binding
	defaults defaultBindings
}

func (b *bindings) Binding(tenant, assetType string, kind modelkind.Kind) (*binding.Binding, bool) {
	b.mu.Lock()
	x, ok := b.m[tenant+"/"+assetType+"/"+string(kind)]
	b.mu.Unlock()
	if ok {
		return x, true
	}
	return b.defaults.Binding(tenant, assetType, kind)
}

func (b *bindings) Generation() uint64 { return b.gen.Load() }

func (b *bindings) set(x binding.Binding) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string]*binding.Binding{}
	}
	b.m[x.TenantID+"/"+x.AssetType+"/"+string(x.Kind)] = &x
	b.gen.Add(1)
}

// riskBinding binds model as the failure classifier of the Azure
// machines, their model and age read from metadata.
func riskBinding(model string) binding.Binding {
	return binding.Binding{TenantID: tenantKinds, AssetType: typeAzure, Kind: modelkind.FailureRisk, Model: model, Features: kindtest.RiskMetadata()}
}

// kindRig is an Engine with the detector of every kind over in-memory
// models, assets and bindings.
type kindRig struct {
	models   *models
	assets   *assets
	bindings *bindings
	engine   *Engine
	dets     []*Model

	mu      sync.Mutex
	sensors map[string]*store.Sensor
}

func newKindRig(list ...store.Asset) *kindRig {
	r := &kindRig{models: &models{}, assets: newAssets(list...), bindings: &bindings{defaults: defaultBindings{m: map[string]*binding.Binding{}}}, sensors: map[string]*store.Sensor{}}
	r.engine = &Engine{}
	for _, k := range modelkind.Kinds {
		d := NewBound(k, r.models, r.assets, r.bindings, 0)
		r.dets = append(r.dets, d)
		r.engine.Detectors = append(r.engine.Detectors, d)
	}
	return r
}

func (r *kindRig) sensor(asset, id string) *store.Sensor {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sensors[asset+"/"+id]
	if s == nil {
		s = &store.Sensor{Key: int64(len(r.sensors) + 1), AssetID: asset, ID: id}
		r.sensors[asset+"/"+id] = s
	}
	return s
}

// batch is one ingest request's rows.
type batch struct {
	rows    []store.Reading
	sensors []*store.Sensor
}

// add appends the readings names[i] = x[i] of asset at ts, skipping the
// features read from metadata.
func (b *batch) add(r *kindRig, asset string, ts time.Time, names []string, x []float64, skip func(string) bool) {
	for i, name := range names {
		if skip != nil && skip(name) {
			continue
		}
		s := r.sensor(asset, name)
		b.rows = append(b.rows, store.Reading{SensorKey: s.Key, TS: ts, Value: x[i]})
		b.sensors = append(b.sensors, s)
	}
}

func (r *kindRig) score(b *batch) []anomaly.Anomaly {
	return r.engine.Score(tenantKinds, b.rows, b.sensors)
}

// isMetadata reports the risk features the binding reads from metadata.
func isMetadata(name string) bool {
	return name == "age_years" || len(name) > 6 && name[:6] == "model_"
}

// kindAssets are one asset per kind; the Azure machine is machine 1.
func kindAssets(rf *kindtest.RiskData, machine int) []store.Asset {
	am := rf.Machines[machine]
	return []store.Asset{
		{ID: "mill-01", Type: typeMill},
		{ID: "azure-" + strconv.Itoa(machine), Type: typeAzure, Metadata: map[string]any{"model": am.Model, "age": float64(am.Age)}},
		{ID: "engine-21", Type: typeEngine},
		{ID: "rig-2", Type: typeBearing},
	}
}

// bindAll registers a champion of every kind and binds it.
func bindAll(tb testing.TB, r *kindRig, rf *kindtest.RiskData, uf *kindtest.RULData, bf *kindtest.BearingData) {
	tb.Helper()
	r.models.set(tenantKinds, ModelName(typeMill), 1, kindtest.Mill(tb).Model) // default binding
	r.models.set(tenantKinds, "risk-azure", 1, rf.Model)
	r.bindings.set(riskBinding("risk-azure"))
	r.models.set(tenantKinds, "rul-turbofan", 1, uf.Model)
	thirty := 30.0
	r.bindings.set(binding.Binding{TenantID: tenantKinds, AssetType: typeEngine, Kind: modelkind.RUL, Model: "rul-turbofan", Threshold: &thirty})
	r.models.set(tenantKinds, "health-rig", 1, bf.Model)
	r.bindings.set(binding.Binding{TenantID: tenantKinds, AssetType: typeBearing, Kind: modelkind.BearingHealth, Model: "health-rig"})
}

// TestBoundKindsFindings feeds every kind's held-out data through the
// Engine and checks each raises findings of its kind where it should.
func TestBoundKindsFindings(t *testing.T) {
	rf, uf, bf := kindtest.Risk(t), kindtest.RUL(t), kindtest.Bearing(t)
	rows := kindtest.Mill(t).Rows
	// The Azure machine with the most failures in March.
	fails := map[int]int{}
	for i, y := range rf.March.Y {
		if y {
			fails[rf.March.Machine[i]]++
		}
	}
	machine := 0
	for m, n := range fails {
		if n > fails[machine] || n == fails[machine] && m < machine {
			machine = m
		}
	}
	list := kindAssets(rf, machine)
	r := newKindRig(list...)
	bindAll(t, r, rf, uf, bf)
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	byKind := map[string][]anomaly.Anomaly{}
	collect := func(as []anomaly.Anomaly) {
		for _, a := range as {
			byKind[a.Detector] = append(byKind[a.Detector], a)
		}
	}

	// Anomaly: the second half of AI4I, failures included.
	for i := range rows {
		var b batch
		b.add(r, "mill-01", t0.Add(time.Duration(i)*time.Second), millFeatures, rows[i], nil)
		collect(r.score(&b))
	}

	// Failure risk: the machine's March hours, as edge-computed features.
	var riskHits, riskPos, riskHours, positives int
	azure := "azure-" + strconv.Itoa(machine)
	for i, m := range rf.March.Machine {
		if m != machine {
			continue
		}
		riskHours++
		if rf.March.Y[i] {
			positives++
		}
		var b batch
		b.add(r, azure, rf.March.Time[i], risk.FeatureNames, rf.March.X[i], isMetadata)
		for _, a := range r.score(&b) {
			if a.Detector != string(modelkind.FailureRisk) {
				continue
			}
			riskHits++
			if rf.March.Y[i] {
				riskPos++
			}
			collect([]anomaly.Anomaly{a})
		}
	}
	t.Logf("failure risk: machine %d, %d March hours (%d with a failure in the next 24 h): %d findings, %d of them on those hours",
		machine, riskHours, positives, riskHits, riskPos)
	if riskHits == 0 || riskPos*2 < riskHits {
		t.Errorf("failure risk: %d findings, %d before a failure; want some, mostly before failures", riskHits, riskPos)
	}

	// RUL: engine 21's cycles, one snapshot of 85 features each.
	var firstRUL = -1
	for c, x := range uf.Cycles {
		var b batch
		b.add(r, "engine-21", t0.Add(time.Duration(c)*time.Minute), rul.FeatureNames(), x, nil)
		for _, a := range r.score(&b) {
			if a.Detector == string(modelkind.RUL) && firstRUL < 0 {
				firstRUL = c
			}
			collect([]anomaly.Anomaly{a})
		}
	}
	left := len(uf.Cycles) - firstRUL
	t.Logf("rul: engine 21 ran %d cycles; the first finding came %d cycles before its failure", len(uf.Cycles), left)
	if firstRUL < 0 || left > 90 || left < 5 {
		t.Errorf("rul: first finding at cycle %d of %d", firstRUL, len(uf.Cycles))
	}

	// Bearing health: the snapshots after the baseline day.
	var firstBearing = -1
	for i, x := range bf.Snapshots {
		var b batch
		b.add(r, "rig-2", bf.Times[i], bf.Model.Meta.FeatureNames, x, nil)
		for _, a := range r.score(&b) {
			if a.Detector == string(modelkind.BearingHealth) && firstBearing < 0 {
				firstBearing = i
			}
			collect([]anomaly.Anomaly{a})
		}
	}
	if firstBearing < 0 {
		t.Fatal("bearing health: no finding in a run to failure")
	}
	t.Logf("bearing health: first finding %v before the end of the run", bf.Times[len(bf.Times)-1].Sub(bf.Times[firstBearing]).Round(time.Hour))

	for _, name := range []string{"model", "failure_risk", "rul", "bearing_health"} {
		as := byKind[name]
		if len(as) == 0 {
			t.Errorf("no finding of detector %q (got %v)", name, keys(byKind))
			continue
		}
		a := as[0]
		if a.TenantID != tenantKinds || a.ID == "" || a.Score < 0.5 || a.Score > 1 || a.Severity == "" {
			t.Errorf("%s: %+v", name, a)
		}
		k, _ := modelkind.Parse(name)
		if name != "model" {
			v := ReasonValues(a.Reason, k)
			if v["model"] == "" || v["version"] != "1" || v["threshold"] == "" {
				t.Errorf("%s: reason %q parsed as %v", name, a.Reason, v)
			}
		}
	}
	// The RUL reason carries the estimate and its interval.
	v := ReasonValues(byKind["rul"][0].Reason, modelkind.RUL)
	est, _ := strconv.ParseFloat(v["rul"], 64)
	lo, _ := strconv.ParseFloat(v["lower"], 64)
	hi, _ := strconv.ParseFloat(v["upper"], 64)
	if !(lo <= est && est <= hi && lo < 30) || byKind["rul"][0].Direction != 0 {
		t.Errorf("rul reason %q: %v ≤ %v ≤ %v", byKind["rul"][0].Reason, lo, est, hi)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestBindingRefusesOtherKinds: a binding naming a model of a kind it does
// not accept is silent, and rebinding takes effect on the next reading.
func TestBindingRefusesOtherKinds(t *testing.T) {
	uf := kindtest.RUL(t)
	list := []store.Asset{{ID: "engine-21", Type: typeEngine}}
	r := newKindRig(list...)
	mill, _ := ai4iModel(t)
	r.models.set(tenantKinds, "iforest-x", 1, mill)
	r.models.set(tenantKinds, "rul-turbofan", 1, uf.Model)
	huge := 1e9 // every estimate is below: every snapshot a finding
	r.bindings.set(binding.Binding{TenantID: tenantKinds, AssetType: typeEngine, Kind: modelkind.RUL, Model: "iforest-x", Threshold: &huge})
	t0 := time.Unix(0, 0)
	send := func(c int) []anomaly.Anomaly {
		var b batch
		b.add(r, "engine-21", t0.Add(time.Duration(c)*time.Minute), rul.FeatureNames(), uf.Cycles[c], nil)
		return r.score(&b)
	}
	if as := send(0); len(as) != 0 {
		t.Fatalf("a rul binding to an Isolation Forest raised %v", as)
	}
	r.bindings.set(binding.Binding{TenantID: tenantKinds, AssetType: typeEngine, Kind: modelkind.RUL, Model: "rul-turbofan", Threshold: &huge})
	if as := send(1); len(as) != 1 || as[0].Detector != "rul" {
		t.Fatalf("after rebinding: %v", as)
	}
	// A mapping moves a feature to another sensor.
	b := binding.Binding{TenantID: tenantKinds, AssetType: typeEngine, Kind: modelkind.RUL, Model: "rul-turbofan", Threshold: &huge,
		Features: map[string]string{"age": "cycles_run"}}
	r.bindings.set(b)
	if as := send(2); len(as) != 0 {
		t.Fatalf("scored without the mapped sensor: %v", as)
	}
	var extra batch
	extra.add(r, "engine-21", t0.Add(2*time.Minute), []string{"cycles_run"}, []float64{uf.Cycles[2][0]}, nil)
	if as := r.score(&extra); len(as) != 1 {
		t.Fatalf("the mapped sensor completed no snapshot: %v", as)
	}
}

func TestReasonValues(t *testing.T) {
	got := ReasonValues("12 K is above the alarm limit 10; rul model=m version=2 rul=41.2 lower=22 upper=63.5 threshold=30", modelkind.RUL)
	if got["rul"] != "41.2" || got["lower"] != "22" || got["model"] != "m" || len(got) != 6 {
		t.Errorf("ReasonValues = %v", got)
	}
	if ReasonValues("rul model=m", modelkind.FailureRisk) != nil {
		t.Error("values of another kind")
	}
}

// allKinds is a rig with every kind bound and warm, and normal snapshots
// of each asset to replay.
type allKinds struct {
	r       *kindRig
	batches []batch // one per round: every asset's snapshot
}

func newAllKinds(tb testing.TB, rounds int) *allKinds {
	rf, uf, bf := kindtest.Risk(tb), kindtest.RUL(tb), kindtest.Bearing(tb)
	rows := kindtest.Mill(tb).Rows
	// A healthy Azure machine-hour set: machine 1's March hours without a
	// failure ahead.
	var riskX [][]float64
	for i, m := range rf.March.Machine {
		if m == 1 && !rf.March.Y[i] && rf.Model.Scorer.Score(rf.March.X[i]) < rf.Model.Meta.Threshold {
			riskX = append(riskX, rf.March.X[i])
		}
	}
	r := newKindRig(kindAssets(rf, 1)...)
	bindAll(tb, r, rf, uf, bf)
	a := &allKinds{r: r}
	for k := range rounds {
		var b batch
		ts := time.Unix(int64(1000+k*60), 0)
		b.add(r, "mill-01", ts, millFeatures, rows[k%100], nil)
		b.add(r, "azure-1", ts, risk.FeatureNames, riskX[k%len(riskX)], isMetadata)
		b.add(r, "engine-21", ts, rul.FeatureNames(), uf.Cycles[k%40], nil) // early, healthy cycles
		b.add(r, "rig-2", ts, bf.Model.Meta.FeatureNames, bf.Snapshots[k%100], nil)
		a.batches = append(a.batches, b)
	}
	return a
}

// TestAllKindsNoAllocations: once warm, scoring normal readings with every
// kind bound does not allocate.
func TestAllKindsNoAllocations(t *testing.T) {
	a := newAllKinds(t, 400)
	for i := range 100 { // warm: first sight of every sensor
		a.r.score(&a.batches[i])
	}
	i := 100
	var found int
	allocs := testing.AllocsPerRun(200, func() {
		found += len(a.r.score(&a.batches[i%len(a.batches)]))
		i++
	})
	perReading := allocs / float64(len(a.batches[0].rows))
	t.Logf("%.3f allocations per round of %d readings (%d findings)", allocs, len(a.batches[0].rows), found)
	if found == 0 && allocs != 0 || perReading > 0.01 {
		t.Errorf("%.2f allocations per round of %d readings with %d findings", allocs, len(a.batches[0].rows), found)
	}
}

// BenchmarkScoreAllKinds is the ingest path's scoring of one request with
// an asset of each bound kind reporting a snapshot: an AI4I mill (5
// sensors, Isolation Forest), an Azure machine (25 sensors and 5 metadata
// features, failure classifier), a C-MAPSS engine (85 features, RUL point
// and interval models) and an IMS rig (12 indicators, bearing health), 127
// readings; with the threshold and robust-z detectors, as at ingest, and
// with the model detectors alone.
func BenchmarkScoreAllKinds(b *testing.B) {
	a := newAllKinds(b, 1000)
	n := len(a.batches[0].rows)
	for _, tc := range []struct {
		name string
		dets []Detector
	}{
		{"models", nil},
		{"threshold+robust-z+models", []Detector{Threshold{}, NewRobustZ(DefaultRobustThreshold, DefaultRobustAlpha)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := &Engine{Detectors: slices.Clone(tc.dets)}
			for _, d := range a.r.dets {
				e.Detectors = append(e.Detectors, d)
			}
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				if k > 0 && k%len(a.batches) == 0 {
					// A new lap: later timestamps, or the Engine would
					// answer from its memory of re-sent readings.
					lap := time.Duration(len(a.batches)) * time.Minute
					for _, bt := range a.batches {
						for i := range bt.rows {
							bt.rows[i].TS = bt.rows[i].TS.Add(lap)
						}
					}
				}
				bt := &a.batches[k%len(a.batches)]
				e.Score(tenantKinds, bt.rows, bt.sensors)
				k++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/reading")
		})
	}
}

// TestBindingChangesConcurrent: rebinding and promoting while readings of
// every kind are scored from several goroutines (run with -race).
func TestBindingChangesConcurrent(t *testing.T) {
	a := newAllKinds(t, 200)
	uf := kindtest.RUL(t)
	var done atomic.Bool
	var changes sync.WaitGroup
	changes.Go(func() {
		for i := 0; !done.Load(); i++ {
			th := float64(10 + i%40)
			a.r.bindings.set(binding.Binding{TenantID: tenantKinds, AssetType: typeEngine, Kind: modelkind.RUL, Model: "rul-turbofan", Threshold: &th})
			a.r.models.set(tenantKinds, "rul-turbofan", 2+i, uf.Model)
			time.Sleep(time.Millisecond)
		}
	})
	var readers sync.WaitGroup
	for g := range 4 {
		readers.Go(func() {
			for i := range 300 {
				b := &a.batches[(g*50+i)%len(a.batches)]
				for j := range b.rows {
					for _, d := range a.r.dets {
						d.Observe(Reading{Tenant: tenantKinds, Sensor: b.sensors[j], TS: b.rows[j].TS.Add(time.Duration(g) * time.Hour), Value: b.rows[j].Value})
					}
				}
			}
		})
	}
	readers.Wait()
	done.Store(true)
	changes.Wait()
}
