package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/smartmaint/smartmaint/internal/backtest"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/metrics"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// labelled evaluates both models on the labelled holdout: the holdout's
// snapshots as negatives and the snapshots taken during confirmed faults
// in the checkpoint's window as positives. Nil when the window had no
// confirmed fault (or no holdout).
func (a *Models) labelled(ctx context.Context, in EvaluateInput, snap *mlops.Snapshots, holdout [][]float64, models [2]modelfile.Model) (*mlops.Labelled, error) {
	if len(snap.Times) == 0 || len(holdout) == 0 {
		return nil, nil
	}
	assetType := strings.TrimPrefix(in.Model, detect.ModelPrefix)
	from, to := snap.Times[0], snap.Times[len(snap.Times)-1].Add(a.bucket())
	faults, err := mlops.LoadFaultSnapshots(ctx, a.DB, in.TenantID, assetType, snap.Names, from, to, a.bucket(), max(a.MaxTrainRows, len(holdout)))
	if err != nil {
		return nil, err
	}
	if len(faults.Rows) == 0 {
		return nil, nil
	}
	rows := append(append([][]float64{}, holdout...), faults.Rows...)
	labels := make([]bool, len(rows))
	for i := len(holdout); i < len(rows); i++ {
		labels[i] = true
	}
	out := &mlops.Labelled{Positives: len(faults.Rows), Negatives: len(holdout)}
	for i, dst := range []*mlops.LabelledScores{&out.Champion, &out.Challenger} {
		scores := make([]float64, len(rows))
		for j, x := range rows {
			scores[j] = models[i].Scorer.Score(x)
		}
		if dst.PRAUC, err = metrics.PRAUC(labels, scores); err != nil {
			return nil, fmt.Errorf("labelled holdout: %w", err)
		}
		if dst.ROCAUC, err = metrics.ROCAUC(labels, scores); err != nil {
			return nil, fmt.Errorf("labelled holdout: %w", err)
		}
	}
	return out, nil
}

// backtestBoth replays the stored readings of the model's assets over the
// days before end through each version (internal/backtest.Stored), with
// each asset's first confirmed fault in the window as its failure. Nil
// when days is 0 or the window holds no readings of the model's sensors;
// a replay that would outlast half the activity's remaining time is given
// up (errBacktestTooLong).
func (a *Models) backtestBoth(ctx context.Context, in EvaluateInput, versions [2]registry.Version, models [2]modelfile.Model, days int, end time.Time) (*mlops.Backtest, error) {
	if days <= 0 {
		return nil, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
		defer cancel()
	}
	assetType := strings.TrimPrefix(in.Model, detect.ModelPrefix)
	b := &mlops.Backtest{From: end.Add(-time.Duration(days) * 24 * time.Hour), To: end}
	faults, err := mlops.ConfirmedFaults(ctx, a.DB, in.TenantID, assetType, b.From, b.To)
	if err != nil {
		return nil, err
	}
	sensors := mlops.SensorFeatures(models[0].Meta.FeatureNames)
	leads := [2]float64{}
	for asset, opened := range faults {
		var failAt *time.Time
		if len(opened) > 0 {
			failAt = &opened[0]
			b.Failures++
		}
		counted := false
		for i, dst := range []*mlops.BacktestScores{&b.Champion, &b.Challenger} {
			rep, err := backtest.Stored(ctx, a.DB, backtest.StoredOptions{
				Tenant: in.TenantID, AssetID: asset, Sensors: sensors, From: b.From, To: b.To, FailureAt: failAt,
				Model: &registry.Loaded[modelfile.Model]{Model: models[i], Version: versions[i]},
			})
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				return nil, errBacktestTooLong
			}
			if err != nil {
				// An asset lacking one of the model's sensors is not served
				// by it: not part of the backtest.
				activity.GetLogger(ctx).Info("asset left out of the backtest", "asset", asset, "error", err)
				break
			}
			if rep.Readings == 0 {
				break
			}
			if !counted {
				b.Assets, b.Readings, counted = b.Assets+1, b.Readings+rep.Readings, true
			}
			dst.Alarms += rep.Alarms
			if len(opened) == 0 {
				dst.FalseAlarms += rep.Alarms
			}
			if rep.Caught != nil && *rep.Caught && rep.LeadTimeHours != nil {
				dst.Caught++
				leads[i] += *rep.LeadTimeHours
			}
		}
	}
	if b.Assets == 0 {
		return nil, nil
	}
	for i, dst := range []*mlops.BacktestScores{&b.Champion, &b.Challenger} {
		dst.AlarmsPerDay = float64(dst.Alarms) / float64(days)
		if dst.Caught > 0 {
			dst.MeanLeadHours = leads[i] / float64(dst.Caught)
		}
	}
	return b, nil
}

// errBacktestTooLong is a backtest given up for time.
var errBacktestTooLong = errors.New("the backtest would outlast the evaluation's time")

// compare adds the labelled holdout and the backtest to out, applies the
// promotion rule and records the figures in the challenger's metrics.
func (a *Models) compare(ctx context.Context, in EvaluateInput, snap *mlops.Snapshots, holdout [][]float64, versions [2]registry.Version, models [2]modelfile.Model, out *EvaluateOutput) error {
	policy := in.Policy
	if policy == nil {
		p, err := a.Store.Policy(ctx, in.TenantID, in.Model, a.Defaults)
		if err != nil {
			return err
		}
		policy = &p
	}
	out.Comparison = mlops.Comparison{Improvement: out.Improvement}
	var err error
	if out.Comparison.Labelled, err = a.labelled(ctx, in, snap, holdout, models); err != nil {
		return err
	}
	var note string
	if len(snap.Times) > 0 {
		end := snap.Times[len(snap.Times)-1].Add(a.bucket())
		out.Comparison.Backtest, err = a.backtestBoth(ctx, in, versions, models, policy.BacktestDays, end)
		if errors.Is(err, errBacktestTooLong) {
			note, err = fmt.Sprintf("the %d-day backtest was given up for time", policy.BacktestDays), nil
		}
		if err != nil {
			return err
		}
	}
	v := mlops.Compare(out.Comparison, policy.MinImprovement, policy.Tolerance)
	if note != "" {
		v.Note = strings.TrimPrefix(v.Note+"; "+note, "; ")
	}
	out.Verdict = &v
	if m := out.Comparison.Metrics(); len(m) > 0 {
		if err := a.Registry.AddMetrics(ctx, in.TenantID, in.Model, in.Challenger, m); err != nil {
			return err
		}
	}
	return nil
}
