package gbdt

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/smartmaint/smartmaint/internal/ml/internal/ai4itest"
	"github.com/smartmaint/smartmaint/internal/ml/metrics"
)

// synthetic draws n rows of nf standard normal features labelled by label,
// with a share of labels flipped.
func synthetic(n, nf int, flip float64, seed uint64, label func(x []float64) bool) ([][]float64, []bool) {
	r := rand.New(rand.NewPCG(seed, 2))
	X := make([][]float64, n)
	y := make([]bool, n)
	for i := range X {
		X[i] = make([]float64, nf)
		for j := range X[i] {
			X[i][j] = r.NormFloat64()
		}
		y[i] = label(X[i]) != (r.Float64() < flip)
	}
	return X, y
}

func auc(t *testing.T, m *Model, X [][]float64, y []bool) float64 {
	t.Helper()
	s := make([]float64, len(X))
	for i, x := range X {
		s[i] = m.Score(x)
	}
	a, err := metrics.ROCAUC(y, s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestStump checks one boosting step by hand: base log-odds 0, so p = ½,
// g = p − y = ±½ and h = ¼ per row; each leaf is −η·G/H = ∓0.1·(1/0.5).
func TestStump(t *testing.T) {
	X := [][]float64{{0}, {0}, {1}, {1}}
	y := []bool{false, false, true, true}
	m, err := Train(X, y, Params{MaxIter: 1, MaxLeafNodes: 2, MinSamplesLeaf: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Raw([]float64{0}); math.Abs(got+0.2) > 1e-12 {
		t.Errorf("Raw(0) = %v, want -0.2", got)
	}
	if got := m.Raw([]float64{1}); math.Abs(got-0.2) > 1e-12 {
		t.Errorf("Raw(1) = %v, want 0.2", got)
	}
	// The split sits at the midpoint between the two values.
	if m.ens.Nodes[0].Value != 0.5 || m.Raw([]float64{0.5}) >= 0 || m.Raw([]float64{0.51}) <= 0 {
		t.Errorf("split at %v", m.ens.Nodes[0].Value)
	}
	if got, want := m.Score([]float64{1}), 1/(1+math.Exp(-0.2)); math.Abs(got-want) > 1e-12 {
		t.Errorf("Score(1) = %v, want %v", got, want)
	}
}

func TestLearns(t *testing.T) {
	tests := []struct {
		name  string
		label func(x []float64) bool
		floor float64
	}{
		{"linear", func(x []float64) bool { return x[0]+0.5*x[1] > 0.3 }, 0.93},
		// XOR needs an interaction no single split can express.
		{"xor", func(x []float64) bool { return (x[0] > 0) != (x[1] > 0) }, 0.93},
		// With 5% of labels flipped the Bayes-optimal AUC of this rule is
		// about 0.887 (16% positives before flipping).
		{"threshold on one of five", func(x []float64) bool { return x[3] > 1 }, 0.86},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			X, y := synthetic(4000, 5, 0.05, 1, tt.label)
			Xt, yt := synthetic(2000, 5, 0.05, 2, tt.label)
			m, err := Train(X, y, DefaultParams())
			if err != nil {
				t.Fatal(err)
			}
			if a := auc(t, m, Xt, yt); a < tt.floor {
				t.Errorf("held-out AUC %.4f, want >= %.2f", a, tt.floor)
			}
		})
	}
}

func TestEarlyStoppingOnNoise(t *testing.T) {
	X, y := synthetic(3000, 4, 0.5, 3, func(x []float64) bool { return x[0] > 0 }) // labels are coin flips
	p := DefaultParams()
	p.MaxIter = 200
	m, err := Train(X, y, p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Info().Iterations > 30 {
		t.Errorf("kept %d iterations on pure noise, want early stop", m.Info().Iterations)
	}
	if m.Info().ValidationLoss < 0.6 || m.Info().ValidationLoss > 0.75 {
		t.Errorf("validation loss %v on coin flips, want near ln 2", m.Info().ValidationLoss)
	}
	p.EarlyStopping = false
	p.MaxIter = 40
	calls := 0
	p.Progress = func(done, max int) { calls++ }
	m, err = Train(X, y, p)
	if err != nil {
		t.Fatal(err)
	}
	if m.Info().Iterations != 40 || calls != 40 {
		t.Errorf("without early stopping kept %d iterations, %d progress calls; want 40", m.Info().Iterations, calls)
	}
}

func TestClassWeightRaisesRecall(t *testing.T) {
	label := func(x []float64) bool { return x[0]+x[1] > 2.6 } // about 3% positive
	X, y := synthetic(6000, 3, 0.01, 4, label)
	Xt, yt := synthetic(6000, 3, 0.01, 5, label)
	recall := func(cw string) float64 {
		p := DefaultParams()
		p.ClassWeight = cw
		p.MaxLeafNodes = 4 // a weak learner underfits the rare class without weights
		p.MaxIter = 30
		p.EarlyStopping = false
		m, err := Train(X, y, p)
		if err != nil {
			t.Fatal(err)
		}
		s := make([]float64, len(Xt))
		for i, x := range Xt {
			s[i] = m.Score(x)
		}
		return metrics.AtThreshold(yt, s, 0.5).Recall()
	}
	plain, balanced := recall(""), recall("balanced")
	if balanced < plain+0.1 {
		t.Errorf("recall at 0.5: %.3f balanced vs %.3f unweighted, want a clear rise", balanced, plain)
	}
}

func TestDeterministic(t *testing.T) {
	X, y := synthetic(1000, 3, 0.1, 6, func(x []float64) bool { return x[0] > 0 })
	a, _ := Train(X, y, DefaultParams())
	b, _ := Train(X, y, DefaultParams())
	for _, x := range X[:50] {
		if a.Score(x) != b.Score(x) {
			t.Fatal("same data and seed, different scores")
		}
	}
}

func TestTrainErrors(t *testing.T) {
	X := [][]float64{{1}, {2}, {3}}
	tests := []struct {
		name string
		X    [][]float64
		y    []bool
		p    Params
	}{
		{"one class", X, []bool{true, true, true}, Params{}},
		{"length", X, []bool{true}, Params{}},
		{"nan", [][]float64{{1}, {math.NaN()}}, []bool{true, false}, Params{}},
		{"ragged", [][]float64{{1}, {1, 2}}, []bool{true, false}, Params{}},
		{"class weight", X, []bool{true, false, true}, Params{ClassWeight: "heavy"}},
		{"bins", X, []bool{true, false, true}, Params{MaxBins: 300}},
	}
	for _, tt := range tests {
		if _, err := Train(tt.X, tt.y, tt.p); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestBinEdges(t *testing.T) {
	if got := binEdges([]float64{3, 1, 2, 2, 1}, 255); len(got) != 2 || got[0] != 1.5 || got[1] != 2.5 {
		t.Errorf("edges of few distinct values = %v, want [1.5 2.5]", got)
	}
	col := make([]float64, 1000)
	for i := range col {
		col[i] = float64(i)
	}
	got := binEdges(col, 10)
	if len(got) != 9 || math.Abs(got[0]-99.9) > 0.5 || math.Abs(got[8]-899.1) > 0.5 {
		t.Errorf("quantile edges = %v", got)
	}
}

// roundTrip encodes m and decodes it again.
func roundTrip(t *testing.T, m *Model) *Model {
	t.Helper()
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var d Model
	if err := d.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	return &d
}

func TestMarshalRoundTrip(t *testing.T) {
	X, y := synthetic(1500, 4, 0.1, 7, func(x []float64) bool { return x[0]*x[1] > 0 })
	m, err := Train(X, y, DefaultParams())
	if err != nil {
		t.Fatal(err)
	}
	d := roundTrip(t, m)
	for _, x := range X {
		if d.Score(x) != m.Score(x) {
			t.Fatalf("score %v after round trip, %v before", d.Score(x), m.Score(x))
		}
	}
	if d.Info() != m.Info() || d.NumFeatures() != 4 || d.Params().MaxLeafNodes != 31 {
		t.Errorf("round trip lost info or params: %+v %+v", d.Info(), d.Params())
	}
	if err := d.UnmarshalBinary([]byte(`{"base_log_odds":0,"num_features":0}`)); err == nil {
		t.Error("model without features decoded")
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	X, y := synthetic(1000, 3, 0.1, 8, func(x []float64) bool { return x[0] > 0 })
	m, _ := Train(X, y, DefaultParams())
	if a := testing.AllocsPerRun(1000, func() { m.Score(X[1]) }); a != 0 {
		t.Errorf("Score allocates %v times", a)
	}
}

// TestAI4I trains on AI4I's process features (no failure modes) and checks
// the stratified 5-fold ROC AUC for the failure class.
func TestAI4I(t *testing.T) {
	X, y := ai4itest.Load(t)
	folds, err := metrics.StratifiedKFold(y, 5, 42)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for _, f := range folds {
		Xtr, ytr := pick(X, y, f.Train)
		Xte, yte := pick(X, y, f.Test)
		p := DefaultParams()
		p.Seed = 42
		m, err := Train(Xtr, ytr, p)
		if err != nil {
			t.Fatal(err)
		}
		mean += auc(t, m, Xte, yte) / float64(len(folds))
	}
	t.Logf("AI4I stratified 5-fold ROC AUC: %.4f", mean)
	if mean < 0.95 {
		t.Errorf("AI4I ROC AUC %.4f, want >= 0.95", mean)
	}
}

func pick(X [][]float64, y []bool, rows []int) ([][]float64, []bool) {
	px, py := make([][]float64, len(rows)), make([]bool, len(rows))
	for i, r := range rows {
		px[i], py[i] = X[r], y[r]
	}
	return px, py
}

func ai4iModel(b *testing.B) (*Model, [][]float64) {
	X, y := ai4itest.Load(b)
	p := DefaultParams()
	p.Seed = 42
	m, err := Train(X, y, p)
	if err != nil {
		b.Fatal(err)
	}
	return m, X
}

// BenchmarkScore is the per-reading scoring cost of a model trained on AI4I
// with the default parameters.
func BenchmarkScore(b *testing.B) {
	m, X := ai4iModel(b)
	ai4itest.Throughput(b, X, m.Score)
}

// BenchmarkScoreLatency reports the p50/p99 latency of single Score calls.
func BenchmarkScoreLatency(b *testing.B) {
	m, X := ai4iModel(b)
	ai4itest.Latency(b, X, m.Score)
}

// BenchmarkTrain is the cost of one default fit on all of AI4I.
func BenchmarkTrain(b *testing.B) {
	X, y := ai4itest.Load(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Train(X, y, DefaultParams()); err != nil {
			b.Fatal(err)
		}
	}
}
