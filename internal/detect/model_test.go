package detect

import (
	"context"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// millFeatures are the simulator's sensor ids, the features of the models.
var millFeatures = []string{"air_temp", "process_temp", "speed", "torque", "tool_wear"}

// models is a ModelSource the test swaps versions in, as a Loader does.
type models struct {
	mu sync.Mutex
	m  atomic.Pointer[map[string]*registry.Loaded[modelfile.Model]]
}

func (s *models) Get(tenant, name string) (*registry.Loaded[modelfile.Model], bool) {
	p := s.m.Load()
	if p == nil {
		return nil, false
	}
	l, ok := (*p)[tenant+"/"+name]
	return l, ok
}

func (s *models) set(tenant, name string, version int, m modelfile.Model) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[string]*registry.Loaded[modelfile.Model]{}
	if p := s.m.Load(); p != nil {
		for k, v := range *p {
			next[k] = v
		}
	}
	next[tenant+"/"+name] = &registry.Loaded[modelfile.Model]{Model: m, Version: registry.Version{TenantID: tenant, Name: name, Version: version}}
	s.m.Store(&next)
}

// assets is an AssetSource over a fixed set.
type assets struct {
	gen  atomic.Uint64
	mu   sync.Mutex
	byID map[string]*store.Asset
}

func newAssets(list ...store.Asset) *assets {
	a := &assets{byID: map[string]*store.Asset{}}
	for i := range list {
		a.byID[list[i].ID] = &list[i]
	}
	return a
}

func (a *assets) Asset(_, id string) (*store.Asset, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	x, ok := a.byID[id]
	return x, ok
}

func (a *assets) Generation() uint64 { return a.gen.Load() }

// countingScorer counts Score calls.
type countingScorer struct {
	modelfile.Scorer
	n atomic.Int64
}

func (c *countingScorer) Score(x []float64) float64 { c.n.Add(1); return c.Scorer.Score(x) }

var (
	ai4iOnce   sync.Once
	ai4iRows   [][]float64
	ai4iForest *iforest.Forest
	ai4iErr    error
)

// ai4iModel is an Isolation Forest on AI4I's five process features, named
// as the simulator's sensors, with 1% contamination.
func ai4iModel(tb testing.TB) (modelfile.Model, [][]float64) {
	tb.Helper()
	ai4iOnce.Do(func() {
		path, err := dataset.AI4IPath()
		if err != nil {
			ai4iErr = err
			return
		}
		recs, err := dataset.LoadAI4I(path)
		if err != nil {
			ai4iErr = err
			return
		}
		for _, r := range recs {
			ai4iRows = append(ai4iRows, []float64{r.AirTempK, r.ProcessTemp, r.RPM, r.TorqueNm, r.ToolWearMin})
		}
		ai4iForest, ai4iErr = iforest.Train(ai4iRows, iforest.Params{Contamination: 0.01, Seed: 1})
	})
	if ai4iErr != nil {
		tb.Fatal(ai4iErr)
	}
	return modelfile.Model{Meta: modelfile.Metadata{FeatureNames: millFeatures, Threshold: ai4iForest.Threshold()}, Scorer: ai4iForest}, ai4iRows
}

type rig struct {
	d       *Model
	models  *models
	sensors map[string]*store.Sensor // asset/sensor
}

// millRig is a rig over mill with the AI4I model as version v of the
// champion of its type, and the model's training rows.
func millRig(t testing.TB, v int) (*rig, [][]float64) {
	m, rows := ai4iModel(t)
	r := newRig(t, 0, mill)
	r.models.set("acme", ModelName(mill.Type), v, m)
	return r, rows
}

// millsRig is a rig over n milling machines, mill-01 on, with the AI4I
// model as v1 of their type's champion; it returns them and the model's
// training rows too.
func millsRig(tb testing.TB, n int) (*rig, []store.Asset, [][]float64) {
	m, rows := ai4iModel(tb)
	var list []store.Asset
	for i := range n {
		list = append(list, store.Asset{ID: "mill-0" + string(rune('1'+i)), Type: "milling-machine"})
	}
	r := newRig(tb, 0, list...)
	r.models.set("acme", ModelName("milling-machine"), 1, m)
	return r, list, rows
}

func newRig(t testing.TB, window time.Duration, list ...store.Asset) *rig {
	r := &rig{models: &models{}, sensors: map[string]*store.Sensor{}}
	r.d = NewModel(r.models, newAssets(list...), window)
	key := int64(0)
	for _, a := range list {
		for _, id := range append(slices.Clone(millFeatures), "vibration") {
			key++
			r.sensors[a.ID+"/"+id] = &store.Sensor{Key: key, AssetID: a.ID, ID: id}
		}
	}
	return r
}

// snapshot sends one reading per feature sensor of asset at ts and returns
// the findings, one per reading.
func (r *rig) snapshot(asset string, ts time.Time, x []float64) []Finding {
	out := make([]Finding, len(x))
	for i, v := range x {
		out[i] = r.d.Observe(Reading{Tenant: "acme", Sensor: r.sensors[asset+"/"+millFeatures[i]], TS: ts, Value: v})
	}
	return out
}

func anomalous(fs []Finding) []int {
	var idx []int
	for i, f := range fs {
		if f.Anomalous {
			idx = append(idx, i)
		}
	}
	return idx
}

var mill = store.Asset{ID: "mill-01", Type: "milling-machine"}

func TestModelSilentWithoutChampion(t *testing.T) {
	r := newRig(t, 0, mill)
	// No champion at all, then a champion of another asset type.
	if got := anomalous(r.snapshot("mill-01", time.Unix(1000, 0), []float64{400, 400, 9000, 150, 900})); got != nil {
		t.Fatalf("findings without a champion: %v", got)
	}
	m, _ := ai4iModel(t)
	r.models.set("acme", ModelName("pump"), 1, m)
	if got := anomalous(r.snapshot("mill-01", time.Unix(1001, 0), []float64{400, 400, 9000, 150, 900})); got != nil {
		t.Fatalf("findings from another type's champion: %v", got)
	}
}

func TestModelScoresOncePerSnapshot(t *testing.T) {
	m, rows := ai4iModel(t)
	cs := &countingScorer{Scorer: m.Scorer}
	m.Scorer = cs
	r := newRig(t, 0, mill)
	r.models.set("acme", ModelName(mill.Type), 1, m)
	t0 := time.Unix(1000, 0)

	for i := range 10 {
		r.snapshot("mill-01", t0.Add(time.Duration(i)*time.Second), rows[i])
	}
	if n := cs.n.Load(); n != 10 {
		t.Fatalf("10 snapshots of 5 readings scored %d times, want 10", n)
	}
	// A sensor reporting twice before the others does not score again.
	ts := t0.Add(time.Minute)
	s := func(id string) *store.Sensor { return r.sensors["mill-01/"+id] }
	r.d.Observe(Reading{Tenant: "acme", Sensor: s("torque"), TS: ts, Value: 40})
	r.d.Observe(Reading{Tenant: "acme", Sensor: s("torque"), TS: ts.Add(time.Second), Value: 41})
	if n := cs.n.Load(); n != 10 {
		t.Fatalf("partial snapshot scored: %d", n)
	}
	// A sensor that is not a feature is ignored.
	if f := r.d.Observe(Reading{Tenant: "acme", Sensor: s("vibration"), TS: ts, Value: 1e9}); f.Anomalous {
		t.Fatalf("non-feature sensor flagged: %+v", f)
	}
	// An older value than the held one is ignored.
	r.d.Observe(Reading{Tenant: "acme", Sensor: s("torque"), TS: ts.Add(-time.Hour), Value: 1e9})
	for _, id := range []string{"air_temp", "process_temp", "speed", "tool_wear"} {
		r.d.Observe(Reading{Tenant: "acme", Sensor: s(id), TS: ts.Add(2 * time.Second), Value: rows[0][slices.Index(millFeatures, id)]})
	}
	if n := cs.n.Load(); n != 11 {
		t.Fatalf("completed snapshot scored %d times in total, want 11", n)
	}
}

func TestModelFlagsAbnormalSnapshots(t *testing.T) {
	r, rows := millRig(t, 3)
	t0 := time.Unix(1000, 0)

	// The training rows: about the contamination share is flagged.
	flagged := 0
	for i, x := range rows[:2000] {
		fs := r.snapshot("mill-01", t0.Add(time.Duration(i)*time.Second), x)
		idx := anomalous(fs)
		if len(idx) > 0 {
			flagged++
			if !slices.Equal(idx, []int{4}) {
				t.Fatalf("row %d: findings on readings %v, want only the one completing the snapshot", i, idx)
			}
		}
	}
	if rate := float64(flagged) / 2000; rate > 0.03 {
		t.Errorf("%.1f%% of training rows flagged, want about 1%%", 100*rate)
	}

	// An overloaded spindle: high torque at low speed.
	fs := r.snapshot("mill-01", t0.Add(time.Hour), []float64{295, 305, 1100, 95, 240})
	f := fs[4]
	if !f.Anomalous {
		t.Fatalf("abnormal snapshot not flagged: %+v", fs)
	}
	if !strings.Contains(f.Reason, "iforest-milling-machine v3") || !strings.Contains(f.Reason, "torque=95") {
		t.Errorf("reason %q does not name the model version and values", f.Reason)
	}
	if f.Score < 0.5 || f.Score > 1 || f.Severity.Rank() < anomaly.Minor.Rank() {
		t.Errorf("finding %+v", f)
	}
}

func TestModelWindow(t *testing.T) {
	m, rows := ai4iModel(t)
	r := newRig(t, 10*time.Second, mill)
	cs := &countingScorer{Scorer: m.Scorer}
	m.Scorer = cs
	r.models.set("acme", ModelName(mill.Type), 1, m)
	t0 := time.Unix(1000, 0)
	s := func(id string) *store.Sensor { return r.sensors["mill-01/"+id] }
	// air_temp is a minute older than the rest: no score until it reports.
	r.d.Observe(Reading{Tenant: "acme", Sensor: s("air_temp"), TS: t0, Value: rows[0][0]})
	for i, id := range millFeatures[1:] {
		r.d.Observe(Reading{Tenant: "acme", Sensor: s(id), TS: t0.Add(time.Minute), Value: rows[0][i+1]})
	}
	if n := cs.n.Load(); n != 0 {
		t.Fatalf("scored a vector spread over a minute with a 10s window")
	}
	r.d.Observe(Reading{Tenant: "acme", Sensor: s("air_temp"), TS: t0.Add(time.Minute + time.Second), Value: rows[0][0]})
	if n := cs.n.Load(); n != 1 {
		t.Fatalf("scored %d times once the stale feature reported, want 1", n)
	}
}

func TestModelPromotionRebindsFeatures(t *testing.T) {
	m, rows := ai4iModel(t)
	r := newRig(t, 0, mill)
	name := ModelName(mill.Type)
	r.models.set("acme", name, 1, m)
	t0 := time.Unix(1000, 0)
	bad := []float64{295, 305, 1100, 95, 240}
	if f := r.snapshot("mill-01", t0, bad)[4]; !strings.Contains(f.Reason, " v1 ") {
		t.Fatalf("v1 finding %+v", f)
	}

	// v2 takes the features in another order and one metadata feature.
	order := []int{3, 2, 0, 1, 4}
	names := []string{"asset.variant=L"}
	var X [][]float64
	for _, row := range rows {
		x := []float64{1}
		for _, j := range order {
			x = append(x, row[j])
		}
		X = append(X, x)
	}
	for _, j := range order {
		names = append(names, millFeatures[j])
	}
	f2, err := iforest.Train(X, iforest.Params{Contamination: 0.01, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.models.set("acme", name, 2, modelfile.Model{Meta: modelfile.Metadata{FeatureNames: names, Threshold: f2.Threshold()}, Scorer: f2})
	// The asset has no variant: the one-hot is 0, unlike training, so even
	// a normal row looks odd; the abnormal one surely does.
	f := r.snapshot("mill-01", t0.Add(time.Second), bad)[4]
	if !f.Anomalous || !strings.Contains(f.Reason, " v2 ") {
		t.Fatalf("after promotion: %+v", f)
	}
	if !strings.Contains(f.Reason, "torque=95, speed=1100, air_temp=295") || strings.Contains(f.Reason, "asset.") {
		t.Errorf("reason %q: want the sensor features in v2's order", f.Reason)
	}
}

func TestModelMetadataFeatures(t *testing.T) {
	tests := []struct {
		meta map[string]any
		spec string
		want float64
		ok   bool
	}{
		{map[string]any{"variant": "L"}, "variant=L", 1, true},
		{map[string]any{"variant": "M"}, "variant=L", 0, true},
		{nil, "variant=L", 0, true},
		{map[string]any{"rated_kw": 7.5}, "rated_kw", 7.5, true},
		{map[string]any{"rated_kw": "7.5"}, "rated_kw", 7.5, true},
		{map[string]any{"rated_kw": "high"}, "rated_kw", 0, false},
		{nil, "rated_kw", 0, false},
	}
	for _, tt := range tests {
		got, ok := MetadataValue(tt.meta, tt.spec)
		if got != tt.want || ok != tt.ok {
			t.Errorf("%v %q = %v, %v; want %v, %v", tt.meta, tt.spec, got, ok, tt.want, tt.ok)
		}
	}
	// A model whose metadata feature the asset cannot provide stays silent.
	f, err := iforest.Train([][]float64{{1, 2, 3, 4, 5, 6}, {2, 3, 4, 5, 6, 7}, {3, 4, 5, 6, 7, 8}}, iforest.Params{Trees: 5})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, 0, mill)
	r.models.set("acme", ModelName(mill.Type), 1, modelfile.Model{Meta: modelfile.Metadata{FeatureNames: append([]string{"asset.rated_kw"}, millFeatures...), Threshold: 0.01}, Scorer: f})
	if got := anomalous(r.snapshot("mill-01", time.Unix(1, 0), []float64{400, 400, 9000, 150, 900})); got != nil {
		t.Errorf("scored without the metadata feature: %v", got)
	}
}

func TestModelUnknownAsset(t *testing.T) {
	r, _ := millRig(t, 1)
	s := &store.Sensor{Key: 999, AssetID: "ghost", ID: "torque"}
	if f := r.d.Observe(Reading{Tenant: "acme", Sensor: s, TS: time.Unix(1, 0), Value: 1e9}); f.Anomalous {
		t.Fatalf("unknown asset flagged: %+v", f)
	}
}

func TestModelNoAllocations(t *testing.T) {
	r, rows := millRig(t, 1)
	t0 := time.Unix(1000, 0)
	normal := rows[:50]
	i := 0
	allocs := testing.AllocsPerRun(200, func() {
		x := normal[i%len(normal)]
		for j, v := range x {
			r.d.Observe(Reading{Tenant: "acme", Sensor: r.sensors["mill-01/"+millFeatures[j]], TS: t0.Add(time.Duration(i) * time.Second), Value: v})
		}
		i++
	})
	// Findings format a reason; the training rows' few anomalies may be
	// among these, so allow for one in 50 snapshots.
	if allocs > 0.5 {
		t.Errorf("%.2f allocations per snapshot", allocs)
	}
}

func TestModelConcurrent(t *testing.T) {
	m, rows := ai4iModel(t)
	list := []store.Asset{}
	for i := range 8 {
		list = append(list, store.Asset{ID: "mill-0" + string(rune('0'+i)), Type: "milling-machine"})
	}
	r := newRig(t, 0, list...)
	r.models.set("acme", ModelName("milling-machine"), 1, m)
	var wg sync.WaitGroup
	var done atomic.Bool
	wg.Go(func() { // promotions meanwhile
		for v := 2; !done.Load(); v++ {
			r.models.set("acme", ModelName("milling-machine"), v, m)
			time.Sleep(time.Millisecond)
		}
	})
	var readers sync.WaitGroup
	for g := range 4 {
		readers.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for i := range 2000 {
				a := list[rng.IntN(len(list))].ID
				x := rows[rng.IntN(len(rows))]
				j := rng.IntN(len(x))
				r.d.Observe(Reading{Tenant: "acme", Sensor: r.sensors[a+"/"+millFeatures[j]], TS: time.Unix(int64(i), 0), Value: x[j]})
			}
		})
	}
	readers.Wait()
	done.Store(true)
	wg.Wait()
}

// BenchmarkModelObserve is the detector's cost per reading on the ingest
// path: 6 milling machines reporting 5 sensors each, AI4I records, a
// 100-tree forest. It reports the mean and the p50/p99 latency of single
// Observe calls (timed individually, so they include ~30 ns of clock
// reads).
func BenchmarkModelObserve(b *testing.B) {
	r, list, rows := millsRig(b, 6)
	type in struct {
		s *store.Sensor
		v float64
	}
	var readings []in
	for i := range 1000 {
		a := list[i%len(list)].ID
		for j, v := range rows[i] {
			readings = append(readings, in{r.sensors[a+"/"+millFeatures[j]], v})
		}
	}
	lat := make([]time.Duration, 0, 1<<20)
	t0 := time.Unix(1000, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x := readings[i%len(readings)]
		rd := Reading{Tenant: "acme", Sensor: x.s, TS: t0.Add(time.Duration(i/30) * time.Second), Value: x.v}
		start := time.Now()
		r.d.Observe(rd)
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
		i++
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
		b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(lat[len(lat)-1-len(lat)/10000].Nanoseconds()), "p99.99-ns")
	}
}

// BenchmarkEngineScore is the whole scoring step of one ingest request of
// 30 readings (6 machines × 5 sensors), with and without the model
// detector (and the other kinds' detectors, unbound), per reading.
func BenchmarkEngineScore(b *testing.B) {
	r, list, rows := millsRig(b, 6)
	batches := make([][]store.Reading, 200)
	sensors := make([]*store.Sensor, 0, 30)
	for _, a := range list {
		for _, id := range millFeatures {
			sensors = append(sensors, r.sensors[a.ID+"/"+id])
		}
	}
	t0 := time.Unix(1000, 0)
	for k := range batches {
		for ai := range list {
			for j := range millFeatures {
				batches[k] = append(batches[k], store.Reading{SensorKey: sensors[ai*5+j].Key, Value: rows[k*6+ai][j]})
			}
		}
	}
	for _, tc := range []struct {
		name string
		dets []Detector
	}{
		{"threshold+robust-z", []Detector{Threshold{}, NewRobustZ(6, 0.05)}},
		{"threshold+robust-z+model", []Detector{Threshold{}, NewRobustZ(6, 0.05), r.d}},
		// The other kinds' detectors, with nothing bound: their cost for
		// asset types that use only the anomaly model.
		{"threshold+robust-z+model+3 unbound kinds", []Detector{Threshold{}, NewRobustZ(6, 0.05), r.d,
			NewBound(modelkind.FailureRisk, r.models, r.d.assets, nil, 0), NewBound(modelkind.RUL, r.models, r.d.assets, nil, 0),
			NewBound(modelkind.BearingHealth, r.models, r.d.assets, nil, 0)}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			e := &Engine{Detectors: tc.dets}
			k := 0
			for b.Loop() {
				batch := batches[k%len(batches)]
				ts := t0.Add(time.Duration(k) * time.Second)
				for i := range batch {
					batch[i].TS = ts
				}
				e.Score("acme", batch, sensors)
				k++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*30), "ns/reading")
		})
	}
}

func TestAssetCache(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "mill-01", Type: "milling-machine", Metadata: map[string]any{"variant": "L"}}); err != nil {
		t.Fatal(err)
	}
	c := NewAssetCache(db, time.Hour)
	a, ok := c.Asset("acme", "mill-01")
	if !ok || a.Type != "milling-machine" || a.Metadata["variant"] != "L" {
		t.Fatalf("mill-01: %+v %v", a, ok)
	}
	gen := c.Generation()
	if _, ok := c.Asset("rival", "mill-01"); ok {
		t.Error("another tenant's asset found")
	}
	// A new asset is found by the background reload a miss starts, at most
	// once a second.
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "mill-02", Type: "milling-machine"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if a, ok := c.Asset("acme", "mill-02"); ok {
			if a.ID != "mill-02" || c.Generation() <= gen {
				t.Errorf("mill-02 %+v, generation %d after %d", a, c.Generation(), gen)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new asset not found within 5s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
