package rul

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

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
// (at (1−Coverage)/2 and (1+Coverage)/2) widened or narrowed by Margin,
// the split-conformal correction measured on training engines held out of
// the quantile models' fit (conformalized quantile regression). Estimates
// are of the capped target: at most Config.Cap. A Model is safe for
// concurrent use and Predict does not allocate.
type Model struct {
	Config   Config
	Coverage float64
	Margin   float64
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
	// CVCoverage is the conformalized intervals' coverage of the capped
	// target on the held-out rows (by construction about Coverage).
	CVCoverage float64 `json:"cv_coverage"`
	// Seconds is the training time.
	Seconds float64 `json:"seconds"`
}

// Predict returns the estimated RUL at the cycle x describes and the
// interval's lower and upper bounds, lower ≤ rul ≤ upper, all in
// [0, Config.Cap + Margin].
func (m *Model) Predict(x []float64) (rul, lower, upper float64) {
	rul = clamp(m.Point.Score(x), 0, m.Config.Cap)
	lower = max(m.Lower.Score(x)-m.Margin, 0)
	upper = min(m.Upper.Score(x), m.Config.Cap) + m.Margin
	return rul, min(lower, rul), max(upper, rul)
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
	return map[string]any{"config": m.Config, "coverage": m.Coverage, "margin": m.Margin, "point": m.Params, "info": m.Info}
}

type wire struct {
	Config   Config          `json:"config"`
	Coverage float64         `json:"coverage"`
	Margin   float64         `json:"margin"`
	Params   gbdt.Params     `json:"params"`
	Info     Info            `json:"info"`
	Point    json.RawMessage `json:"point"`
	Lower    json.RawMessage `json:"lower"`
	Upper    json.RawMessage `json:"upper"`
}

// MarshalBinary encodes the model as JSON.
func (m *Model) MarshalBinary() ([]byte, error) {
	w := wire{Config: m.Config, Coverage: m.Coverage, Margin: m.Margin, Params: m.Params, Info: m.Info}
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
	d := Model{Config: w.Config, Coverage: w.Coverage, Margin: w.Margin, Params: w.Params, Info: w.Info}
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
