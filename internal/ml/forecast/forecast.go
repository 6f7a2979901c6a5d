// Package forecast projects a degrading sensor forward to estimate when it
// will cross a threshold: exponential smoothing with a damped additive
// trend (Gardner and McKenzie's damped Holt) and, when a season length is
// set, additive seasonality (Holt-Winters), with prediction intervals.
//
// The model is the innovations state-space form ETS(A,Ad,N) or
// ETS(A,Ad,A) of Hyndman et al. (2008), "Forecasting with Exponential
// Smoothing": with one-step error eₜ = yₜ − (ℓ + φb + s),
//
//	ℓ ← ℓ + φb + α·eₜ
//	b ← φb + β·eₜ
//	s ← s + γ·eₜ          (the season slot of time t)
//
// The h-step forecast is ℓ + (φ + φ² + … + φʰ)·b + s, and its error
// variance σ²·(1 + Σ_{j<h} cⱼ²) with cⱼ = α + β(φ + … + φʲ) + γ·[j ≡ 0 mod m];
// intervals assume Gaussian errors. Parameters not fixed by Options are
// fitted by minimising the one-step squared error (Nelder–Mead from several
// starts); φ is searched in [0.8, 0.98], where damping stops long-range
// forecasts from running away.
package forecast

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// Options choose the model. Zero values mean "fit it".
type Options struct {
	// Period is the season length in observations; 0 for none.
	Period int `json:"period,omitempty"`
	// Phi fixes the damping factor in (0, 1]; 1 is Holt's undamped linear
	// trend.
	Phi float64 `json:"phi,omitempty"`
	// Alpha, Beta and Gamma fix the smoothing factors of level, trend and
	// season.
	Alpha float64 `json:"alpha,omitempty"`
	Beta  float64 `json:"beta,omitempty"`
	Gamma float64 `json:"gamma,omitempty"`
}

// Model is a fitted smoother positioned after the last observation.
type Model struct {
	// Alpha, Beta and Gamma smooth the level, trend and season; Phi damps
	// the trend.
	Alpha, Beta, Gamma, Phi float64
	// Period is the season length, 0 without a season.
	Period int
	// Sigma is the standard deviation of the one-step errors.
	Sigma float64

	level, trend float64
	season       []float64 // by time modulo Period
	n            int       // observations seen
}

// Fit fits the model to the series y, oldest first.
func Fit(y []float64, o Options) (*Model, error) {
	minLen := 4
	if o.Period > 0 {
		minLen = max(2*o.Period, 4)
	}
	if o.Period < 0 || o.Period == 1 {
		return nil, fmt.Errorf("forecast: period %d: want 0 or at least 2", o.Period)
	}
	if len(y) < minLen {
		return nil, fmt.Errorf("forecast: need at least %d observations, got %d", minLen, len(y))
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("forecast: observation %d is %v", i, v)
		}
	}
	if o.Phi < 0 || o.Phi > 1 || o.Alpha < 0 || o.Alpha >= 1 || o.Beta < 0 || o.Gamma < 0 {
		return nil, errors.New("forecast: fixed parameters out of range")
	}
	// Free parameters are searched in an unbounded space and mapped into
	// their ranges with logistic functions.
	decode := func(u []float64) *Model {
		k := 0
		next := func(fixed float64, lo, hi float64) float64 {
			if fixed > 0 {
				return fixed
			}
			v := lo + (hi-lo)*logistic(u[k])
			k++
			return v
		}
		m := &Model{Period: o.Period}
		m.Alpha = next(o.Alpha, 1e-4, 0.9999)
		m.Beta = next(o.Beta, 0, m.Alpha) // β ≤ α keeps the model forecastable
		m.Phi = next(o.Phi, 0.8, 0.98)
		if o.Period > 0 {
			m.Gamma = next(o.Gamma, 0, 1-m.Alpha)
		}
		return m
	}
	free := 0
	for _, f := range []float64{o.Alpha, o.Beta, o.Phi} {
		if f == 0 {
			free++
		}
	}
	if o.Period > 0 && o.Gamma == 0 {
		free++
	}
	sse := func(u []float64) float64 {
		m := decode(u)
		return m.run(y)
	}
	best := make([]float64, free)
	if free > 0 {
		bestF := math.Inf(1)
		for _, start := range []float64{-1.5, 0, 1.5} {
			x0 := make([]float64, free)
			for i := range x0 {
				x0[i] = start
			}
			res, err := optimize.Minimize(optimize.Problem{Func: sse}, x0,
				&optimize.Settings{FuncEvaluations: 2000}, &optimize.NelderMead{})
			if err != nil && res == nil {
				return nil, fmt.Errorf("forecast: fit: %w", err)
			}
			if res.F < bestF {
				bestF = res.F
				copy(best, res.X)
			}
		}
	}
	m := decode(best)
	s := m.run(y)
	k := free + 2 // initial level and trend are estimated too
	if o.Period > 0 {
		k += o.Period
	}
	m.Sigma = math.Sqrt(s / float64(max(len(y)-k, 1)))
	return m, nil
}

func logistic(u float64) float64 { return 1 / (1 + math.Exp(-u)) }

// run initialises the state from the start of y, filters all of y and
// returns the sum of squared one-step errors.
func (m *Model) run(y []float64) float64 {
	m.init(y)
	var sse float64
	for _, v := range y {
		e := m.observe(v)
		sse += e * e
	}
	return sse
}

// init sets the state before y[0]: level and trend from a least-squares
// line through the first observations (the first season's means when
// seasonal), season offsets from the first season.
func (m *Model) init(y []float64) {
	m.n = 0
	if m.Period == 0 {
		k := min(len(y), 10)
		a, b := line(y[:k])
		m.level, m.trend = a-b, b // so that the first forecast is a
		m.season = nil
		return
	}
	p := m.Period
	mean1, mean2 := mean(y[:p]), mean(y[p:2*p])
	m.trend = (mean2 - mean1) / float64(p)
	centre := float64(p-1) / 2
	m.level = mean1 - m.trend*(centre+1)
	m.season = make([]float64, p)
	for i := 0; i < p; i++ {
		m.season[i] = y[i] - (mean1 + m.trend*(float64(i)-centre))
	}
}

// observe filters one observation and returns its one-step error.
func (m *Model) observe(v float64) float64 {
	f := m.level + m.Phi*m.trend
	var s float64
	if m.Period > 0 {
		s = m.season[m.n%m.Period]
	}
	e := v - (f + s)
	m.level = f + m.Alpha*e
	m.trend = m.Phi*m.trend + m.Beta*e
	if m.Period > 0 {
		m.season[m.n%m.Period] = s + m.Gamma*e
	}
	m.n++
	return e
}

// Update filters a new observation into a fitted model, keeping its
// parameters, and returns the one-step forecast error.
func (m *Model) Update(v float64) float64 { return m.observe(v) }

// Point is the forecast h steps after the last observation and its
// prediction interval.
type Point struct {
	Step  int     `json:"step"`
	Mean  float64 `json:"mean"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
}

// Forecast returns the next h points with prediction intervals at level
// (for example 0.95).
func (m *Model) Forecast(h int, level float64) []Point {
	z := normalQuantile(0.5 + level/2)
	out := make([]Point, 0, h)
	damp := 0.0   // φ + … + φʰ
	sumC2 := 0.0  // Σ_{j<h} cⱼ²
	phiPow := 1.0 // φʰ
	for step := 1; step <= h; step++ {
		phiPow *= m.Phi
		damp += phiPow
		mean := m.level + damp*m.trend
		if m.Period > 0 {
			mean += m.season[(m.n+step-1)%m.Period]
		}
		half := z * m.Sigma * math.Sqrt(1+sumC2)
		out = append(out, Point{Step: step, Mean: mean, Lower: mean - half, Upper: mean + half})
		// c_step for the next horizon's variance.
		c := m.Alpha + m.Beta*damp
		if m.Period > 0 && step%m.Period == 0 {
			c += m.Gamma
		}
		sumC2 += c * c
	}
	return out
}

// Level is the smoothed level after the last observation.
func (m *Model) Level() float64 { return m.level }

// Trend is the smoothed trend per step after the last observation, before
// damping of the next step.
func (m *Model) Trend() float64 { return m.trend }

// Crossing is when a forecast reaches a threshold, in steps after the last
// observation. The zero Crossing means no forecast: the trend points away
// from the threshold, the mean forecast does not reach it within the horizon,
// or the interval is too wide to tell the crossing from noise.
type Crossing struct {
	// Steps is the first step whose mean forecast reaches the threshold:
	// the central estimate.
	Steps int `json:"steps"`
	// Earliest is the first step whose interval reaches it: the pessimistic
	// bound, never after Steps.
	Earliest int `json:"earliest"`
	// Latest is the first step whose whole interval is past it: the
	// optimistic bound, never before Steps; 0 when even the horizon's
	// interval still reaches back before the threshold (the bound is past
	// the horizon).
	Latest int `json:"latest"`
}

// Found reports whether c is a forecast crossing.
func (c Crossing) Found() bool { return c.Steps > 0 }

// TimeToThreshold forecasts up to horizon steps and reports when the series
// reaches threshold — from below when rising is true (value ≥ threshold),
// from above otherwise — with bounds from the intervals at level.
//
// A crossing is only reported when it means something: the one-step forecast
// already reaches the threshold, or the trend points toward it, the mean
// forecast reaches it within the horizon, and at that step the interval no
// longer contains the current level (the forecast move is larger than the
// noise around it). Otherwise the Crossing is zero. In particular a flat or
// receding series whose interval merely widens until it touches the
// threshold has no crossing: that is the width of the interval, not a
// trend.
func (m *Model) TimeToThreshold(threshold float64, rising bool, horizon int, level float64) Crossing {
	if horizon < 1 {
		return Crossing{}
	}
	reached := func(v float64) bool {
		if rising {
			return v >= threshold
		}
		return v <= threshold
	}
	toward := m.trend > 0
	if !rising {
		toward = m.trend < 0
	}
	pts := m.Forecast(horizon, level)
	if !toward && !reached(pts[0].Mean) {
		return Crossing{}
	}
	var c Crossing
	for _, p := range pts {
		near, far := p.Upper, p.Lower
		if !rising {
			near, far = p.Lower, p.Upper
		}
		if c.Earliest == 0 && reached(near) {
			c.Earliest = p.Step
		}
		if c.Steps == 0 && reached(p.Mean) {
			c.Steps = p.Step
			// Significant only when the interval has left the current level.
			if p.Step > 1 && (rising && far <= m.level || !rising && far >= m.level) {
				return Crossing{}
			}
		}
		if c.Latest == 0 && reached(far) {
			c.Latest = p.Step
			break
		}
	}
	if c.Steps == 0 {
		return Crossing{}
	}
	return c
}

// normalQuantile is Φ⁻¹(p).
func normalQuantile(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p-1) }

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// line fits v[t] ≈ a + b·t by least squares, t = 0, 1, ….
func line(v []float64) (a, b float64) {
	n := float64(len(v))
	tm := (n - 1) / 2
	ym := mean(v)
	var sxy, sxx float64
	for t, y := range v {
		dt := float64(t) - tm
		sxy += dt * (y - ym)
		sxx += dt * dt
	}
	if sxx > 0 {
		b = sxy / sxx
	}
	return ym - b*tm, b
}
