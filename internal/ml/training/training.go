// Package training runs the platform's model training: stratified k-fold
// cross-validation on a fixed seed, a final fit on all the data, and a model
// file carrying the cross-validated metrics. `smartmaint train` is a thin
// flag parser over it, and the retraining workflow calls the same code.
package training

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/metrics"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// Model kinds Config.Model accepts.
const (
	ModelGBDT    = "gbdt"
	ModelIForest = "iforest"
)

// Config is one training job.
type Config struct {
	// Model is ModelGBDT (supervised failure classifier) or ModelIForest
	// (unsupervised anomaly detector, evaluated against the labels).
	Model string
	// Folds is k of the stratified k-fold cross-validation (default 5).
	Folds int
	// Seed fixes the folds and the models' randomness.
	Seed uint64
	// GBDT and Forest configure the models; their Seed fields are
	// overridden by Seed.
	GBDT   gbdt.Params
	Forest iforest.Params
	// Progress, when set, is called as work completes with the units done
	// and the total.
	Progress func(done, total int)
}

// Data is a labelled training set.
type Data struct {
	// Name describes the source, for example "ai4i2020".
	Name         string
	FeatureNames []string
	X            [][]float64
	Y            []bool
}

// LoadAI4I reads AI4I 2020 from the datasets folder: the five process
// features plus one-hot Type, labelled by Machine failure; the failure-mode
// columns, which leak the label, are left out.
func LoadAI4I() (*Data, error) {
	recs, err := dataset.ShippedAI4I()
	if err != nil {
		return nil, err
	}
	d := &Data{Name: "ai4i2020", FeatureNames: dataset.AI4IFeatureNames, X: make([][]float64, len(recs)), Y: make([]bool, len(recs))}
	for i, r := range recs {
		d.X[i], d.Y[i] = r.Features(), r.Failure
	}
	return d, nil
}

// FoldResult is the evaluation of one fold's held-out rows.
type FoldResult struct {
	Fold       int               `json:"fold"`
	TrainRows  int               `json:"train_rows"`
	TestRows   int               `json:"test_rows"`
	ROCAUC     float64           `json:"roc_auc"`
	PRAUC      float64           `json:"pr_auc"`
	F1         float64           `json:"f1"`
	Precision  float64           `json:"precision"`
	Recall     float64           `json:"recall"`
	Accuracy   float64           `json:"accuracy"`
	Confusion  metrics.Confusion `json:"confusion"`
	Iterations int               `json:"iterations,omitempty"`
	Seconds    float64           `json:"seconds"`
}

// Report is the outcome of Run.
type Report struct {
	Dataset string `json:"dataset"`
	Model   string `json:"model"`
	Seed    uint64 `json:"seed"`
	// Threshold is the score at or above which a row is predicted positive:
	// 0.5 for gradient-boosted trees, the forest's threshold for an
	// Isolation Forest.
	Threshold float64 `json:"threshold"`
	// Params are the model's parameters with defaults filled in
	// (gbdt.Params or iforest.Params).
	Params any          `json:"params"`
	Folds  []FoldResult `json:"folds"`
	// Mean and Std summarise the folds.
	Mean FoldResult `json:"mean"`
	Std  FoldResult `json:"std"`
	// Assignment is each row's test fold.
	Assignment []int `json:"-"`
	// Final is the model fitted on all the data, with metadata.
	Final modelfile.Model `json:"-"`
}

// Run cross-validates cfg.Model on d and fits the final model on all of d.
func Run(ctx context.Context, d *Data, cfg Config) (*Report, error) {
	if cfg.Folds == 0 {
		cfg.Folds = 5
	}
	if cfg.Model != ModelGBDT && cfg.Model != ModelIForest {
		return nil, fmt.Errorf("training: model %q: want %s or %s", cfg.Model, ModelGBDT, ModelIForest)
	}
	if len(d.X) != len(d.Y) || len(d.X) == 0 {
		return nil, fmt.Errorf("training: %d rows and %d labels", len(d.X), len(d.Y))
	}
	folds, err := metrics.StratifiedKFold(d.Y, cfg.Folds, cfg.Seed)
	if err != nil {
		return nil, fmt.Errorf("training: %w", err)
	}
	cfg.GBDT.Seed, cfg.Forest.Seed = cfg.Seed, cfg.Seed
	fits := len(folds) + 1
	unit := 1 // progress units per fit
	if cfg.Model == ModelGBDT {
		unit = cfg.GBDT.MaxIter
		if unit == 0 {
			unit = gbdt.DefaultParams().MaxIter
		}
	}
	total := fits * unit
	report := func(fit, done int) {
		if cfg.Progress != nil {
			cfg.Progress(fit*unit+done, total)
		}
	}
	r := &Report{Dataset: d.Name, Model: cfg.Model, Seed: cfg.Seed, Assignment: metrics.Assignment(folds, len(d.X))}
	for k, f := range folds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		s, iters, err := fit(d, f.Train, cfg, func(done int) { report(k, done) })
		if err != nil {
			return nil, fmt.Errorf("training: fold %d: %w", k, err)
		}
		report(k+1, 0)
		fr, err := evaluate(d, f.Test, s)
		if err != nil {
			return nil, fmt.Errorf("training: fold %d: %w", k, err)
		}
		fr.Fold, fr.TrainRows, fr.Iterations = k, len(f.Train), iters
		fr.Seconds = time.Since(start).Seconds()
		r.Folds = append(r.Folds, fr)
	}
	r.Mean, r.Std = summarise(r.Folds)
	all := make([]int, len(d.X))
	for i := range all {
		all[i] = i
	}
	s, _, err := fit(d, all, cfg, func(done int) { report(len(folds), done) })
	if err != nil {
		return nil, fmt.Errorf("training: final fit: %w", err)
	}
	report(fits, 0)
	r.Threshold = threshold(s)
	switch m := s.(type) {
	case *gbdt.Model:
		r.Params = m.Params()
	case *iforest.Forest:
		r.Params = m.Params()
	}
	r.Final = modelfile.Model{
		Scorer: s,
		Meta: modelfile.Metadata{
			FeatureNames:       d.FeatureNames,
			Threshold:          r.Threshold,
			TrainingDataSHA256: modelfile.DataHash(d.FeatureNames, d.X, d.Y),
			Dataset:            d.Name,
			Rows:               len(d.X),
			Metrics: map[string]float64{
				"cv_folds":     float64(len(folds)),
				"cv_roc_auc":   r.Mean.ROCAUC,
				"cv_pr_auc":    r.Mean.PRAUC,
				"cv_f1":        r.Mean.F1,
				"cv_precision": r.Mean.Precision,
				"cv_recall":    r.Mean.Recall,
				"cv_accuracy":  r.Mean.Accuracy,
			},
			CreatedAt: time.Now().UTC(),
		},
	}
	return r, nil
}

// fit trains on the given rows.
func fit(d *Data, rows []int, cfg Config, progress func(done int)) (modelfile.Scorer, int, error) {
	X := make([][]float64, len(rows))
	y := make([]bool, len(rows))
	for i, r := range rows {
		X[i], y[i] = d.X[r], d.Y[r]
	}
	switch cfg.Model {
	case ModelGBDT:
		p := cfg.GBDT
		p.Progress = func(done, _ int) { progress(done) }
		m, err := gbdt.Train(X, y, p)
		if err != nil {
			return nil, 0, err
		}
		return m, m.Info().Iterations, nil
	default:
		f, err := iforest.Train(X, cfg.Forest) // unsupervised: labels unused
		return f, 0, err
	}
}

func threshold(s modelfile.Scorer) float64 {
	if f, ok := s.(*iforest.Forest); ok {
		return f.Threshold()
	}
	return 0.5
}

// evaluate scores the held-out rows.
func evaluate(d *Data, rows []int, s modelfile.Scorer) (FoldResult, error) {
	labels := make([]bool, len(rows))
	scores := make([]float64, len(rows))
	for i, r := range rows {
		labels[i], scores[i] = d.Y[r], s.Score(d.X[r])
	}
	auc, err := metrics.ROCAUC(labels, scores)
	if err != nil {
		return FoldResult{}, err
	}
	ap, err := metrics.PRAUC(labels, scores)
	if err != nil {
		return FoldResult{}, err
	}
	c := metrics.AtThreshold(labels, scores, threshold(s))
	return FoldResult{
		TestRows: len(rows), ROCAUC: auc, PRAUC: ap,
		F1: c.F1(), Precision: c.Precision(), Recall: c.Recall(), Accuracy: c.Accuracy(),
		Confusion: c,
	}, nil
}

// summarise returns the mean and sample standard deviation of the folds'
// metrics (confusion matrices are summed in Mean).
func summarise(folds []FoldResult) (mean, std FoldResult) {
	n := float64(len(folds))
	get := func(f *FoldResult) []*float64 {
		return []*float64{&f.ROCAUC, &f.PRAUC, &f.F1, &f.Precision, &f.Recall, &f.Accuracy, &f.Seconds}
	}
	for _, f := range folds {
		for i, p := range get(&f) {
			*get(&mean)[i] += *p / n
		}
		mean.Confusion.TP += f.Confusion.TP
		mean.Confusion.FP += f.Confusion.FP
		mean.Confusion.TN += f.Confusion.TN
		mean.Confusion.FN += f.Confusion.FN
		mean.TrainRows += f.TrainRows
		mean.TestRows += f.TestRows
		mean.Iterations += f.Iterations
	}
	mean.Fold = -1
	mean.TrainRows /= len(folds)
	mean.TestRows /= len(folds)
	mean.Iterations /= len(folds)
	if len(folds) > 1 {
		for _, f := range folds {
			for i, p := range get(&f) {
				d := *p - *get(&mean)[i]
				*get(&std)[i] += d * d / (n - 1)
			}
		}
		for _, p := range get(&std) {
			*p = math.Sqrt(*p)
		}
	}
	std.Fold = -1
	return mean, std
}

// WriteFolds writes each row's test fold as CSV (row,fold), the file the
// scikit-learn comparison reads so that both sides use the same splits.
func (r *Report) WriteFolds(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"row", "fold"})
	for row, f := range r.Assignment {
		cw.Write([]string{strconv.Itoa(row), strconv.Itoa(f)})
	}
	cw.Flush()
	return cw.Error()
}

// ErrNoBearingData means the datasets folder has no bearing runs.
var ErrNoBearingData = errors.New("training: no bearing runs in the datasets folder (see docs/ML.md for the layout)")
