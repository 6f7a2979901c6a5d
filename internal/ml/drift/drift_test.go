package drift

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fracSeq is the sequence (i·step mod 1)·scale + shift, i = 1..n; the
// scipy references below were computed on the same numbers.
func fracSeq(n int, step, scale, shift float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = math.Mod(float64(i+1)*step, 1)*scale + shift
	}
	return s
}

// Reference values: scipy 1.10.1 stats.ks_2samp(a, b, method="exact") and
// scipy.special.kolmogorov, computed once and copied here.
func TestKSAgainstScipy(t *testing.T) {
	small1 := []float64{0.61, 0.29, 0.06, 0.59, -1.73, -0.74, 0.51, -0.56, 0.39, 1.64, 0.05, -0.06, 0.64, -0.82, 0.37, 1.77, 1.09, -1.28, 2.36, 1.31, 1.05, -0.32, -0.4, 1.06, -2.47}
	small2 := []float64{2.2, 1.66, 1.38, 0.2, 0.36, 0.0, 0.96, 1.56, 0.44, 1.5, -0.3, 0.66, 2.31, 3.29, -0.27, -0.37, 0.38, 0.7, 0.19, 0.13, 1.7, 0.93}
	tests := []struct {
		name  string
		a, b  []float64
		d, p  float64
		exact bool
		tol   float64
	}{
		{"25 vs 22", small1, small2, 0.28, 0.25285196565990653, true, 1e-12},
		{"300 vs 200", fracSeq(300, 0.6180339887498949, 1, 0), fracSeq(200, 0.4142135623730951, 0.9, 0.12), 0.12, 0.05956426587666751, true, 1e-12},
		// m·n above ExactLimit: the asymptotic p-value is within 0.01 of
		// the exact one.
		{"2000 vs 1500", fracSeq(2000, 0.6180339887498949, 1, 0), fracSeq(1500, 0.4142135623730951, 0.98, 0.03), 0.030833333333333334, 0.3822850006411792, false, 0.01},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := KS(tt.a, tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.D-tt.d) > 1e-12 || math.Abs(r.PValue-tt.p) > tt.tol || r.Exact != tt.exact {
				t.Errorf("KS = %+v, want D %v p %v exact %v", r, tt.d, tt.p, tt.exact)
			}
		})
	}
}

func TestKSExtremes(t *testing.T) {
	a := make([]float64, 50)
	b := make([]float64, 50)
	for i := range a {
		a[i], b[i] = float64(i), float64(100+i)
	}
	r, _ := KS(a, b)
	// Only the two paths that take one sample entirely first reach D = 1:
	// p = 2 / C(100, 50).
	want := 2 / 1.0089134454556418e29
	if r.D != 1 || math.Abs(r.PValue-want)/want > 1e-9 {
		t.Errorf("disjoint samples: %+v, want D 1 p %v", r, want)
	}
	r, _ = KS(a, a)
	if r.D != 0 || r.PValue != 1 {
		t.Errorf("identical samples: %+v", r)
	}
	// Ties across the samples are stepped over together.
	r, _ = KS([]float64{1, 1, 2}, []float64{1, 2, 2})
	if math.Abs(r.D-1.0/3) > 1e-12 {
		t.Errorf("ties: D = %v, want 1/3", r.D)
	}
	if _, err := KS(nil, a); err == nil {
		t.Error("empty sample accepted")
	}
	if _, err := KS([]float64{math.NaN()}, a); err == nil {
		t.Error("NaN accepted")
	}
}

func TestKolmogorov(t *testing.T) {
	for _, tt := range []struct{ x, want float64 }{
		{0.3, 0.9999906941986655}, {0.5, 0.9639452436648751}, {0.8, 0.5441424115741981},
		{1.0, 0.26999967167735456}, {1.2, 0.11224966667072497}, {1.36, 0.049485876755377876},
		{1.63, 0.009846364888486529}, {2.0, 0.0006709252557796953}, {3.0, 3.045995948942526e-08},
	} {
		if got := Kolmogorov(tt.x); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("Kolmogorov(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
}

func TestPSIByHand(t *testing.T) {
	ref := make([]float64, 100)
	for i := range ref {
		ref[i] = float64(i + 1)
	}
	// Quartile edges 25.75, 50.5, 75.25 put 25 reference values in each
	// bin; the current values fill only the first two bins.
	cur := make([]float64, 100)
	for i := range cur {
		cur[i] = float64(i/2 + 1)
	}
	r, err := PSI(ref, cur, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := 2*(0.5-0.25)*math.Log(0.5/0.25) + 2*(1e-4-0.25)*math.Log(1e-4/0.25)
	if math.Abs(r.Value-want) > 1e-12 {
		t.Errorf("PSI = %v, want %v (bins %+v)", r.Value, want, r)
	}
	if len(r.Edges) != 3 || r.Edges[0] != 25.75 {
		t.Errorf("edges = %v", r.Edges)
	}
}

// TestPSINormalShift compares PSI of N(0,1) against N(0.5,1) with the
// value implied by the distributions: Σ (qᵢ − 0.1)·ln(qᵢ/0.1), qᵢ the shifted
// normal's mass in each reference decile.
func TestPSINormalShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	ref, same, shifted := make([]float64, 100000), make([]float64, 100000), make([]float64, 100000)
	for i := range ref {
		ref[i], same[i], shifted[i] = rng.NormFloat64(), rng.NormFloat64(), 0.5+rng.NormFloat64()
	}
	deciles := []float64{math.Inf(-1), -1.2815515655446004, -0.8416212335729143, -0.5244005127080407, -0.2533471031357997, 0,
		0.2533471031357997, 0.5244005127080407, 0.8416212335729143, 1.2815515655446004, math.Inf(1)}
	phi := func(z float64) float64 { return 0.5 * math.Erfc(-z/math.Sqrt2) }
	var want float64
	for i := 1; i < len(deciles); i++ {
		q := phi(deciles[i]-0.5) - phi(deciles[i-1]-0.5)
		want += (q - 0.1) * math.Log(q/0.1)
	}
	r, _ := PSI(ref, shifted, 10)
	if math.Abs(r.Value-want) > 0.01 {
		t.Errorf("PSI of a 0.5σ shift = %.4f, want %.4f", r.Value, want)
	}
	if r, _ := PSI(ref, same, 10); r.Value > 0.005 {
		t.Errorf("PSI of the same distribution = %.4f, want about 0", r.Value)
	}
	if _, err := PSI(ref, nil, 10); err == nil {
		t.Error("empty current accepted")
	}
}

func TestPSIRepeatedValues(t *testing.T) {
	ref := []float64{0, 0, 0, 0, 0, 0, 0, 0, 1, 2}
	r, err := PSI(ref, ref, 10)
	if err != nil || r.Value != 0 {
		t.Errorf("PSI of a sample against itself = %v, %v", r.Value, err)
	}
	for i := 1; i < len(r.Edges); i++ {
		if r.Edges[i] <= r.Edges[i-1] {
			t.Errorf("edges not increasing: %v", r.Edges)
		}
	}
}

func TestPolicy(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	rows := func(n int, shift0, shift1 float64) [][]float64 {
		out := make([][]float64, n)
		for i := range out {
			out[i] = []float64{shift0 + rng.NormFloat64(), shift1 + rng.NormFloat64()}
		}
		return out
	}
	p := DefaultPolicy()
	names := []string{"temp", "torque"}
	// Small reference: KS decides; one of two features drifts → dataset drift.
	r, err := p.Check(names, rows(300, 0, 0), rows(300, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Features[0].Drifted || !r.Features[1].Drifted || r.Features[1].Method != "ks" || !r.Drifted || r.DriftedShare != 0.5 {
		t.Errorf("small reference: %+v", r)
	}
	// Large reference: PSI decides; a 0.1σ shift is watched by neither.
	r, _ = p.Check(names, rows(5000, 0, 0), rows(5000, 0.1, 0))
	if r.Drifted || r.Features[0].Method != "psi" || r.Features[0].Drifted {
		t.Errorf("large reference, small shift: %+v", r.Features[0])
	}
	r, _ = p.Check(names, rows(5000, 0, 0), rows(5000, 1, 1))
	if !r.Drifted || r.DriftedShare != 1 || !r.Features[0].Watch {
		t.Errorf("large reference, 1σ shift: %+v", r)
	}
	if _, err := p.Check(names, [][]float64{{1}}, [][]float64{{1, 2}}); err == nil {
		t.Error("ragged rows accepted")
	}
}

func BenchmarkKSExact(b *testing.B) {
	x, y := fracSeq(1000, 0.618, 1, 0), fracSeq(1000, 0.414, 1, 0.01)
	for i := 0; i < b.N; i++ {
		KS(x, y)
	}
}
