package forecast

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHoltExactLine: on an exact line the initial state already fits, every
// one-step error is 0, and undamped Holt continues the line exactly.
func TestHoltExactLine(t *testing.T) {
	y := make([]float64, 50)
	for i := range y {
		y[i] = 5 + 2*float64(i)
	}
	m, err := Fit(y, Options{Phi: 1})
	if err != nil {
		t.Fatal(err)
	}
	f := m.Forecast(10, 0.95)
	if got, want := f[9].Mean, 5+2*59.0; math.Abs(got-want) > 1e-9 {
		t.Errorf("10-step forecast %v, want %v", got, want)
	}
	if m.Sigma > 1e-9 || f[9].Upper-f[9].Lower > 1e-6 {
		t.Errorf("sigma %v, interval %v..%v on an exact line", m.Sigma, f[9].Lower, f[9].Upper)
	}
	// 5 + 2(49 + h) ≥ 200 first at h = 49.
	c := m.TimeToThreshold(200, true, 100, 0.95)
	if c != (Crossing{Steps: 49, Earliest: 49, Latest: 49}) {
		t.Errorf("crossing %+v, want 49 steps", c)
	}
	if c := m.TimeToThreshold(-10, false, 30, 0.95); c.Steps != 0 {
		t.Errorf("a rising line reached -10 from above: %+v", c)
	}
}

func TestDampedTrend(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	y := make([]float64, 120)
	for i := range y {
		y[i] = 20 + 0.5*float64(i) + 0.3*rng.NormFloat64()
	}
	m, err := Fit(y, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Phi < 0.8 || m.Phi > 0.98 || m.Alpha <= 0 || m.Beta > m.Alpha {
		t.Errorf("parameters out of range: %+v", m)
	}
	if m.Sigma < 0.2 || m.Sigma > 0.45 {
		t.Errorf("sigma %.3f, want about 0.3", m.Sigma)
	}
	f := m.Forecast(20, 0.95)
	next := 20 + 0.5*120
	if math.Abs(f[0].Mean-next) > 1 {
		t.Errorf("one-step forecast %.2f, want about %.2f", f[0].Mean, next)
	}
	// Damping bends the forecast below the straight line, but it keeps
	// rising and its intervals widen.
	if f[19].Mean > 20+0.5*139+0.5 || f[19].Mean <= f[0].Mean {
		t.Errorf("20-step forecast %.2f", f[19].Mean)
	}
	for i := 1; i < len(f); i++ {
		if f[i].Upper-f[i].Lower < f[i-1].Upper-f[i-1].Lower {
			t.Fatalf("interval narrows at step %d", i+1)
		}
	}
	c := m.TimeToThreshold(84, true, 200, 0.95)
	if c.Steps == 0 || c.Earliest > c.Steps || (c.Latest != 0 && c.Latest < c.Steps) {
		t.Errorf("crossing %+v not ordered earliest <= steps <= latest", c)
	}
}

func TestHoltWinters(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	truth := func(t int) float64 { return 10 + 0.1*float64(t) + 3*math.Sin(2*math.Pi*float64(t)/12) }
	y := make([]float64, 120)
	for i := range y {
		y[i] = truth(i) + 0.2*rng.NormFloat64()
	}
	m, err := Fit(y, Options{Period: 12})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Forecast(12, 0.95) {
		if want := truth(119 + p.Step); math.Abs(p.Mean-want) > 1 {
			t.Errorf("step %d: forecast %.2f, want about %.2f", p.Step, p.Mean, want)
		}
	}
	// Without the season the same data forecasts far worse.
	plain, _ := Fit(y, Options{})
	var errS, errP float64
	fs, fp := m.Forecast(12, 0.95), plain.Forecast(12, 0.95)
	for i := range fs {
		errS += math.Abs(fs[i].Mean - truth(120+i))
		errP += math.Abs(fp[i].Mean - truth(120+i))
	}
	if errS*3 > errP {
		t.Errorf("seasonal error %.2f not well below non-seasonal %.2f", errS, errP)
	}
}

// TestIntervalCoverage simulates local-level series (random walk plus
// noise) and checks that 95% intervals five steps out cover about 95% of
// outcomes.
func TestIntervalCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const runs, n, h = 300, 80, 5
	covered := 0
	for r := 0; r < runs; r++ {
		y := make([]float64, n+h)
		level := 0.0
		for i := range y {
			level += 0.5 * rng.NormFloat64()
			y[i] = level + rng.NormFloat64()
		}
		m, err := Fit(y[:n], Options{Phi: 0.9})
		if err != nil {
			t.Fatal(err)
		}
		p := m.Forecast(h, 0.95)[h-1]
		if y[n+h-1] >= p.Lower && y[n+h-1] <= p.Upper {
			covered++
		}
	}
	share := float64(covered) / runs
	if share < 0.88 || share > 0.99 {
		t.Errorf("95%% intervals covered %.3f of outcomes", share)
	}
}

func TestUpdate(t *testing.T) {
	y := make([]float64, 30)
	for i := range y {
		y[i] = float64(i)
	}
	m, _ := Fit(y, Options{Phi: 1})
	if e := m.Update(30); math.Abs(e) > 1e-9 {
		t.Errorf("error of an on-line value %v", e)
	}
	if got := m.Forecast(1, 0.9)[0].Mean; math.Abs(got-31) > 1e-9 {
		t.Errorf("forecast after update %v, want 31", got)
	}
}

func TestFitErrors(t *testing.T) {
	tests := []struct {
		name string
		y    []float64
		o    Options
	}{
		{"short", []float64{1, 2, 3}, Options{}},
		{"short season", make([]float64, 20), Options{Period: 12}},
		{"period 1", make([]float64, 20), Options{Period: 1}},
		{"nan", []float64{1, 2, math.NaN(), 4, 5}, Options{}},
		{"phi", make([]float64, 20), Options{Phi: 1.5}},
	}
	for _, tt := range tests {
		if _, err := Fit(tt.y, tt.o); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

func BenchmarkFit(b *testing.B) {
	rng := rand.New(rand.NewPCG(4, 4))
	y := make([]float64, 500)
	for i := range y {
		y[i] = 0.1*float64(i) + rng.NormFloat64()
	}
	for i := 0; i < b.N; i++ {
		if _, err := Fit(y, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTimeToThresholdNeedsATrend: a flat random walk's interval widens
// until it touches any threshold, but that is no crossing; nor is a trend
// away from the threshold.
func TestTimeToThresholdNeedsATrend(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	walk := make([]float64, 400)
	falling := make([]float64, 400)
	v := 309.0
	for i := range walk {
		v += 0.3 * rng.NormFloat64()
		walk[i] = v
		falling[i] = 320 - 0.05*float64(i) + 0.2*rng.NormFloat64()
	}
	for _, tc := range []struct {
		name      string
		y         []float64
		threshold float64
	}{
		{"flat random walk", walk, walk[len(walk)-1] + 4.5},
		{"falling away from a high limit", falling, 330},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Fit(tc.y, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if f := m.Forecast(20000, 0.9)[19999]; f.Upper < tc.threshold {
				t.Fatalf("the horizon's interval %.1f..%.1f does not reach %.1f: the test proves nothing", f.Lower, f.Upper, tc.threshold)
			}
			if c := m.TimeToThreshold(tc.threshold, true, 20000, 0.9); c.Found() || c != (Crossing{}) {
				t.Errorf("crossing %+v for a series with trend %.4f that does not head for %.1f", c, m.Trend(), tc.threshold)
			}
		})
	}
}

// TestTimeToThresholdWithinInterval: a series rising toward a limit crosses
// it at a central estimate inside its interval, earliest ≤ steps ≤ latest.
func TestTimeToThresholdWithinInterval(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		y := make([]float64, 300)
		for i := range y {
			y[i] = 300 + 0.1*float64(i) + 0.1*rng.NormFloat64()
		}
		m, err := Fit(y, Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := m.TimeToThreshold(y[len(y)-1]+1, true, 5000, 0.9)
		if !c.Found() {
			t.Errorf("seed %d: no crossing for a clear rise (trend %.4f, sigma %.3f)", seed, m.Trend(), m.Sigma)
			continue
		}
		if c.Earliest < 1 || c.Earliest > c.Steps || c.Latest != 0 && c.Latest < c.Steps {
			t.Errorf("seed %d: crossing %+v not ordered earliest <= steps <= latest", seed, c)
		}
	}
}

// TestTimeToThresholdTooWide: a trend that reaches the threshold by less
// than the noise around it gives no crossing.
func TestTimeToThresholdTooWide(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	y := make([]float64, 300)
	for i := range y {
		y[i] = 300 + 0.01*float64(i) + 2*rng.NormFloat64()
	}
	m, err := Fit(y, Options{Phi: 0.98})
	if err != nil {
		t.Fatal(err)
	}
	if m.Trend() <= 0 {
		t.Fatalf("trend %.4f: the test needs one toward the threshold", m.Trend())
	}
	threshold := m.Level() + 0.5*m.Trend()*float64(10)
	if c := m.TimeToThreshold(threshold, true, 1000, 0.9); c != (Crossing{}) {
		t.Errorf("crossing %+v although the interval (sigma %.2f) dwarfs the move of %.2f", c, m.Sigma, threshold-m.Level())
	}
}
