package risk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/metrics"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// DatasetName names the data in model files and reports.
const DatasetName = "azure-pdm"

// Config sets the time-based split and the model search. Zero fields take
// the defaults: train on January–February 2015, the last 21 days of it as
// the validation slice, test on March 2015, alert on the top 1% of
// machine-hours, and DefaultCandidates.
type Config struct {
	TrainStart, TrainEnd time.Time
	TestStart, TestEnd   time.Time
	// Validation is the trailing part of the training period the
	// candidates are compared on (after training on what precedes it).
	Validation time.Duration
	// Candidates are the gbdt settings tried; the one with the best
	// validation PR AUC is refitted on the whole training period.
	Candidates []gbdt.Params
	// AlertRate is the share of machine-hours an operator can look at; the
	// alert threshold is the score that many validation hours reach.
	AlertRate float64
	// Exclude names features held at zero for an ablation: the trees
	// never split on them, so the model ignores what the Builder gives.
	Exclude []string
	// Progress, when set, is called after each model fitted.
	Progress func(done, total int)
}

// DefaultCandidates is a small grid around scikit-learn's defaults, without
// early stopping (a random validation split of hourly rows would leak
// between neighbouring hours; the time-based validation slice picks the
// number of trees instead).
func DefaultCandidates() []gbdt.Params {
	var out []gbdt.Params
	for _, leaves := range []int{7, 31} {
		for _, iter := range []int{100, 300} {
			for _, cw := range []string{"", "balanced"} {
				p := gbdt.DefaultParams()
				p.EarlyStopping = false
				p.LearningRate = 0.05
				p.MaxIter = iter
				p.MaxLeafNodes = leaves
				p.MinSamplesLeaf = 40
				p.ClassWeight = cw
				p.Seed = 1
				out = append(out, p)
			}
		}
	}
	return out
}

func (c Config) withDefaults() Config {
	utc := func(m time.Month) time.Time { return time.Date(2015, m, 1, 0, 0, 0, 0, time.UTC) }
	if c.TrainStart.IsZero() {
		c.TrainStart = utc(time.January)
	}
	if c.TrainEnd.IsZero() {
		c.TrainEnd = utc(time.March)
	}
	if c.TestStart.IsZero() {
		c.TestStart = c.TrainEnd
	}
	if c.TestEnd.IsZero() {
		c.TestEnd = c.TestStart.AddDate(0, 1, 0)
	}
	if c.Validation == 0 {
		c.Validation = 21 * 24 * time.Hour
	}
	if len(c.Candidates) == 0 {
		c.Candidates = DefaultCandidates()
	}
	if c.AlertRate == 0 {
		c.AlertRate = 0.01
	}
	return c
}

// Eval is how a score ranks one period's machine-hours.
type Eval struct {
	Rows      int     `json:"rows"`
	Positives int     `json:"positives"`
	PRAUC     float64 `json:"pr_auc"`
	ROCAUC    float64 `json:"roc_auc"`
	// AlertRate, Alerts, Precision and Recall are for alerting on the
	// top AlertRate of the period's hours.
	AlertRate float64 `json:"alert_rate"`
	Alerts    int     `json:"alerts"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// The Threshold fields are for alerting at the fixed threshold chosen
	// on the training period (absent for baselines).
	Threshold          float64 `json:"threshold,omitempty"`
	ThresholdAlerts    int     `json:"threshold_alerts,omitempty"`
	ThresholdPrecision float64 `json:"threshold_precision,omitempty"`
	ThresholdRecall    float64 `json:"threshold_recall,omitempty"`
}

// Evaluate ranks scores against labels y: PR and ROC AUC, and precision and
// recall of the top rate of rows (and at threshold when it is not NaN).
func Evaluate(y []bool, scores []float64, rate, threshold float64) (Eval, error) {
	e := Eval{Rows: len(y), AlertRate: rate}
	for _, v := range y {
		if v {
			e.Positives++
		}
	}
	var err error
	if e.PRAUC, err = metrics.PRAUC(y, scores); err != nil {
		return e, fmt.Errorf("risk: %w", err)
	}
	if e.ROCAUC, err = metrics.ROCAUC(y, scores); err != nil {
		return e, fmt.Errorf("risk: %w", err)
	}
	idx := make([]int, len(y))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	e.Alerts = min(len(y), int(math.Ceil(rate*float64(len(y)))))
	tp := 0
	for _, i := range idx[:e.Alerts] {
		if y[i] {
			tp++
		}
	}
	e.Precision = ratio(tp, e.Alerts)
	e.Recall = ratio(tp, e.Positives)
	if !math.IsNaN(threshold) {
		c := metrics.AtThreshold(y, scores, threshold)
		e.Threshold, e.ThresholdAlerts = threshold, c.TP+c.FP
		e.ThresholdPrecision, e.ThresholdRecall = c.Precision(), c.Recall()
	}
	return e, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// TopRateThreshold is the score reached by the top rate of scores: alerting
// at score >= it raises about rate·len(scores) alerts.
func TopRateThreshold(scores []float64, rate float64) float64 {
	if len(scores) == 0 {
		return math.Inf(1)
	}
	s := slices.Clone(scores)
	slices.SortFunc(s, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	k := max(1, min(len(s), int(math.Ceil(rate*float64(len(s))))))
	return s[k-1]
}

// Candidate is one gbdt setting and its figures on the validation slice.
type Candidate struct {
	Params gbdt.Params `json:"params"`
	Eval   Eval        `json:"validation"`
}

// Baseline is a one-feature score evaluated on the test period.
type Baseline struct {
	Name string `json:"name"`
	Eval Eval   `json:"test"`
}

// Result is a trained failure-risk model and its figures.
type Result struct {
	Config struct {
		TrainStart time.Time `json:"train_start"`
		TrainEnd   time.Time `json:"train_end"`
		ValStart   time.Time `json:"validation_start"`
		TestStart  time.Time `json:"test_start"`
		TestEnd    time.Time `json:"test_end"`
	} `json:"split"`
	Candidates []Candidate `json:"candidates"`
	Chosen     int         `json:"chosen"`
	// Threshold is the top-AlertRate score of the chosen candidate on the
	// validation slice.
	Threshold float64    `json:"threshold"`
	Train     Eval       `json:"train"` // in-sample, for reference
	Test      Eval       `json:"test"`
	Baselines []Baseline `json:"baselines"`
	// Model is the chosen setting refitted on the whole training period,
	// with its feature names, threshold and figures.
	Model modelfile.Model `json:"-"`
}

// Train builds the machine-hour table of d, compares cfg.Candidates on the
// validation slice, refits the best on the training period and evaluates
// it on the test period.
func Train(ctx context.Context, d *dataset.AzurePdM, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	tab, err := BuildTable(ctx, d)
	if err != nil {
		return nil, err
	}
	return TrainTable(ctx, tab, cfg)
}

// TrainTable is Train on a table already built.
func TrainTable(ctx context.Context, tab *Table, cfg Config) (*Result, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Exclude) > 0 {
		var err error
		if tab, err = tab.without(cfg.Exclude); err != nil {
			return nil, err
		}
	}
	valStart := cfg.TrainEnd.Add(-cfg.Validation)
	inner := tab.Between(cfg.TrainStart, valStart, valStart)
	val := tab.Between(valStart, cfg.TrainEnd, cfg.TrainEnd)
	train := tab.Between(cfg.TrainStart, cfg.TrainEnd, cfg.TrainEnd)
	test := tab.Between(cfg.TestStart, cfg.TestEnd, time.Time{})
	for _, s := range []struct {
		name string
		t    *Table
	}{{"inner training", inner}, {"validation", val}, {"training", train}, {"test", test}} {
		if p := s.t.Positives(); p == 0 || p == s.t.Len() {
			return nil, fmt.Errorf("risk: %s period has %d rows, %d failing: %w", s.name, s.t.Len(), p, metrics.ErrOneClass)
		}
	}
	r := &Result{}
	r.Config.TrainStart, r.Config.TrainEnd, r.Config.ValStart = cfg.TrainStart, cfg.TrainEnd, valStart
	r.Config.TestStart, r.Config.TestEnd = cfg.TestStart, cfg.TestEnd
	total := len(cfg.Candidates) + 1
	best, bestScores := -1, []float64(nil)
	for i, p := range cfg.Candidates {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := gbdt.Train(inner.X, inner.Y, p)
		if err != nil {
			return nil, fmt.Errorf("risk: candidate %d: %w", i, err)
		}
		scores := scoreAll(m, val.X)
		e, err := Evaluate(val.Y, scores, cfg.AlertRate, math.NaN())
		if err != nil {
			return nil, err
		}
		r.Candidates = append(r.Candidates, Candidate{Params: p, Eval: e})
		if best < 0 || e.PRAUC > r.Candidates[best].Eval.PRAUC {
			best, bestScores = i, scores
		}
		if cfg.Progress != nil {
			cfg.Progress(i+1, total)
		}
	}
	r.Chosen = best
	r.Threshold = TopRateThreshold(bestScores, cfg.AlertRate)

	m, err := gbdt.Train(train.X, train.Y, cfg.Candidates[best])
	if err != nil {
		return nil, fmt.Errorf("risk: final fit: %w", err)
	}
	if cfg.Progress != nil {
		cfg.Progress(total, total)
	}
	if r.Train, err = Evaluate(train.Y, scoreAll(m, train.X), cfg.AlertRate, r.Threshold); err != nil {
		return nil, err
	}
	if r.Test, err = Evaluate(test.Y, scoreAll(m, test.X), cfg.AlertRate, r.Threshold); err != nil {
		return nil, err
	}
	for _, b := range Baselines() {
		s := make([]float64, test.Len())
		for i, x := range test.X {
			s[i] = b.Score(x)
		}
		e, err := Evaluate(test.Y, s, cfg.AlertRate, math.NaN())
		if err != nil {
			return nil, err
		}
		r.Baselines = append(r.Baselines, Baseline{Name: b.Name, Eval: e})
	}
	r.Model = modelfile.Model{
		Scorer: m,
		Meta: modelfile.Metadata{
			FeatureNames:       slices.Clone(FeatureNames),
			Threshold:          r.Threshold,
			TrainingDataSHA256: modelfile.DataHash(FeatureNames, train.X, train.Y),
			Dataset:            DatasetName,
			Rows:               train.Len(),
			Metrics: map[string]float64{
				"validation_pr_auc":          r.Candidates[best].Eval.PRAUC,
				"test_pr_auc":                r.Test.PRAUC,
				"test_roc_auc":               r.Test.ROCAUC,
				"test_precision_at_top_rate": r.Test.Precision,
				"test_recall_at_top_rate":    r.Test.Recall,
				"alert_rate":                 cfg.AlertRate,
			},
		},
	}
	return r, nil
}

// without returns a copy of t with the named features set to zero.
func (t *Table) without(names []string) (*Table, error) {
	var idx []int
	for _, n := range names {
		i := slices.Index(FeatureNames, n)
		if i < 0 {
			return nil, fmt.Errorf("risk: no feature %q to exclude", n)
		}
		idx = append(idx, i)
	}
	out := *t
	out.X = make([][]float64, len(t.X))
	for r, x := range t.X {
		x = slices.Clone(x)
		for _, i := range idx {
			x[i] = 0
		}
		out.X[r] = x
	}
	return &out, nil
}

func scoreAll(m *gbdt.Model, X [][]float64) []float64 {
	s := make([]float64, len(X))
	for i, x := range X {
		s[i] = m.Score(x)
	}
	return s
}

// BaselineScore is a simple score of one feature vector for comparison.
type BaselineScore struct {
	Name  string
	Score func(x []float64) float64
}

// Baselines are the untrained comparisons: the number of errors in the last
// 24 h, and the longest time since any component's last maintenance.
func Baselines() []BaselineScore {
	return []BaselineScore{
		{"errors_24h", func(x []float64) float64 {
			s := 0.0
			for i := range ErrorKinds {
				s += x[offErrors+i]
			}
			return s
		}},
		{"max_hours_since_maint", func(x []float64) float64 {
			s := math.Inf(-1)
			for i := range Components {
				s = math.Max(s, x[offMaint+i])
			}
			return s
		}},
	}
}

// ModelFeatures checks that a loaded model takes this package's features.
func ModelFeatures(m modelfile.Model) error {
	if !slices.Equal(m.Meta.FeatureNames, FeatureNames) {
		return errors.New("risk: model features differ from risk.FeatureNames")
	}
	if m.Scorer == nil || m.Scorer.NumFeatures() != len(FeatureNames) {
		return errors.New("risk: model does not take risk.FeatureNames")
	}
	return nil
}

// WriteTable prints the figures.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "split\ttrain %s..%s (validation from %s), test %s..%s\n", day(r.Config.TrainStart), day(r.Config.TrainEnd), day(r.Config.ValStart), day(r.Config.TestStart), day(r.Config.TestEnd))
	c := r.Candidates[r.Chosen]
	fmt.Fprintf(tw, "chosen\tleaves %d, iterations %d, learning rate %g, class weight %q (validation PR AUC %.3f)\n", c.Params.MaxLeafNodes, c.Params.MaxIter, c.Params.LearningRate, c.Params.ClassWeight, c.Eval.PRAUC)
	fmt.Fprintf(tw, "threshold\t%.4f (top %.1f%% of validation hours)\n", r.Threshold, 100*r.Test.AlertRate)
	fmt.Fprintln(tw, "\nscore\tperiod\trows\tpositive\tPR AUC\tROC AUC\tprecision@top\trecall@top\talerts@thr\tprecision@thr\trecall@thr")
	row := func(name, period string, e Eval, thr bool) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.3f\t%.3f\t%.3f\t%.3f", name, period, e.Rows, e.Positives, e.PRAUC, e.ROCAUC, e.Precision, e.Recall)
		if thr {
			fmt.Fprintf(tw, "\t%d\t%.3f\t%.3f\n", e.ThresholdAlerts, e.ThresholdPrecision, e.ThresholdRecall)
		} else {
			fmt.Fprint(tw, "\t\t\t\n")
		}
	}
	for i, c := range r.Candidates {
		row(fmt.Sprintf("gbdt candidate %d", i), "validation", c.Eval, false)
	}
	row("gbdt", "train (in-sample)", r.Train, true)
	row("gbdt", "test", r.Test, true)
	for _, b := range r.Baselines {
		row(b.Name, "test", b.Eval, false)
	}
	return tw.Flush()
}

func day(t time.Time) string { return t.Format("2006-01-02") }

// TrainDir is Train on the Azure PdM tables in dir ("" for
// dataset.AzurePdMDir()).
func TrainDir(ctx context.Context, dir string, cfg Config) (*Result, error) {
	if dir == "" {
		var err error
		if dir, err = dataset.AzurePdMDir(); err != nil {
			return nil, err
		}
	}
	d, err := dataset.LoadAzurePdM(dir)
	if err != nil {
		return nil, err
	}
	return Train(ctx, d, cfg)
}
