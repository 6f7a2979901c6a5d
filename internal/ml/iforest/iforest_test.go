package iforest

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/smartmaint/smartmaint/internal/ml/internal/ai4itest"
	"github.com/smartmaint/smartmaint/internal/ml/metrics"
)

// blob returns n points of a 2-D standard normal cluster followed by k points
// far from it, and labels marking the far ones.
func blob(n, k int, seed uint64) ([][]float64, []bool) {
	r := rand.New(rand.NewPCG(seed, 1))
	X := make([][]float64, 0, n+k)
	y := make([]bool, 0, n+k)
	for i := 0; i < n; i++ {
		X = append(X, []float64{r.NormFloat64(), r.NormFloat64()})
		y = append(y, false)
	}
	for i := 0; i < k; i++ {
		a := 2 * math.Pi * float64(i) / float64(k)
		X = append(X, []float64{6 * math.Cos(a), 6 * math.Sin(a)})
		y = append(y, true)
	}
	return X, y
}

func TestAveragePathLength(t *testing.T) {
	tests := []struct {
		n    int
		want float64
	}{
		{0, 0}, {1, 0}, {2, 1},
		// 2(ln 2 + γ) − 4/3
		{3, 2*(math.Ln2+0.5772156649015329) - 4.0/3},
		// 2(ln 255 + γ) − 510/256
		{256, 10.244770920116851},
	}
	for _, tt := range tests {
		if got := AveragePathLength(tt.n); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("c(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestSeparatesOutliers(t *testing.T) {
	X, y := blob(1000, 20, 1)
	f, err := Train(X, Params{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	scores := make([]float64, len(X))
	var inlier float64
	for i, x := range X {
		scores[i] = f.Score(x)
		if !y[i] {
			inlier += scores[i] / 1000
		}
	}
	for i := 1000; i < len(X); i++ {
		if scores[i] < 0.6 {
			t.Errorf("outlier %v scores %.3f, want >= 0.6", X[i], scores[i])
		}
	}
	if inlier > 0.45 {
		t.Errorf("mean inlier score %.3f, want < 0.45", inlier)
	}
	if auc, _ := metrics.ROCAUC(y, scores); auc < 0.99 {
		t.Errorf("AUC %.4f, want >= 0.99", auc)
	}
	if c := f.Score([]float64{0, 0}); c > 0.45 {
		t.Errorf("centre scores %.3f", c)
	}
	if f.Threshold() != 0.5 || f.IsAnomaly([]float64{0, 0}) || !f.IsAnomaly([]float64{8, 8}) {
		t.Errorf("threshold %v misclassifies", f.Threshold())
	}
}

func TestContaminationThreshold(t *testing.T) {
	X, _ := blob(2000, 0, 2)
	f, err := Train(X, Params{Contamination: 0.05, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	flagged := 0
	for _, x := range X {
		if f.IsAnomaly(x) {
			flagged++
		}
	}
	if flagged < 95 || flagged > 105 {
		t.Errorf("flagged %d of 2000 at contamination 0.05, want about 100", flagged)
	}
}

func TestDeterministicAndConstantFeatures(t *testing.T) {
	X, _ := blob(300, 3, 4)
	for i := range X {
		X[i] = append(X[i], 1) // a constant third feature is never split on
	}
	a, _ := Train(X, Params{Seed: 9, Trees: 20})
	b, _ := Train(X, Params{Seed: 9, Trees: 20})
	c, _ := Train(X, Params{Seed: 10, Trees: 20})
	for _, n := range a.ens.Nodes {
		if n.Feature == 2 {
			t.Fatal("split on a constant feature")
		}
	}
	x := []float64{0.3, -0.2, 1}
	if a.Score(x) != b.Score(x) {
		t.Error("same seed, different scores")
	}
	if a.Score(x) == c.Score(x) {
		t.Error("different seeds, same scores")
	}
	dup := [][]float64{{1, 1}, {1, 1}, {1, 1}, {1, 1}}
	f, err := Train(dup, Params{Trees: 5})
	if err != nil {
		t.Fatal(err)
	}
	// Four duplicates: every tree is one leaf of path length c(4).
	if got, want := f.PathLength([]float64{1, 1}), AveragePathLength(4); math.Abs(got-want) > 1e-12 {
		t.Errorf("path length of duplicates %v, want %v", got, want)
	}
}

func TestTrainErrors(t *testing.T) {
	tests := []struct {
		name string
		X    [][]float64
		p    Params
	}{
		{"one row", [][]float64{{1}}, Params{}},
		{"ragged", [][]float64{{1, 2}, {1}}, Params{}},
		{"nan", [][]float64{{1}, {math.NaN()}}, Params{}},
		{"contamination", [][]float64{{1}, {2}}, Params{Contamination: 0.5}},
		{"no features", [][]float64{{}, {}}, Params{}},
	}
	for _, tt := range tests {
		if _, err := Train(tt.X, tt.p); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	X, _ := blob(500, 5, 5)
	f, err := Train(X, Params{Seed: 1, Contamination: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var g Forest
	if err := g.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	for _, x := range X {
		if f.Score(x) != g.Score(x) {
			t.Fatalf("score %v after round trip, %v before", g.Score(x), f.Score(x))
		}
	}
	if g.Threshold() != f.Threshold() || g.Params() != f.Params() || g.NumFeatures() != 2 {
		t.Errorf("round trip lost threshold or params: %+v", g.Params())
	}
	if err := g.UnmarshalBinary(b[:len(b)/2]); err == nil {
		t.Error("truncated body decoded")
	}
}

func TestScoreDoesNotAllocate(t *testing.T) {
	X, _ := blob(500, 5, 6)
	f, _ := Train(X, Params{})
	if a := testing.AllocsPerRun(1000, func() { f.Score(X[3]) }); a != 0 {
		t.Errorf("Score allocates %v times", a)
	}
}

// TestAI4I fits the forest unsupervised on AI4I and checks that its anomaly
// score ranks machine failures above normal operation on held-out folds.
func TestAI4I(t *testing.T) {
	X, y := ai4itest.Load(t)
	folds, err := metrics.StratifiedKFold(y, 5, 42)
	if err != nil {
		t.Fatal(err)
	}
	var mean float64
	for _, fold := range folds {
		train := make([][]float64, len(fold.Train))
		for i, r := range fold.Train {
			train[i] = X[r]
		}
		f, err := Train(train, Params{Seed: 42})
		if err != nil {
			t.Fatal(err)
		}
		labels := make([]bool, len(fold.Test))
		scores := make([]float64, len(fold.Test))
		for i, r := range fold.Test {
			labels[i], scores[i] = y[r], f.Score(X[r])
		}
		auc, err := metrics.ROCAUC(labels, scores)
		if err != nil {
			t.Fatal(err)
		}
		mean += auc / float64(len(folds))
	}
	t.Logf("AI4I 5-fold ROC AUC of the anomaly score: %.4f", mean)
	if mean < 0.70 {
		t.Errorf("AI4I ROC AUC %.4f, want >= 0.70", mean)
	}
}

func ai4iForest(b *testing.B) (*Forest, [][]float64) {
	X, _ := ai4itest.Load(b)
	f, err := Train(X, Params{Seed: 42})
	if err != nil {
		b.Fatal(err)
	}
	return f, X
}

// BenchmarkScore is the per-reading scoring cost of a default forest
// (100 trees, ψ = 256) trained on AI4I.
func BenchmarkScore(b *testing.B) {
	f, X := ai4iForest(b)
	ai4itest.Throughput(b, X, f.Score)
}

// BenchmarkScoreLatency reports the p50/p99 latency of single Score calls.
func BenchmarkScoreLatency(b *testing.B) {
	f, X := ai4iForest(b)
	ai4itest.Latency(b, X, f.Score)
}

// BenchmarkTrain is the cost of training a default forest on AI4I.
func BenchmarkTrain(b *testing.B) {
	X, _ := ai4itest.Load(b)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Train(X, Params{Seed: uint64(i)}); err != nil {
			b.Fatal(err)
		}
	}
}
