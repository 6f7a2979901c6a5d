package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestRobustWarmupIsExact(t *testing.T) {
	r := NewRobust(0.05)
	for _, x := range []float64{5, 1, 9, 3, 7, 100, 2, 4, 6} {
		r.Update(x)
	}
	// Sorted: 1 2 3 4 5 6 7 9 100 → median 5; deviations 0 1 1 2 2 3 3 4 95 → MAD 2.
	if r.Median() != 5 || r.MAD() != 2 {
		t.Fatalf("median %v MAD %v, want 5 and 2", r.Median(), r.MAD())
	}
	if got, want := r.Z(11), 6/(2*madToSigma); math.Abs(got-want) > 1e-12 {
		t.Errorf("Z(11) = %v, want %v", got, want)
	}
	r.Update(8) // even count: 1 2 3 4 5 6 7 8 9 100
	if r.Median() != 5.5 {
		t.Errorf("median of ten = %v, want 5.5", r.Median())
	}
}

func TestZBeforeMinReadings(t *testing.T) {
	r, e := NewRobust(0.1), NewEWMA(0.1)
	for i := 0; i < MinReadings-1; i++ {
		r.Update(float64(i))
		e.Update(float64(i))
	}
	if r.Z(1e6) != 0 || e.Z(1e6) != 0 {
		t.Error("Z answered before MinReadings")
	}
}

// TestRobustTracksThroughOutliers feeds N(10, 2²) with 10% of readings at
// +20σ: the robust estimates stay near the clean ones while an EWMA's mean
// and deviation are dragged far off.
func TestRobustTracksThroughOutliers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	r, e := NewRobust(0.02), NewEWMA(0.02)
	for i := 0; i < 20000; i++ {
		x := 10 + 2*rng.NormFloat64()
		if rng.Float64() < 0.1 {
			x = 50
		}
		r.Update(x)
		e.Update(x)
	}
	// Contamination pulls the clipped location about a quarter σ up.
	if math.Abs(r.Median()-10) > 0.6 {
		t.Errorf("median %.3f, want about 10", r.Median())
	}
	if s := r.Sigma(); s < 1.6 || s > 2.8 {
		t.Errorf("sigma %.3f, want about 2", s)
	}
	if z := r.Z(50); z < 12 {
		t.Errorf("robust Z of an outlier %.1f, want > 12", z)
	}
	if z := e.Z(50); z > 6 {
		t.Errorf("EWMA Z of an outlier %.1f: expected the outliers to inflate its deviation", z)
	}
}

func TestRobustFollowsLevelShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	r := NewRobust(0.05)
	for i := 0; i < 2000; i++ {
		r.Update(rng.NormFloat64())
	}
	for i := 0; i < 400; i++ {
		r.Update(5 + rng.NormFloat64())
	}
	if math.Abs(r.Median()-5) > 0.4 {
		t.Errorf("median %.3f after a shift to 5, want about 5", r.Median())
	}
}

func TestConstantSensor(t *testing.T) {
	r, e := NewRobust(0.05), NewEWMA(0.05)
	for i := 0; i < 100; i++ {
		r.Update(3)
		e.Update(3)
	}
	if r.Z(3) != 0 || e.Z(3) != 0 {
		t.Errorf("Z of the constant = %v, %v; want 0", r.Z(3), e.Z(3))
	}
	if z := r.Z(3.1); math.IsInf(z, 0) || math.IsNaN(z) || z < 100 {
		t.Errorf("Z of a change on a constant sensor = %v, want large and finite", z)
	}
	r.Update(math.NaN())
	if r.Count() != 100 {
		t.Error("NaN was learnt")
	}
}

func TestEWMA(t *testing.T) {
	e := NewEWMA(0.5)
	for _, x := range []float64{1, 3, 3} {
		e.Update(x)
	}
	// mean: 1 → 2 → 2.5; variance: 0 → ½(0+½·4) = 1 → ½(1+½·1) = 0.75.
	if e.Mean() != 2.5 || math.Abs(e.Std()-math.Sqrt(0.75)) > 1e-12 || e.Count() != 3 {
		t.Errorf("mean %v std %v", e.Mean(), e.Std())
	}
}

func TestNoAllocation(t *testing.T) {
	r, e := NewRobust(0.05), NewEWMA(0.05)
	x := 0.0
	a := testing.AllocsPerRun(1000, func() {
		x += 0.37
		r.Update(x)
		e.Update(x)
		_ = r.Z(x) + e.Z(x)
	})
	if a != 0 {
		t.Errorf("%v allocations per update", a)
	}
}

func BenchmarkRobust(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	xs := make([]float64, 1024)
	for i := range xs {
		xs[i] = rng.NormFloat64()
	}
	r := NewRobust(0.05)
	for _, x := range xs {
		r.Update(x)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var s float64
	for i := 0; i < b.N; i++ {
		x := xs[i&1023]
		s += r.Z(x)
		r.Update(x)
	}
	_ = s
}

func BenchmarkEWMA(b *testing.B) {
	e := NewEWMA(0.05)
	b.ReportAllocs()
	var s float64
	for i := 0; i < b.N; i++ {
		x := float64(i & 1023)
		s += e.Z(x)
		e.Update(x)
	}
	_ = s
}

// TestRobustSpreadSettlesAndCatchesUp checks the spread tracker's two
// speeds: σ̂ rarely wanders low on Gaussian data (a low σ̂ is what raises
// false alarms), and grows to a larger spread within about a hundred
// readings.
func TestRobustSpreadSettlesAndCatchesUp(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	r := NewRobust(0.05)
	for range 32 {
		r.Update(50 + 0.5*rng.NormFloat64()) // a quiet start
	}
	for range 100 {
		r.Update(50 + 5*rng.NormFloat64())
	}
	if s := r.Sigma(); s < 3.5 {
		t.Errorf("σ̂ %.2f 100 readings after the spread grew from 0.5 to 5; want at least 3.5", s)
	}
	const n = 50000
	low := 0
	for range n {
		r.Update(50 + 5*rng.NormFloat64())
		if r.Sigma() < 4 {
			low++
		}
	}
	// Symmetric steps of α spent about 16% of the time there.
	if share := float64(low) / n; share > 0.08 {
		t.Errorf("σ̂ was below 0.8σ for %.1f%% of the readings; want at most 8%%", 100*share)
	}
}
