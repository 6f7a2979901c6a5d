package rul

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// synthEngine is a run to failure of n cycles whose varying sensors drift
// linearly towards failure with noise.
func synthEngine(unit, n int, r *rand.Rand) dataset.CMAPSSEngine {
	e := dataset.CMAPSSEngine{Unit: unit}
	for c := 1; c <= n; c++ {
		var s [dataset.CMAPSSSensors]float64
		wear := math.Max(0, float64(c-n+120)) / 120
		for i := range s {
			s[i] = 100 + float64(i) + 3*wear*wear + 0.2*r.NormFloat64()
		}
		e.Cycles = append(e.Cycles, dataset.CMAPSSCycle{Unit: unit, Cycle: c, Sensors: s})
	}
	return e
}

func synthEngines(k int, seed uint64) []dataset.CMAPSSEngine {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([]dataset.CMAPSSEngine, k)
	for i := range out {
		out[i] = synthEngine(i+1, 130+r.IntN(150), r)
	}
	return out
}

// TestBuilderByHand checks the features of one sensor against direct
// computation over the window, and that other sensors do not leak into it.
func TestBuilderByHand(t *testing.T) {
	cfg := Config{Short: 3, Long: 5, Baseline: 2, Cap: 125}
	b, err := NewBuilder(cfg)
	if err != nil {
		t.Fatal(err)
	}
	vals := []float64{1, 4, 2, 8, 5, 7, 3}
	var x []float64
	for i, v := range vals {
		var s [dataset.CMAPSSSensors]float64
		s[Sensors[0]] = v
		s[Sensors[1]] = float64(i) * 100
		x = b.Update(&s)
	}
	// After seven cycles: long window 2 8 5 7 3, short 5 7 3, baseline
	// (1+4)/2, all-history slope of 1 4 2 8 5 7 3 over 0..6.
	want := map[string]float64{
		"age":           7,
		"s2_mean_short": 5,
		"s2_mean_long":  5,
		"s2_std_long":   math.Sqrt((9 + 9 + 0 + 4 + 4) / 5.0),
		"s2_slope_long": (2*-2 + 8*-1 + 0 + 7*1 + 3*2) / 10.0,
		"s2_slope_all":  (1*-3 + 4*-2 + 2*-1 + 0 + 5*1 + 7*2 + 3*3) / 28.0,
		"s2_drift":      5 - 2.5,
	}
	names := FeatureNames()
	if len(names) != NumFeatures() || len(x) != NumFeatures() {
		t.Fatalf("%d names, %d features, NumFeatures %d", len(names), len(x), NumFeatures())
	}
	for i, n := range names {
		if w, ok := want[n]; ok && math.Abs(x[i]-w) > 1e-12 {
			t.Errorf("%s = %v, want %v", n, x[i], w)
		}
	}
	b.Reset()
	var s [dataset.CMAPSSSensors]float64
	s[Sensors[0]] = 9
	x = b.Update(&s)
	if x[0] != 1 || x[1] != 9 || x[4] != 0 || x[6] != 0 {
		t.Errorf("after Reset and one cycle: %v", x[:7])
	}
	if _, err := NewBuilder(Config{Short: 10, Long: 5}); err == nil {
		t.Error("short window longer than the long one accepted")
	}
}

func TestBuilderDoesNotAllocate(t *testing.T) {
	b, err := NewBuilder(Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := synthEngine(1, 200, rand.New(rand.NewPCG(1, 1)))
	i := 0
	if a := testing.AllocsPerRun(500, func() {
		b.Update(&e.Cycles[i%len(e.Cycles)].Sensors)
		i++
	}); a != 0 {
		t.Errorf("Update allocates %v times", a)
	}
}

// TestStreamingMatchesBatch: the features of a cycle do not depend on the
// cycles after it, so the last-cycle features of a truncated engine equal
// the full engine's row at that cycle.
func TestStreamingMatchesBatch(t *testing.T) {
	engines := synthEngines(3, 2)
	rows, err := TrainingRows(engines, Config{})
	if err != nil {
		t.Fatal(err)
	}
	cut := []dataset.CMAPSSEngine{{Unit: 2, Cycles: engines[1].Cycles[:57]}}
	last, err := LastFeatures(cut, Config{})
	if err != nil {
		t.Fatal(err)
	}
	row := len(engines[0].Cycles) + 56
	for j, v := range last[0] {
		if rows.X[row][j] != v {
			t.Fatalf("feature %s: %v streamed, %v in the training rows", FeatureNames()[j], v, rows.X[row][j])
		}
	}
	n := len(engines[0].Cycles)
	if rows.TrueRUL[0] != float64(n-1) || rows.Y[0] != min(float64(n-1), 125) || rows.Y[n-1] != 0 || rows.Engine[n] != 1 {
		t.Errorf("targets: true %v capped %v last %v engine %d", rows.TrueRUL[0], rows.Y[0], rows.Y[n-1], rows.Engine[n])
	}
}

func TestTarget(t *testing.T) {
	for _, tt := range []struct{ left, cap, want float64 }{{0, 125, 0}, {80, 125, 80}, {125, 125, 125}, {300, 125, 125}, {140, 130, 130}} {
		if got := Target(tt.left, tt.cap); got != tt.want {
			t.Errorf("Target(%v, %v) = %v, want %v", tt.left, tt.cap, got, tt.want)
		}
	}
}

func TestPHM08AndScore(t *testing.T) {
	for _, tt := range []struct{ d, want float64 }{{0, 0}, {-13, math.E - 1}, {10, math.E - 1}, {20, math.Exp(2) - 1}} {
		if got := PHM08(tt.d); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("PHM08(%v) = %v, want %v", tt.d, got, tt.want)
		}
	}
	units := []Unit{{RUL: 100, Lower: 90, Upper: 125}, {RUL: 20, Lower: 15, Upper: 30}, {RUL: 50, Lower: 40, Upper: 60}}
	m, err := Score(units, []float64{140, 10, 50}, 125)
	if err != nil {
		t.Fatal(err)
	}
	// Errors −40, +10, 0; the first engine's capped truth 125 is inside
	// its interval, its true 140 is not; the second's 10 is outside.
	if math.Abs(m.RMSE-math.Sqrt(1700.0/3)) > 1e-9 || math.Abs(m.PHM08-(math.Exp(40.0/13)-1+math.E-1)) > 1e-9 {
		t.Errorf("RMSE %v PHM08 %v", m.RMSE, m.PHM08)
	}
	if m.Coverage != 2.0/3 || m.CoverageUncapped != 1.0/3 || math.Abs(m.MeanWidth-70.0/3) > 1e-9 {
		t.Errorf("coverage %v, uncapped %v, width %v", m.Coverage, m.CoverageUncapped, m.MeanWidth)
	}
	if _, err := Score(units, []float64{1}, 125); err == nil {
		t.Error("mismatched lengths accepted")
	}
}

func TestConformal(t *testing.T) {
	s := []float64{5, 1, 4, 2, 3, 9, 8, 7, 6, 10}
	// ⌈11·0.8⌉ = 9: the ninth smallest.
	if got := conformal(s, 0.8); got != 9 {
		t.Errorf("conformal = %v, want 9", got)
	}
	if got := conformal(s, 0.99); got != 10 {
		t.Errorf("conformal(0.99) = %v, want 10", got)
	}
}

func TestWeightedConformal(t *testing.T) {
	for _, tt := range []struct {
		name     string
		s, w     []float64
		coverage float64
		want     float64
	}{
		// Equal weights are the unweighted quantile, whatever their size.
		{"equal", []float64{5, 1, 4, 2, 3, 9, 8, 7, 6, 10}, []float64{.5, .5, .5, .5, .5, .5, .5, .5, .5, .5}, 0.8, 9},
		// Total 4, mean weight 1: the cumulative weight must reach
		// 0.5·5 = 2.5, which the score 1 (weight 3) does alone.
		{"heavy small score", []float64{1, 2}, []float64{3, 1}, 0.5, 1},
		// Weight 1 then 3 reaches 2.5 only with the score 2.
		{"heavy large score", []float64{1, 2}, []float64{1, 3}, 0.5, 2},
		// Zero weights are left out.
		{"zero weight", []float64{100, 1, 2}, []float64{0, 1, 1}, 0.5, 2},
	} {
		if got := weightedConformal(tt.s, tt.w, tt.coverage); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestCalibWeights: under CalibrateEngines every engine weighs 1, under
// CalibrateCuts each engine's weights are counts summing to Cuts, and
// under CalibrateCycles every cycle weighs 1.
func TestCalibWeights(t *testing.T) {
	engineLen := []int{3, 5, 2}
	var rows []heldOut
	for e, n := range engineLen {
		for p := 0; p < n; p++ {
			rows = append(rows, heldOut{engine: e, position: p})
		}
	}
	for _, tt := range []struct {
		c    Calibration
		want []float64 // total weight per engine
	}{{CalibrateCycles, []float64{3, 5, 2}}, {CalibrateEngines, []float64{1, 1, 1}}, {CalibrateCuts, []float64{4, 4, 4}}} {
		w := calibWeights(rows, engineLen, tt.c, 4, 9)
		got := make([]float64, len(engineLen))
		for i, r := range rows {
			got[r.engine] += w[i]
		}
		for e := range got {
			if math.Abs(got[e]-tt.want[e]) > 1e-12 {
				t.Errorf("%s: engine weights %v, want %v", tt.c, got, tt.want)
				break
			}
		}
	}
}

func TestFolds(t *testing.T) {
	f := Folds(103, 5, 7)
	count := make([]int, 5)
	for _, v := range f {
		count[v]++
	}
	for _, c := range count {
		if c < 20 || c > 21 {
			t.Errorf("fold sizes %v", count)
		}
	}
}

// smallOptions train quickly for the tests.
func smallOptions() Options {
	p := DefaultParams()
	p.MaxIter, p.LearningRate, p.MaxLeafNodes = 60, 0.15, 7
	return Options{Params: p, Folds: 3, Seed: 1}
}

// TestTrainInvariants trains on synthetic engines and checks the
// interval's invariants, calibration coverage, held-out accuracy, the
// model file round trip and that Predict does not allocate.
func TestTrainInvariants(t *testing.T) {
	m, err := Train(context.Background(), synthEngines(30, 3), smallOptions())
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.Info.CVCoverage-0.8) > 0.02 || m.Info.Rows == 0 || m.Info.Engines != 30 || m.Info.Calibration != CalibrateEngines {
		t.Errorf("info %+v", m.Info)
	}
	// The test-like held-out coverage is not forced by construction, but
	// with margins from other engines of the same population it stays
	// near the nominal 0.8.
	if c := m.Info.CutCoverage; c < 0.7 || c > 0.9 || len(m.Info.CutCV) != 6 {
		t.Errorf("test-like held-out coverage %v, %d methods", c, len(m.Info.CutCV))
	}
	test := synthEngines(40, 4)
	for i := range test {
		// Cut each test engine short of its failure.
		test[i].Cycles = test[i].Cycles[:len(test[i].Cycles)-5-3*i]
	}
	truth := make([]int, len(test))
	for i := range truth {
		truth[i] = 5 + 3*i
	}
	units, met, err := Evaluate(m, test, truth)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if !(0 <= u.Lower && u.Lower <= u.RUL && u.RUL <= u.Upper && u.RUL <= m.Config.Cap) {
			t.Errorf("unit %d: rul %v interval [%v, %v]", u.Unit, u.RUL, u.Lower, u.Upper)
		}
	}
	// The synthetic wear shows from 120 cycles before failure; noise
	// keeps the estimate within about twenty cycles.
	if met.RMSE > 25 || met.Coverage < 0.55 {
		t.Errorf("synthetic test: %+v", met)
	}
	b, err := modelfile.Marshal(modelfile.Model{Meta: modelfile.Metadata{FeatureNames: FeatureNames()}, Scorer: m})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`{"kind":"rul"`)) {
		t.Errorf("file starts %q", b[:40])
	}
	back, err := modelfile.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	bm, ok := back.Scorer.(*Model)
	if !ok {
		t.Fatalf("decoded a %T", back.Scorer)
	}
	x, _ := LastFeatures(test[:1], m.Config)
	r0, l0, u0 := m.Predict(x[0])
	if r1, l1, u1 := bm.Predict(x[0]); r0 != r1 || l0 != l1 || u0 != u1 || bm.Margin != m.Margin {
		t.Errorf("after round trip %v %v %v, before %v %v %v", r1, l1, u1, r0, l0, u0)
	}
	// A file written before the calibration was recorded still loads
	// and predicts the same.
	body, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	old := bytes.ReplaceAll(body, []byte(`"calibration":"engines",`), nil)
	if len(old) == len(body) {
		t.Error("the model body does not record the calibration")
	}
	om := new(Model)
	if err := om.UnmarshalBinary(old); err != nil {
		t.Fatalf("body without the calibration: %v", err)
	}
	if r1, l1, u1 := om.Predict(x[0]); r0 != r1 || l0 != l1 || u0 != u1 {
		t.Errorf("old file: %v %v %v, want %v %v %v", r1, l1, u1, r0, l0, u0)
	}
	if a := testing.AllocsPerRun(100, func() { m.Predict(x[0]) }); a != 0 {
		t.Errorf("Predict allocates %v times", a)
	}
	if err := new(Model).UnmarshalBinary([]byte(`{"config":{"short":10,"long":30,"baseline":15,"cap":125},"coverage":0.8,"point":{}}`)); err == nil {
		t.Error("incomplete model decoded")
	}
}

// TestFD001 trains on a third of FD001's training engines with a small
// model and checks the test figures are sensible (the full model's are in
// docs/ML.md).
func TestFD001(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on FD001")
	}
	f, err := FD001()
	if err != nil {
		t.Fatal(err)
	}
	train, err := dataset.LoadCMAPSSEngines(f.Train)
	if err != nil {
		t.Fatal(err)
	}
	test, err := dataset.LoadCMAPSSEngines(f.Test)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := dataset.LoadCMAPSSRUL(f.RUL)
	if err != nil {
		t.Fatal(err)
	}
	o := smallOptions()
	o.Params.MaxIter = 40
	m, err := Train(context.Background(), train[:34], o)
	if err != nil {
		t.Fatal(err)
	}
	_, met, err := Evaluate(m, test, truth)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("FD001 test with 34 training engines: %+v", *met)
	// A constant guess of the mean capped RUL scores about 41; anything
	// learning the wear does far better.
	if met.RMSE > 22 || met.Coverage < 0.55 || met.Coverage > 0.97 {
		t.Errorf("FD001 test: %+v", *met)
	}
}

// TestFD001Report trains the full model with the default options and
// prints its figures, the ones docs/ML.md records; it runs only when
// SMARTMAINT_RUL_REPORT is "cv" (training engines only: the held-out
// calibration figures) or "test" (also the FD001 test figures). The seed
// is SMARTMAINT_RUL_SEED, by default smartmaint train's 42:
//
//	SMARTMAINT_RUL_REPORT=test go test ./internal/ml/rul -run TestFD001Report -v
func TestFD001Report(t *testing.T) {
	mode := os.Getenv("SMARTMAINT_RUL_REPORT")
	if mode != "cv" && mode != "test" {
		t.Skip("SMARTMAINT_RUL_REPORT is not cv or test")
	}
	f, err := FD001()
	if err != nil {
		t.Fatal(err)
	}
	if mode == "cv" {
		f.Test, f.RUL = "", ""
	}
	seed := uint64(42)
	if v := os.Getenv("SMARTMAINT_RUL_SEED"); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatalf("SMARTMAINT_RUL_SEED: %v", err)
		}
	}
	res, err := Run(context.Background(), f, Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	if c := res.Info.CutCoverage; c < 0.7 || c > 0.9 {
		t.Errorf("test-like held-out coverage %.3f", c)
	}
}

// TestTrainRows: prepared rows train the same model as Train on the
// engines they come from, and rows that are not grouped by run, or too
// few runs for the folds, are refused.
func TestTrainRows(t *testing.T) {
	engines := synthEngines(8, 5)
	o := smallOptions()
	o.Params.MaxIter = 10
	want, err := Train(context.Background(), engines, o)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := TrainingRows(engines, o.Config)
	if err != nil {
		t.Fatal(err)
	}
	got, err := TrainRows(context.Background(), rows, o)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := LastFeatures(engines[:1], DefaultConfig())
	r0, l0, u0 := want.Predict(x[0])
	if r1, l1, u1 := got.Predict(x[0]); r0 != r1 || l0 != l1 || u0 != u1 || got.Margin != want.Margin || got.Info.Engines != 8 || got.Info.Rows != want.Info.Rows {
		t.Errorf("from rows %v %v %v (%+v), from engines %v %v %v", r1, l1, u1, got.Info, r0, l0, u0)
	}
	swapped := *rows
	swapped.Engine = slices.Clone(rows.Engine)
	swapped.Engine[0] = 1
	short := *rows
	short.X = rows.X[:1]
	for _, c := range []struct {
		name string
		rows *Rows
		o    Options
	}{
		{"runs out of order", &swapped, o},
		{"lengths differ", &short, o},
		{"no rows", new(Rows), o},
		{"more folds than runs", rows, Options{Params: o.Params, Folds: 9}},
	} {
		if _, err := TrainRows(context.Background(), c.rows, c.o); err == nil {
			t.Errorf("%s: trained", c.name)
		}
	}
}
