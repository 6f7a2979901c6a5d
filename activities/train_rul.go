package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/mlops"
)

// rulFeatures are a remaining useful life model's features, always
// rul.FeatureNames() in order (the edge computes them, see
// internal/simulate), and their sources: the request's mapping, else the
// rul binding's, else the sensor named after the feature.
func (a *Models) rulFeatures(ctx context.Context, in TrainModelInput) (features, sources []string, err error) {
	features = rul.FeatureNames()
	for f := range in.Features {
		if !slices.Contains(features, f) {
			return nil, nil, invalidTraining("feature %q is not a feature of a rul model (rul.FeatureNames: age, then six per sensor)", f)
		}
	}
	b, err := a.binding(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range features {
		src, ok := in.Features[f]
		switch {
		case ok:
		case b != nil:
			src = b.Source(f)
		default:
			src = f
		}
		sources = append(sources, src)
	}
	return features, sources, nil
}

// rulRows are the training or holdout rows of runs: every snapshot of each
// run with the capped cycles left to its failure, grouped by run.
func rulRows(snap *mlops.Snapshots, runs []mlops.Run, cap float64) *rul.Rows {
	r := new(rul.Rows)
	for e, run := range runs {
		for k, i := range run.Rows {
			left := float64(run.CyclesLeft(k))
			r.X = append(r.X, snap.Rows[i])
			r.Y = append(r.Y, rul.Target(left, cap))
			r.TrueRUL = append(r.TrueRUL, left)
			r.Engine = append(r.Engine, e)
		}
	}
	return r
}

// trainRUL trains a remaining useful life model on the runs to failure of
// d (rul.TrainRows): the newest fifth of the runs by failure time (at
// least one) is the holdout, on whose every cycle the point estimate's
// RMSE against the capped cycles left and the interval's coverage of them
// are measured. It fills out's counts and metrics.
func (a *Models) trainRUL(ctx context.Context, in TrainModelInput, d *TrainingData, features []string, out *TrainModelOutput, beat func(func(*TrainModelProgress))) (modelfile.Model, mlops.Reference, map[string]any, *holdoutSet, error) {
	runs := d.Runs
	hold := max(1, int(math.Round(float64(len(runs))*trainHoldout)))
	if len(runs)-hold < MinRULRuns {
		return modelfile.Model{}, mlops.Reference{}, nil, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d runs to a confirmed failure of %s assets from %s to %s (%d before the holdout of the newest %d), at least %d are needed before it: confirm failures (approved incidents, or done work orders of incidents) of assets whose readings up to them are stored, or widen the range",
				len(runs), in.AssetType, in.From.Format(time.RFC3339), in.To.Format(time.RFC3339), len(runs)-hold, hold, MinRULRuns),
			ErrNotEnoughLabels, nil)
	}
	cfg := rul.DefaultConfig()
	train, holdout := rulRows(d.Snapshots, runs[:len(runs)-hold], cfg.Cap), rulRows(d.Snapshots, runs[len(runs)-hold:], cfg.Cap)
	out.TrainRuns, out.HoldoutRuns = len(runs)-hold, hold
	out.TrainRows, out.HoldoutRows = len(train.Y), len(holdout.Y)
	out.HoldoutFrom = runs[len(runs)-hold].Failure.At

	p := rul.DefaultParams()
	p.Seed = in.Seed
	if in.Params.MaxIter > 0 {
		p.MaxIter = in.Params.MaxIter
	}
	if in.Params.LearningRate > 0 {
		p.LearningRate = in.Params.LearningRate
	}
	o := rul.Options{Config: cfg, Params: p, Folds: min(rulFolds, out.TrainRuns), Seed: in.Seed,
		Progress: func(done, total int) {
			beat(func(pr *TrainModelProgress) {
				pr.Stage, pr.TreesBuilt, pr.Trees, pr.Percent = TrainStageTraining, done, total, 30+60*float64(done)/float64(total)
			})
		}}
	beat(func(pr *TrainModelProgress) { pr.Stage = TrainStageTraining })
	m, err := rul.TrainRows(ctx, train, o)
	if err != nil {
		if ctx.Err() != nil {
			return modelfile.Model{}, mlops.Reference{}, nil, nil, errors.Join(err, ctx.Err())
		}
		return modelfile.Model{}, mlops.Reference{}, nil, nil, invalidTraining("%v", err)
	}
	beat(func(pr *TrainModelProgress) { pr.Stage, pr.Percent = TrainStageEvaluating, 90 })
	eval := &holdoutSet{X: holdout.X, Score: func(s modelfile.Scorer, x [][]float64) (map[string]float64, string) {
		return rulScores(s, x, holdout.Y)
	}, Keys: []string{mlops.MeasureRMSE, mlops.MeasureCoverage, "mean_width", mlops.NominalCoverage}}
	out.Metrics = map[string]float64{"cv_coverage": m.Info.CVCoverage, "cap": cfg.Cap, "train_runs": float64(out.TrainRuns), "holdout_runs": float64(out.HoldoutRuns)}
	eval.add(out, m)
	// The targets are a column of the hashed data.
	withY := make([][]float64, len(train.X))
	for i, x := range train.X {
		withY[i] = append(slices.Clip(x), train.Y[i])
	}
	file := modelfile.Model{Scorer: m, Meta: modelfile.Metadata{
		Kind: modelfile.KindRUL, FeatureNames: features, Dataset: "readings", Rows: out.TrainRows,
		TrainingDataSHA256: modelfile.DataHash(append(slices.Clip(features), "cycles_left"), withY, nil),
	}}
	ref := mlops.NewReference(features, train.X, mlops.ReferenceSize, in.Seed)
	params := map[string]any{"max_iter": p.MaxIter, "learning_rate": p.LearningRate, "max_leaf_nodes": p.MaxLeafNodes,
		"min_samples_leaf": p.MinSamplesLeaf, "folds": o.Folds, "coverage": m.Coverage, "config": cfg, "seed": in.Seed}
	return file, ref, params, eval, nil
}

// rulScores are a remaining useful life model's RMSE against the capped
// cycles left y on the holdout rows x, its intervals' coverage of them and
// mean width, and the coverage they aim at; a scorer that is no rul model
// has none, and the string says so.
func rulScores(s modelfile.Scorer, x [][]float64, y []float64) (map[string]float64, string) {
	m, ok := s.(*rul.Model)
	if !ok {
		return nil, fmt.Sprintf("a %T is no remaining useful life model", s)
	}
	var se, covered, width float64
	for i, row := range x {
		r, lo, hi := m.Predict(row)
		se += (r - y[i]) * (r - y[i])
		if lo <= y[i] && y[i] <= hi {
			covered++
		}
		width += hi - lo
	}
	n := float64(len(y))
	return map[string]float64{mlops.MeasureRMSE: math.Sqrt(se / n), mlops.MeasureCoverage: covered / n, "mean_width": width / n,
		mlops.NominalCoverage: m.Coverage}, ""
}
