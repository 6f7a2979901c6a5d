package rul

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Calibration names which held-out cycles the conformal margins are
// computed from, and with what weight.
type Calibration string

const (
	// CalibrateEngines weights each held-out cycle by one over its
	// engine's number of cycles, so that every engine counts once: the
	// calibration distribution is that of one prediction per engine at a
	// cut-off drawn uniformly over its life, the task of the C-MAPSS test
	// set. The default.
	CalibrateEngines Calibration = "engines"
	// CalibrateCycles weights every held-out cycle equally, so that long
	// engines count more than short ones.
	CalibrateCycles Calibration = "cycles"
	// CalibrateCuts keeps Options.Cuts cut-off cycles per held-out
	// engine, drawn uniformly over its life with replacement from a fixed
	// seed.
	CalibrateCuts Calibration = "cuts"
)

func (c Calibration) valid() bool {
	return c == CalibrateEngines || c == CalibrateCycles || c == CalibrateCuts
}

// heldOut is one held-out cycle's conformity score: a cycle of an engine
// in fold, scored by the quantile models fitted without that fold.
type heldOut struct {
	score    float64
	lq, uq   float64 // the quantile models' bounds
	bin      int     // the bin of (lq+uq)/2
	engine   int
	fold     int
	position int // the cycle's index in its engine
}

// calibWeights returns each held-out cycle's weight under c; engineLen
// is each engine's number of cycles.
func calibWeights(rows []heldOut, engineLen []int, c Calibration, cuts int, seed uint64) []float64 {
	w := make([]float64, len(rows))
	switch c {
	case CalibrateCycles:
		for i := range w {
			w[i] = 1
		}
	case CalibrateEngines:
		for i, r := range rows {
			w[i] = 1 / float64(engineLen[r.engine])
		}
	case CalibrateCuts:
		// Draw the cut-offs per engine in engine order, whatever the
		// order of rows, so the draw depends only on seed and lengths.
		r := rand.New(rand.NewPCG(seed, 0x637574))
		drawn := make([]map[int]int, len(engineLen))
		for e, n := range engineLen {
			drawn[e] = make(map[int]int, cuts)
			for k := 0; k < cuts; k++ {
				drawn[e][r.IntN(n)]++
			}
		}
		for i, h := range rows {
			w[i] = float64(drawn[h.engine][h.position])
		}
	}
	return w
}

// weightedConformal returns the split-conformal quantile of scores with
// weights w (all 1 when w is nil): the smallest score whose cumulative
// weight reaches coverage·(W + w̄), W the total weight and w̄ the mean
// positive weight standing in for the new point's. With equal weights it
// is the ⌈(n+1)·coverage⌉-th smallest score.
func weightedConformal(scores, w []float64, coverage float64) float64 {
	type sw struct{ s, w float64 }
	v := make([]sw, 0, len(scores))
	var total float64
	for i, s := range scores {
		wi := 1.0
		if w != nil {
			wi = w[i]
		}
		if wi > 0 {
			v = append(v, sw{s, wi})
			total += wi
		}
	}
	if len(v) == 0 {
		return 0
	}
	slices.SortFunc(v, func(a, b sw) int {
		switch {
		case a.s < b.s:
			return -1
		case a.s > b.s:
			return 1
		}
		return 0
	})
	need := coverage * (total + total/float64(len(v)))
	var cum float64
	for _, x := range v {
		cum += x.w
		if cum >= need*(1-1e-12) {
			return x.s
		}
	}
	return v[len(v)-1].s
}

// calibrated are the margins of one calibration: the marginal one and
// one per bin.
type calibrated struct {
	margin  float64
	margins []float64
}

func (c calibrated) of(bin int) float64 {
	if len(c.margins) == 0 {
		return c.margin
	}
	return c.margins[bin]
}

// calibrate computes the margins at coverage from the rows for which
// keep is true, weighted by w, over bins bins (1: marginal only).
func calibrate(rows []heldOut, w []float64, bins int, coverage float64, keep func(heldOut) bool) calibrated {
	var all, allW []float64
	byBin, byBinW := make([][]float64, bins), make([][]float64, bins)
	for i, r := range rows {
		if !keep(r) || w[i] <= 0 {
			continue
		}
		all, allW = append(all, r.score), append(allW, w[i])
		if bins == 1 {
			continue
		}
		byBin[r.bin] = append(byBin[r.bin], r.score)
		byBinW[r.bin] = append(byBinW[r.bin], w[i])
	}
	c := calibrated{margin: weightedConformal(all, allW, coverage)}
	if bins == 1 {
		return c
	}
	for b := range byBin {
		// A bin with too few cycles for a stable quantile keeps the
		// marginal margin.
		mg := c.margin
		if len(byBin[b]) >= minBinRows {
			mg = weightedConformal(byBin[b], byBinW[b], coverage)
		}
		c.margins = append(c.margins, mg)
	}
	return c
}

// CalibrationCV is the test-like held-out coverage of one calibration
// method: for each engine-grouped fold, margins calibrated on the other
// folds' held-out cycles bound this fold's engines, whose intervals come
// from quantile models that did not see them; each engine is asked at
// cut-off cycles drawn uniformly over its life, as the test set asks.
type CalibrationCV struct {
	Calibration Calibration `json:"calibration"`
	// Bins is the number of midpoint bins (1: one marginal margin).
	Bins int `json:"bins"`
	// Coverage is the expected coverage of the capped target at one
	// uniform cut-off per engine, averaged over engines (every cycle of
	// an engine weighted by one over its length), and OneCut the
	// coverage at one drawn cut-off per engine (fixed seed), the literal
	// protocol with its sampling noise.
	Coverage float64 `json:"coverage"`
	OneCut   float64 `json:"one_cut"`
	// MeanWidth is the mean interval width in cycles at a uniform
	// cut-off (before the point estimate widens it, as Predict may).
	MeanWidth float64 `json:"mean_width"`
}

func (c CalibrationCV) String() string {
	return fmt.Sprintf("%s/%d bins: coverage %.3f, one cut %.3f, width %.1f", c.Calibration, c.Bins, c.Coverage, c.OneCut, c.MeanWidth)
}

// cutCoverage evaluates calibration c over bins by the test-like
// protocol of CalibrationCV; y is each held-out row's capped target.
func cutCoverage(rows []heldOut, y []float64, engineLen []int, folds int, c Calibration, cuts, bins int, o Options) CalibrationCV {
	w := calibWeights(rows, engineLen, c, cuts, o.Seed)
	cov := make([]float64, len(engineLen))
	width := make([]float64, len(engineLen))
	one := make([]float64, len(engineLen))
	r := rand.New(rand.NewPCG(o.Seed, 0x6f6e65))
	pick := make([]int, len(engineLen))
	for e, n := range engineLen {
		pick[e] = r.IntN(n)
	}
	for f := 0; f < folds; f++ {
		cal := calibrate(rows, w, bins, o.Coverage, func(h heldOut) bool { return h.fold != f })
		for i, h := range rows {
			if h.fold != f {
				continue
			}
			mg := cal.of(h.bin)
			lo, hi := max(h.lq-mg, 0), h.uq+mg
			in := 0.0
			if lo <= y[i] && y[i] <= hi {
				in = 1
			}
			n := float64(engineLen[h.engine])
			cov[h.engine] += in / n
			width[h.engine] += max(hi-lo, 0) / n
			if h.position == pick[h.engine] {
				one[h.engine] = in
			}
		}
	}
	res := CalibrationCV{Calibration: c, Bins: bins}
	for e := range engineLen {
		res.Coverage += cov[e]
		res.OneCut += one[e]
		res.MeanWidth += width[e]
	}
	n := float64(len(engineLen))
	res.Coverage /= n
	res.OneCut /= n
	res.MeanWidth /= n
	return res
}
