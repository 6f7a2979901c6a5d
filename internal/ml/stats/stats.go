// Package stats holds streaming statistics for per-sensor scoring when no
// trained model exists yet (a cold-start sensor): each keeps O(1) state,
// updates in constant time and never allocates, so one value per sensor can
// sit in a map on the ingest path.
//
// The usual pattern is to score a reading against the history before
// learning from it:
//
//	z := s.Z(x)
//	s.Update(x)
package stats

import (
	"math"
)

// MinReadings is how many readings Z needs before it answers; before that
// it returns 0.
const MinReadings = 8

// scale returns s floored at an absolute 1e-9 and a relative 1e-9·|center|,
// so that a constant sensor does not divide by zero.
func scale(s, center float64) float64 {
	return max(s, 1e-9, 1e-9*math.Abs(center))
}

// EWMA is an exponentially weighted moving mean and variance: a reading k
// steps old weighs α(1−α)^k. It reacts quickly but, like any mean, is
// dragged by outliers; Robust is not.
type EWMA struct {
	alpha    float64
	mean     float64
	variance float64
	n        int
}

// NewEWMA returns an EWMA with smoothing factor alpha in (0, 1]; the
// effective window is about 2/alpha − 1 readings.
func NewEWMA(alpha float64) EWMA {
	if !(alpha > 0 && alpha <= 1) {
		alpha = 0.05
	}
	return EWMA{alpha: alpha}
}

// Update learns x.
func (e *EWMA) Update(x float64) {
	e.n++
	if e.n == 1 {
		e.mean = x
		return
	}
	d := x - e.mean
	e.mean += e.alpha * d
	e.variance = (1 - e.alpha) * (e.variance + e.alpha*d*d)
}

// Z is x's distance from the mean in standard deviations; 0 before
// MinReadings readings.
func (e *EWMA) Z(x float64) float64 {
	if e.n < MinReadings {
		return 0
	}
	return (x - e.mean) / scale(math.Sqrt(e.variance), e.mean)
}

// Mean is the weighted mean.
func (e *EWMA) Mean() float64 { return e.mean }

// Std is the weighted standard deviation.
func (e *EWMA) Std() float64 { return math.Sqrt(e.variance) }

// Count is the number of readings learnt.
func (e *EWMA) Count() int { return e.n }

// madToSigma turns a median absolute deviation into a standard deviation
// for normally distributed data: 1/Φ⁻¹(¾).
const madToSigma = 1.482602218505602

// huberK is the clipping point of the location update, in σ̂.
const huberK = 1.5

// warmup is how many readings Robust keeps verbatim before it switches to
// tracking.
const warmup = 32

// The spread tracker steps up by spreadUp·α and down by spreadDown·α.
// Multiplicative steps make σ̂ wander, and a σ̂ that wanders low is what
// raises false alarms: with symmetric steps of α, σ̂ spent 16% of the time
// below 0.8σ on Gaussian data and about one reading in 10^5 passed 6σ̂;
// with a quarter-size downward step, under 5% of the time. The full upward
// step keeps the catch-up as fast as before when the spread grows (or the
// warm-up saw too little of it).
const (
	spreadUp   = 1
	spreadDown = 0.25
)

// Robust is a streaming median and median absolute deviation (MAD), and the
// robust z-score (x − median) / (1.4826·MAD) — a standard normal value for
// Gaussian data that a burst of outliers barely moves.
//
// The first 32 readings are kept and their median and MAD computed exactly.
// After that both are tracked, with σ̂ = 1.4826·MAD:
//
//	median ← median + α·clip(x − median, ±1.5σ̂)
//	MAD    ← MAD·(1+α)    if |x − median| > k·MAD
//	MAD    ← MAD/(1+α/4)  otherwise
//
// The location step is a Huber-clipped EWMA: as smooth as an EWMA for
// Gaussian data, but one reading moves it by at most 1.5·α·σ̂ whatever its
// value. The spread step is a multiplicative quantile tracker: with these
// steps its fixed point is the p ≈ 80% quantile of |x − median|, and k (about
// 1.9) is that quantile in MADs for Gaussian data, so MAD keeps its meaning
// there; for other shapes it is a robust scale that matches the MAD of a
// Gaussian. A level shift is absorbed in a few times 1/α readings; α plays
// the role of an EWMA's smoothing factor.
type Robust struct {
	alpha  float64
	k      float64 // the tracked quantile of |x − median|, in MADs
	n      int
	median float64
	mad    float64
	warm   [warmup]float64 // sorted first readings
}

// NewRobust returns a tracker with adaptation rate alpha in (0, 1); 0.05
// when alpha is out of range.
func NewRobust(alpha float64) Robust {
	if !(alpha > 0 && alpha < 1) {
		alpha = 0.05
	}
	// The tracker settles where p·ln(1+α) = (1−p)·ln(1+α/4), p being the
	// share of readings beyond k·MAD; for Gaussian data that is
	// k = Φ⁻¹(1−p/2) / Φ⁻¹(3/4).
	up, down := math.Log1p(spreadUp*alpha), math.Log1p(spreadDown*alpha)
	p := down / (up + down)
	k := math.Erfinv(1-p) / math.Erfinv(0.5)
	return Robust{alpha: alpha, k: k}
}

// Update learns x. NaN and infinities are ignored.
func (r *Robust) Update(x float64) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return
	}
	if r.n < warmup {
		// Insert into the sorted prefix.
		i := r.n
		for i > 0 && r.warm[i-1] > x {
			r.warm[i] = r.warm[i-1]
			i--
		}
		r.warm[i] = x
		r.n++
		r.median, r.mad = medianMAD(r.warm[:r.n])
		return
	}
	r.n++
	c := huberK * scale(madToSigma*r.mad, r.median)
	r.median += r.alpha * min(max(x-r.median, -c), c)
	if math.Abs(x-r.median) > r.k*r.mad {
		r.mad *= 1 + spreadUp*r.alpha
	} else {
		r.mad /= 1 + spreadDown*r.alpha
	}
	r.mad = max(r.mad, 1e-12)
}

// medianMAD computes the exact median and MAD of sorted values.
func medianMAD(sorted []float64) (median, mad float64) {
	median = middle(sorted)
	var dev [warmup]float64
	d := dev[:len(sorted)]
	for i, v := range sorted {
		d[i] = math.Abs(v - median)
	}
	for i := 1; i < len(d); i++ { // insertion sort: at most 32 values
		for j := i; j > 0 && d[j-1] > d[j]; j-- {
			d[j-1], d[j] = d[j], d[j-1]
		}
	}
	return median, middle(d)
}

func middle(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// Z is the robust z-score of x; 0 before MinReadings readings.
func (r *Robust) Z(x float64) float64 {
	if r.n < MinReadings {
		return 0
	}
	return (x - r.median) / scale(madToSigma*r.mad, r.median)
}

// Median is the current median estimate.
func (r *Robust) Median() float64 { return r.median }

// MAD is the current median-absolute-deviation estimate.
func (r *Robust) MAD() float64 { return r.mad }

// Sigma is the standard deviation implied by the MAD, 1.4826·MAD.
func (r *Robust) Sigma() float64 { return madToSigma * r.mad }

// Warm reports whether the warm-up is over: the first 32 readings were
// learnt, so the median and MAD no longer rest on a handful of values.
func (r *Robust) Warm() bool { return r.n >= warmup }

// Count is the number of readings learnt.
func (r *Robust) Count() int { return r.n }
