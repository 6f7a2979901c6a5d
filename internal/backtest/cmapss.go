package backtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
)

// DatasetCMAPSS names the report of a C-MAPSS replay.
const DatasetCMAPSS = "cmapss"

// defaultCMAPSSCharts is how many units get a chart by default.
const defaultCMAPSSCharts = 4

// CMAPSSOptions say what to replay.
type CMAPSSOptions struct {
	// Test is a file in the C-MAPSS train/test layout; when empty, the
	// shipped test_FD001.txt with its RUL_FD001.txt.
	Test string
	// RUL is the RUL file giving each test engine's true RUL at its last
	// cycle; when empty (and Test is set) the report has no truth.
	RUL string
	// Model is a model file of kind rul; when empty a model is trained
	// on Train with TrainOptions.
	Model string
	// Train is the run-to-failure training file (default the shipped
	// train_FD001.txt) and TrainOptions the training options, both used
	// only without Model.
	Train        string
	TrainOptions rul.Options
	// Units keeps only these units (all when empty).
	Units []int
	// Charts is how many units, the first ones, get a chart (default 4;
	// negative for none).
	Charts int
	// Progress, when set, is called after each unit replayed.
	Progress Progress
}

// CMAPSSReport is the outcome of a C-MAPSS replay; its JSON form is the
// contract in docs/ML.md. RMSE, PHM08 and Coverage are null without truth.
type CMAPSSReport struct {
	Dataset string `json:"dataset"`
	// RMSE and PHM08 compare each unit's estimate at its last cycle with
	// its true RUL; Coverage is the share of units whose interval holds
	// min(true RUL, the model's cap), the quantity the model estimates.
	RMSE     *float64     `json:"rmse"`
	PHM08    *float64     `json:"phm08"`
	Coverage *float64     `json:"coverage"`
	Units    []CMAPSSUnit `json:"units"`

	cap    float64
	charts []*Chart
}

// CMAPSSUnit is one engine's estimate at its last cycle.
type CMAPSSUnit struct {
	Unit    int      `json:"unit"`
	RUL     float64  `json:"rul"`
	Lower   float64  `json:"lower"`
	Upper   float64  `json:"upper"`
	TrueRUL *float64 `json:"true_rul"`
}

// CMAPSS replays a C-MAPSS test file cycle by cycle through the streaming
// feature builder and the RUL model, as the ingest path would, and scores
// each unit's estimate at its last cycle when the truth is known.
func CMAPSS(ctx context.Context, o CMAPSSOptions) (*CMAPSSReport, error) {
	def, err := rul.FD001()
	if err != nil {
		return nil, err
	}
	if o.Test == "" {
		o.Test = def.Test
		if o.RUL == "" {
			o.RUL = def.RUL
		}
	}
	if o.Train == "" {
		o.Train = def.Train
	}
	if o.Charts == 0 {
		o.Charts = defaultCMAPSSCharts
	}
	m, err := cmapssModel(ctx, o)
	if err != nil {
		return nil, err
	}
	engines, err := dataset.LoadCMAPSSEngines(o.Test)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	var truth []int
	if o.RUL != "" {
		if truth, err = dataset.LoadCMAPSSRUL(o.RUL); err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		if len(truth) != len(engines) {
			return nil, fmt.Errorf("backtest: %d RUL values for %d engines in %s", len(truth), len(engines), o.Test)
		}
	}
	b, err := rul.NewBuilder(m.Config)
	if err != nil {
		return nil, err
	}
	rep := &CMAPSSReport{Dataset: DatasetCMAPSS, cap: m.Config.Cap}
	var keep []int
	for i, e := range engines {
		if len(o.Units) == 0 || slices.Contains(o.Units, e.Unit) {
			keep = append(keep, i)
		}
	}
	if len(keep) == 0 {
		return nil, fmt.Errorf("backtest: no units %v in %s", o.Units, o.Test)
	}
	for n, i := range keep {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		e := engines[i]
		chart := n < o.Charts
		var cycles, est, lo, hi []float64
		b.Reset()
		var u CMAPSSUnit
		for j := range e.Cycles {
			r, l, h := m.Predict(b.Update(&e.Cycles[j].Sensors))
			u = CMAPSSUnit{Unit: e.Unit, RUL: r, Lower: l, Upper: h}
			if chart {
				cycles = append(cycles, float64(e.Cycles[j].Cycle))
				est, lo, hi = append(est, r), append(lo, l), append(hi, h)
			}
		}
		if truth != nil {
			t := float64(truth[i])
			u.TrueRUL = &t
		}
		rep.Units = append(rep.Units, u)
		if chart {
			rep.charts = append(rep.charts, cmapssChart(e, u, cycles, est, lo, hi))
		}
		if o.Progress != nil {
			o.Progress(n+1, len(keep))
		}
	}
	if truth != nil {
		units := make([]rul.Unit, len(rep.Units))
		tv := make([]float64, len(rep.Units))
		for i, u := range rep.Units {
			units[i] = rul.Unit{Unit: u.Unit, RUL: u.RUL, Lower: u.Lower, Upper: u.Upper}
			tv[i] = *u.TrueRUL
		}
		met, err := rul.Score(units, tv, m.Config.Cap)
		if err != nil {
			return nil, err
		}
		rep.RMSE, rep.PHM08, rep.Coverage = &met.RMSE, &met.PHM08, &met.Coverage
	}
	return rep, nil
}

// cmapssModel reads o.Model or trains one.
func cmapssModel(ctx context.Context, o CMAPSSOptions) (*rul.Model, error) {
	if o.Model == "" {
		train, err := dataset.LoadCMAPSSEngines(o.Train)
		if err != nil {
			return nil, fmt.Errorf("backtest: %w", err)
		}
		return rul.Train(ctx, train, o.TrainOptions)
	}
	f, err := os.Open(o.Model)
	if err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	defer f.Close()
	mf, err := modelfile.Read(f)
	if err != nil {
		return nil, fmt.Errorf("backtest: %s: %w", o.Model, err)
	}
	m, ok := mf.Scorer.(*rul.Model)
	if !ok {
		return nil, fmt.Errorf("backtest: %s is a %s model, not %s", o.Model, mf.Meta.Kind, rul.Kind)
	}
	return m, nil
}

// cmapssChart draws a unit's estimate and interval against the cycle,
// with the truth when known (its RUL counting down to its failure).
func cmapssChart(e dataset.CMAPSSEngine, u CMAPSSUnit, cycles, est, lo, hi []float64) *Chart {
	c := &Chart{
		Name:   "cmapss-unit" + strconv.Itoa(u.Unit),
		Title:  fmt.Sprintf("C-MAPSS unit %d: estimated RUL with interval", u.Unit),
		XLabel: "cycle",
		YLabel: "RUL (cycles)",
		Series: []Series{{Name: "estimate", X: cycles, Y: est}, {Name: "lower", X: cycles, Y: lo}, {Name: "upper", X: cycles, Y: hi}},
	}
	if u.TrueRUL != nil {
		last := float64(e.Cycles[len(e.Cycles)-1].Cycle)
		tr := make([]float64, len(cycles))
		for i, x := range cycles {
			tr[i] = *u.TrueRUL + last - x
		}
		c.Series = append(c.Series, Series{Name: "true RUL", X: cycles, Y: tr})
		c.Failures = []float64{last + *u.TrueRUL}
	}
	return c
}

// Summary writes the figures and a line per unit.
func (r *CMAPSSReport) Summary(w io.Writer) error {
	if r.RMSE != nil {
		fmt.Fprintf(w, "C-MAPSS backtest, %d units at their last cycle: RMSE %.2f  PHM08 %.1f  interval coverage %.3f (of min(true, %g))\n\n",
			len(r.Units), *r.RMSE, *r.PHM08, *r.Coverage, r.cap)
	} else {
		fmt.Fprintf(w, "C-MAPSS backtest, %d units at their last cycle, no truth given\n\n", len(r.Units))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "unit\tRUL\tlower\tupper\ttrue RUL\t")
	for _, u := range r.Units {
		t := "-"
		if u.TrueRUL != nil {
			t = strconv.FormatFloat(*u.TrueRUL, 'f', 0, 64)
		}
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%.1f\t%s\t\n", u.Unit, u.RUL, u.Lower, u.Upper, t)
	}
	return tw.Flush()
}

// Charts are the first units' estimates against the cycle.
func (r *CMAPSSReport) Charts() []*Chart { return r.charts }
