package rul

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// Kind is the model file kind of a Model, registered with modelfile.
const Kind = modelfile.KindRUL

func init() {
	modelfile.Register(Kind, func(body []byte) (modelfile.Scorer, error) {
		m := new(Model)
		if err := m.UnmarshalBinary(body); err != nil {
			return nil, err
		}
		return m, nil
	})
}

// Model estimates remaining useful life from a Builder's feature vector:
// a squared-error point model and an interval from two quantile models
// (at (1−Coverage)/2 and (1+Coverage)/2) widened or narrowed by a margin,
// the split-conformal correction measured on training engines held out of
// the quantile models' fit (conformalized quantile regression). The margin
// is Mondrian: one per bin of the quantile interval's midpoint (Margins,
// bins split at Edges), so that the many easy cycles of healthy engines do
// not set the margin of the degraded ones; Margin is the single marginal
// one, used when Margins is empty. Estimates are of the capped target: at
// most Config.Cap. A Model is safe for concurrent use and Predict does not
// allocate.
type Model struct {
	Config   Config
	Coverage float64
	Margin   float64
	Edges    []float64
	Margins  []float64
	Point    *gbdt.Model
	Lower    *gbdt.Model
	Upper    *gbdt.Model
	// Params are the point model's training parameters and Info how the
	// training went; both are informational.
	Params gbdt.Params
	Info   Info
}

// Info describes a training run.
type Info struct {
	// Engines and Rows are the training engines and rows.
	Engines int `json:"engines"`
	Rows    int `json:"rows"`
	// Folds is the number of engine-grouped folds of the calibration.
	Folds int `json:"folds"`
	// Calibration is how the held-out cycles were weighted (empty in
	// files written before it existed: every cycle equally).
	Calibration Calibration `json:"calibration,omitempty"`
	// CVCoverage is the conformalized intervals' coverage of the capped
	// target on the held-out rows under the calibration's weights (by
	// construction about Coverage).
	CVCoverage float64 `json:"cv_coverage"`
	// CutCoverage is the chosen calibration's test-like held-out
	// coverage (see CalibrationCV), and CutCV that of every calibration
	// method, with one margin and with the bins.
	CutCoverage float64         `json:"cut_coverage,omitempty"`
	CutCV       []CalibrationCV `json:"cut_cv,omitempty"`
	// CVBinRows counts the held-out rows per midpoint bin, and
	// CVBinCoverageMarginal is each bin's coverage under the single
	// marginal margin: how uneven it is shows what the per-bin margins
	// correct.
	CVBinRows             []int     `json:"cv_bin_rows,omitempty"`
	CVBinCoverageMarginal []float64 `json:"cv_bin_coverage_marginal,omitempty"`
	// Seconds is the training time.
	Seconds float64 `json:"seconds"`
}

// Predict returns the estimated RUL at the cycle x describes and the
// interval's lower and upper bounds, lower ≤ rul ≤ upper, all in
// [0, Config.Cap + the largest margin].
func (m *Model) Predict(x []float64) (rul, lower, upper float64) {
	rul = clamp(m.Point.Score(x), 0, m.Config.Cap)
	lq, uq := m.Lower.Score(x), min(m.Upper.Score(x), m.Config.Cap)
	mg := m.margin((lq + uq) / 2)
	lower = max(lq-mg, 0)
	upper = uq + mg
	return rul, min(lower, rul), max(upper, rul)
}

// margin is the conformal margin of an interval with midpoint mid.
func (m *Model) margin(mid float64) float64 {
	if len(m.Margins) == 0 {
		return m.Margin
	}
	return m.Margins[bin(m.Edges, mid)]
}

// bin is the index of the bin of v: the first edge v does not exceed.
func bin(edges []float64, v float64) int {
	i := 0
	for i < len(edges) && v > edges[i] {
		i++
	}
	return i
}

func clamp(v, lo, hi float64) float64 { return max(lo, min(v, hi)) }

// Score returns the point estimate, so that a Model is a
// modelfile.Scorer.
func (m *Model) Score(x []float64) float64 { return clamp(m.Point.Score(x), 0, m.Config.Cap) }

// NumFeatures is the length of a feature vector.
func (m *Model) NumFeatures() int { return m.Point.NumFeatures() }

// ModelKind is Kind, for modelfile.
func (m *Model) ModelKind() string { return Kind }

// ModelParams are the parameters modelfile records.
func (m *Model) ModelParams() any {
	return map[string]any{"config": m.Config, "coverage": m.Coverage, "margin": m.Margin, "edges": m.Edges, "margins": m.Margins, "point": m.Params, "info": m.Info}
}

type wire struct {
	Config   Config          `json:"config"`
	Coverage float64         `json:"coverage"`
	Margin   float64         `json:"margin"`
	Edges    []float64       `json:"edges,omitempty"`
	Margins  []float64       `json:"margins,omitempty"`
	Params   gbdt.Params     `json:"params"`
	Info     Info            `json:"info"`
	Point    json.RawMessage `json:"point"`
	Lower    json.RawMessage `json:"lower"`
	Upper    json.RawMessage `json:"upper"`
}

// MarshalBinary encodes the model as JSON.
func (m *Model) MarshalBinary() ([]byte, error) {
	w := wire{Config: m.Config, Coverage: m.Coverage, Margin: m.Margin, Edges: m.Edges, Margins: m.Margins, Params: m.Params, Info: m.Info}
	for _, p := range []struct {
		dst *json.RawMessage
		m   *gbdt.Model
	}{{&w.Point, m.Point}, {&w.Lower, m.Lower}, {&w.Upper, m.Upper}} {
		if p.m == nil {
			return nil, errors.New("rul: model incomplete")
		}
		b, err := p.m.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("rul: %w", err)
		}
		*p.dst = b
	}
	return json.Marshal(w)
}

// UnmarshalBinary decodes a model written by MarshalBinary.
func (m *Model) UnmarshalBinary(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("rul: decode: %w", err)
	}
	if err := w.Config.validate(); err != nil {
		return fmt.Errorf("rul: decode: %w", err)
	}
	if math.IsNaN(w.Margin) || math.IsInf(w.Margin, 0) || !(w.Coverage > 0 && w.Coverage < 1) {
		return fmt.Errorf("rul: decode: margin %v, coverage %v", w.Margin, w.Coverage)
	}
	if len(w.Margins) > 0 && len(w.Margins) != len(w.Edges)+1 {
		return fmt.Errorf("rul: decode: %d margins for %d bin edges", len(w.Margins), len(w.Edges))
	}
	for _, v := range append(slices.Clone(w.Edges), w.Margins...) {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("rul: decode: margin or edge %v", v)
		}
	}
	d := Model{Config: w.Config, Coverage: w.Coverage, Margin: w.Margin, Edges: w.Edges, Margins: w.Margins, Params: w.Params, Info: w.Info}
	for _, p := range []struct {
		src json.RawMessage
		dst **gbdt.Model
	}{{w.Point, &d.Point}, {w.Lower, &d.Lower}, {w.Upper, &d.Upper}} {
		g := new(gbdt.Model)
		if err := g.UnmarshalBinary(p.src); err != nil {
			return fmt.Errorf("rul: decode: %w", err)
		}
		if !g.Regressor() || g.NumFeatures() != NumFeatures() {
			return fmt.Errorf("rul: decode: a sub-model is not a regressor over %d features", NumFeatures())
		}
		*p.dst = g
	}
	*m = d
	return nil
}
