package gbdt

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestRegressionStump checks one squared-error step by hand: the base is
// the mean 2, the gradients are f − y = ∓1 on each side, the hessians 1,
// so with η = 0.5 each leaf is −0.5·(∓2)/2 = ±0.5.
func TestRegressionStump(t *testing.T) {
	X := [][]float64{{0}, {0}, {1}, {1}}
	y := []float64{1, 1, 3, 3}
	m, err := TrainRegressor(X, y, Params{MaxIter: 1, MaxLeafNodes: 2, MinSamplesLeaf: 1, LearningRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !m.Regressor() {
		t.Fatal("a regressor says it is a classifier")
	}
	for x, want := range map[float64]float64{0: 1.5, 1: 2.5} {
		if got := m.Score([]float64{x}); math.Abs(got-want) > 1e-12 {
			t.Errorf("Score(%v) = %v, want %v", x, got, want)
		}
	}
	// The quantile stump: base is the median 2; each leaf is η times the
	// median residual (∓1), the same values here.
	q, err := TrainRegressor(X, y, Params{MaxIter: 1, MaxLeafNodes: 2, MinSamplesLeaf: 1, LearningRate: 0.5, Loss: LossQuantile, Quantile: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	for x, want := range map[float64]float64{0: 1.5, 1: 2.5} {
		if got := q.Score([]float64{x}); math.Abs(got-want) > 1e-12 {
			t.Errorf("quantile Score(%v) = %v, want %v", x, got, want)
		}
	}
}

// regressionData draws y = sin(2x₀) + x₁² + noise·N(0,1) with three
// standard normal features, the last of them irrelevant.
func regressionData(n int, noise float64, seed uint64) ([][]float64, []float64, []float64) {
	r := rand.New(rand.NewPCG(seed, 7))
	X := make([][]float64, n)
	y := make([]float64, n)
	f := make([]float64, n)
	for i := range X {
		X[i] = []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		f[i] = math.Sin(2*X[i][0]) + X[i][1]*X[i][1]
		y[i] = f[i] + noise*r.NormFloat64()
	}
	return X, y, f
}

func TestRegressionLearns(t *testing.T) {
	X, y, _ := regressionData(4000, 0.3, 1)
	Xt, _, ft := regressionData(2000, 0.3, 2)
	m, err := TrainRegressor(X, y, Params{MaxIter: 300, EarlyStopping: true})
	if err != nil {
		t.Fatal(err)
	}
	var se, ss, mean float64
	for _, v := range ft {
		mean += v / float64(len(ft))
	}
	for i, x := range Xt {
		d := m.Score(x) - ft[i]
		se += d * d
		ss += (ft[i] - mean) * (ft[i] - mean)
	}
	rmse, r2 := math.Sqrt(se/float64(len(Xt))), 1-se/ss
	// The noise is 0.3; the function's own spread is about 1.6.
	if rmse > 0.25 || r2 < 0.95 {
		t.Errorf("RMSE against the true function %.3f, R² %.3f; want ≤ 0.25 and ≥ 0.95", rmse, r2)
	}
	if m.Info().Iterations < 20 || m.Info().ValidationLoss <= 0 {
		t.Errorf("info %+v", m.Info())
	}
}

// TestQuantileCoverage: on fresh data from the same distribution, the
// share of targets below the q-quantile model is close to q.
func TestQuantileCoverage(t *testing.T) {
	X, y, _ := regressionData(6000, 0.5, 3)
	Xt, yt, _ := regressionData(4000, 0.5, 4)
	for _, q := range []float64{0.1, 0.5, 0.9} {
		m, err := TrainRegressor(X, y, Params{MaxIter: 100, MaxLeafNodes: 15, Loss: LossQuantile, Quantile: q, MinSamplesLeaf: 100})
		if err != nil {
			t.Fatal(err)
		}
		below := 0
		for i, x := range Xt {
			if yt[i] <= m.Score(x) {
				below++
			}
		}
		got := float64(below) / float64(len(Xt))
		t.Logf("quantile %.1f: coverage %.3f", q, got)
		if math.Abs(got-q) > 0.04 {
			t.Errorf("quantile %.1f: %.3f of targets below the prediction", q, got)
		}
	}
}

func TestRegressionErrors(t *testing.T) {
	X := [][]float64{{0}, {1}, {2}}
	tests := []struct {
		name string
		y    []float64
		p    Params
		want string
	}{
		{"length", []float64{1, 2}, Params{}, "targets"},
		{"nan", []float64{1, math.NaN(), 2}, Params{}, "target 1"},
		{"quantile", []float64{1, 2, 3}, Params{Loss: LossQuantile, Quantile: 1}, "quantile"},
		{"log loss", []float64{1, 2, 3}, Params{Loss: LossLog}, "regression loss"},
		{"unknown", []float64{1, 2, 3}, Params{Loss: "huber"}, "unknown loss"},
		{"class weight", []float64{1, 2, 3}, Params{ClassWeight: "balanced"}, "class weight"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := TrainRegressor(X, tt.y, tt.p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
	if _, err := Train(X, []bool{true, false, true}, Params{Loss: LossSquared}); err == nil {
		t.Error("Train accepted a regression loss")
	}
}

func TestRegressionMarshal(t *testing.T) {
	X, y, _ := regressionData(500, 0.3, 5)
	m, err := TrainRegressor(X, y, Params{MaxIter: 20, Loss: LossQuantile, Quantile: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	back := roundTrip(t, m)
	if !back.Regressor() || back.Params().Quantile != 0.9 {
		t.Fatalf("decoded params %+v", back.Params())
	}
	for _, x := range X {
		if back.Score(x) != m.Score(x) {
			t.Fatalf("score %v after round trip, %v before", back.Score(x), m.Score(x))
		}
	}
	if a := testing.AllocsPerRun(100, func() { m.Score(X[0]) }); a != 0 {
		t.Errorf("regressor Score allocates %v times", a)
	}
	for _, bad := range []string{`{"params":{"loss":"huber"},"num_features":1}`, `{"params":{"loss":"quantile","quantile":2},"num_features":1}`} {
		if err := back.UnmarshalBinary([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

// TestClassifierFileUnchanged: a classifier's encoding names no loss, so
// files written before regression existed and files written now are alike,
// and such a file still decodes as a classifier.
func TestClassifierFileUnchanged(t *testing.T) {
	X, y := synthetic(300, 2, 0, 1, func(x []float64) bool { return x[0] > 0 })
	m, err := Train(X, y, Params{MaxIter: 3})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(`"loss"`)) || bytes.Contains(b, []byte(`"quantile"`)) {
		t.Errorf("classifier encoding mentions the loss: %.200s", b)
	}
	var old Model
	if err := old.UnmarshalBinary([]byte(`{"params":{"learning_rate":0.1},"info":{"iterations":0},"base_log_odds":0.5,"num_features":2}`)); err != nil {
		t.Fatal(err)
	}
	if old.Regressor() || old.Score([]float64{0, 0}) != sigmoid(0.5) {
		t.Errorf("an old classifier file decodes as regressor %v scoring %v", old.Regressor(), old.Score([]float64{0, 0}))
	}
}

// TestQuantileCappedTarget: when most targets sit at a cap, the upper
// quantile starts at the cap with every row on it; the model must still
// learn that rows far below the cap have a lower quantile.
func TestQuantileCappedTarget(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	X := make([][]float64, 3000)
	y := make([]float64, len(X))
	for i := range X {
		X[i] = []float64{r.Float64()}
		y[i] = math.Min(125, 300*X[i][0]+5*r.NormFloat64())
	}
	m, err := TrainRegressor(X, y, Params{MaxIter: 100, Loss: LossQuantile, Quantile: 0.9})
	if err != nil {
		t.Fatal(err)
	}
	// At x = 0.1 the targets are about N(30, 5²): the 0.9-quantile is
	// about 36.
	if got := m.Score([]float64{0.1}); math.Abs(got-36.4) > 5 {
		t.Errorf("0.9-quantile at x = 0.1 is %v, want about 36", got)
	}
}
