// Package drift tells whether a feature's recent values still follow the
// distribution a model was trained on: the two-sample Kolmogorov–Smirnov
// test, the Population Stability Index over quantile bins, and a per-model
// verdict that combines them with the defaults of widely used drift
// libraries.
package drift

import (
	"errors"
	"math"
	"slices"
)

// ExactLimit is the largest product of the two sample sizes for which KS
// computes the exact p-value; larger samples use the asymptotic
// distribution.
const ExactLimit = 1_000_000

// KSResult is the outcome of a two-sample Kolmogorov–Smirnov test.
type KSResult struct {
	// D is the largest distance between the two empirical CDFs.
	D float64 `json:"d"`
	// PValue is the two-sided p-value of D under the hypothesis that both
	// samples come from one continuous distribution.
	PValue float64 `json:"p_value"`
	// Exact is true when PValue was computed exactly rather than from the
	// asymptotic distribution.
	Exact bool `json:"exact"`
}

// KS runs the two-sided two-sample Kolmogorov–Smirnov test. For m·n up to
// ExactLimit the p-value is exact: the probability that a uniformly random
// lattice path from (0,0) to (m,n) — the merge order of two samples from
// one distribution — leaves the band |i/m − j/n| < D, computed by dynamic
// programming over the path's first exit (scipy's method="exact" agrees to
// rounding). Larger samples use the Kolmogorov distribution with Stephens'
// small-sample correction, Q_KS((√nₑ + 0.12 + 0.11/√nₑ)·D), nₑ = mn/(m+n).
// NaN values are not allowed.
func KS(a, b []float64) (KSResult, error) {
	m, n := len(a), len(b)
	if m == 0 || n == 0 {
		return KSResult{}, errors.New("drift: KS needs two non-empty samples")
	}
	x, y := slices.Clone(a), slices.Clone(b)
	for _, s := range [][]float64{x, y} {
		for _, v := range s {
			if math.IsNaN(v) {
				return KSResult{}, errors.New("drift: KS sample holds NaN")
			}
		}
		slices.Sort(s)
	}
	// D·m·n as an integer, max |i·n − j·m| over the merged order, stepping
	// over ties together.
	var dnum int64
	i, j := 0, 0
	for i < m || j < n {
		var v float64
		switch {
		case j == n || (i < m && x[i] <= y[j]):
			v = x[i]
		default:
			v = y[j]
		}
		for i < m && x[i] == v {
			i++
		}
		for j < n && y[j] == v {
			j++
		}
		d := int64(i)*int64(n) - int64(j)*int64(m)
		dnum = max(dnum, d, -d)
	}
	r := KSResult{D: float64(dnum) / (float64(m) * float64(n))}
	if int64(m)*int64(n) <= ExactLimit {
		r.PValue, r.Exact = exactKS(m, n, dnum), true
		return r, nil
	}
	en := math.Sqrt(float64(m) * float64(n) / float64(m+n))
	r.PValue = Kolmogorov((en + 0.12 + 0.11/en) * r.D)
	return r, nil
}

// exactKS is P(max |i·n − j·m| ≥ dnum) over uniformly random lattice paths.
// From (i,j) a random path steps to (i+1,j) with probability
// (m−i)/(m−i+n−j); mass stepping onto a point outside the band is added to
// the p-value and dropped, so small p-values keep their precision.
func exactKS(m, n int, dnum int64) float64 {
	if dnum == 0 {
		return 1
	}
	outside := func(i, j int) bool {
		d := int64(i)*int64(n) - int64(j)*int64(m)
		return d >= dnum || -d >= dnum
	}
	cur := make([]float64, n+1) // mass at (i, j) for this row, inside only
	next := make([]float64, n+1)
	cur[0] = 1
	var p float64
	for i := 0; i <= m; i++ {
		clear(next)
		for j := 0; j <= n; j++ {
			w := cur[j]
			left := float64(m-i) + float64(n-j)
			if w == 0 || left == 0 {
				continue
			}
			if j < n { // next value from the second sample
				q := w * float64(n-j) / left
				if outside(i, j+1) {
					p += q
				} else {
					cur[j+1] += q
				}
			}
			if i < m { // next value from the first sample
				q := w * float64(m-i) / left
				if outside(i+1, j) {
					p += q
				} else {
					next[j] += q
				}
			}
		}
		cur, next = next, cur
	}
	return min(p, 1)
}

// Kolmogorov is the survival function of the Kolmogorov distribution,
// Q(λ) = 2 Σ_{k≥1} (−1)^(k−1) e^(−2k²λ²): the limiting probability that
// √n times the KS distance exceeds λ. For small λ it uses the equivalent
// theta-function series 1 − (√(2π)/λ) Σ e^(−(2k−1)²π²/(8λ²)), which
// converges there.
func Kolmogorov(lambda float64) float64 {
	if lambda <= 0 {
		return 1
	}
	if lambda < 1.18 {
		var s float64
		for k := 1; k <= 10; k++ {
			t := float64(2*k - 1)
			s += math.Exp(-t * t * math.Pi * math.Pi / (8 * lambda * lambda))
		}
		return min(max(1-math.Sqrt(2*math.Pi)/lambda*s, 0), 1)
	}
	var s float64
	sign := 1.0
	for k := 1; k <= 100; k++ {
		term := math.Exp(-2 * float64(k*k) * lambda * lambda)
		s += sign * term
		if term < 1e-17 {
			break
		}
		sign = -sign
	}
	return min(max(2*s, 0), 1)
}
