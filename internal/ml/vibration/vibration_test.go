package vibration

import (
	"math"
	"math/rand/v2"
	"testing"
)

func sine(n int, rate, freq, amp float64) []float64 {
	x := make([]float64, n)
	for i := range x {
		x[i] = amp * math.Sin(2*math.Pi*freq*float64(i)/rate)
	}
	return x
}

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %v, want %v ± %v", name, got, want, tol)
	}
}

func TestSineFeatures(t *testing.T) {
	// 1 kHz sine of amplitude 2 sampled at 8192 Hz over 1024 samples: a
	// whole number of periods (125), so no spectral leakage.
	x := sine(1024, 8192, 1000, 2)
	near(t, "RMS", RMS(x), 2/math.Sqrt2, 1e-9)
	near(t, "kurtosis", Kurtosis(x), 1.5, 1e-9)
	near(t, "crest", CrestFactor(x), math.Sqrt2, 1e-3)

	e, err := NewExtractor(1024, 8192, DefaultBands(8192)) // bands 0-512-1024-2048-4096 Hz
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.Extract(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	if len(f) != 7 || len(e.Names()) != 7 || e.Names()[3] != "band_0_512_hz" {
		t.Fatalf("features %v names %v", f, e.Names())
	}
	// All the power, A²/2 = 2, sits in the band holding 1000 Hz.
	near(t, "band 0-512", f[3], 0, 1e-9)
	near(t, "band 512-1024", f[4], 2, 1e-9)
	near(t, "band 1024-2048", f[5], 0, 1e-9)
}

func TestBandPowersAddUpToVariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float64, 2000) // not a power of two
	for i := range x {
		x[i] = 0.5 + rng.NormFloat64()
	}
	e, _ := NewExtractor(len(x), 20000, DefaultBands(20000))
	f, _ := e.Extract(nil, x)
	var sum, variance float64
	for _, p := range f[3:] {
		sum += p
	}
	mean := 0.0
	for _, v := range x {
		mean += v / float64(len(x))
	}
	for _, v := range x {
		variance += (v - mean) * (v - mean) / float64(len(x))
	}
	near(t, "sum of band powers", sum, variance, 1e-9)
	near(t, "Gaussian kurtosis", f[1], 3, 0.3)
}

func TestImpulsesRaiseKurtosisAndCrest(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	x := make([]float64, 4096)
	for i := range x {
		x[i] = rng.NormFloat64()
		if i%256 == 0 {
			x[i] += 12
		}
	}
	if k := Kurtosis(x); k < 6 {
		t.Errorf("kurtosis of an impulse train %v, want well above 3", k)
	}
	if c := CrestFactor(x); c < 8 {
		t.Errorf("crest factor %v, want high", c)
	}
}

func TestDegenerate(t *testing.T) {
	z := make([]float64, 8)
	if Kurtosis(z) != 0 || CrestFactor(z) != 0 || RMS(z) != 0 {
		t.Error("features of zeros")
	}
	if _, err := NewExtractor(2, 100, DefaultBands(100)); err == nil {
		t.Error("tiny window accepted")
	}
	if _, err := NewExtractor(64, 100, []Band{{10, 5}}); err == nil {
		t.Error("inverted band accepted")
	}
	e, _ := NewExtractor(64, 100, DefaultBands(100))
	if _, err := e.Extract(nil, z); err == nil {
		t.Error("window of the wrong length accepted")
	}
}

func BenchmarkExtract(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float64, 20480)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	e, _ := NewExtractor(len(x), 20000, DefaultBands(20000))
	dst := make([]float64, 0, 8)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		dst, _ = e.Extract(dst[:0], x)
	}
}
