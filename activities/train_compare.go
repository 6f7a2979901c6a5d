package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
)

// holdoutSet is the labelled holdout a trained version is evaluated on,
// in the trained version's feature order, and how a scorer is measured on
// it: the champion is measured by the same Score on the same rows.
type holdoutSet struct {
	X [][]float64
	// Score measures s on x, the rows of X in s's feature order; without
	// figures it says why.
	Score func(s modelfile.Scorer, x [][]float64) (map[string]float64, string)
	// Keys are the metrics Score gives.
	Keys []string
}

// add measures the trained version s on the holdout into out's metrics,
// or marks them unavailable with the reason.
func (h *holdoutSet) add(out *TrainModelOutput, s modelfile.Scorer) {
	m, why := h.Score(s, h.X)
	if why != "" {
		for _, k := range h.Keys {
			out.Unavailable[k] = why
		}
		return
	}
	maps.Copy(out.Metrics, m)
}

// compareChampion scores the model's champion on the holdout the trained
// version was evaluated on, when the champion is of the same registry
// kind and is not a version of this very run, and applies the promotion
// rule (mlops.CompareHoldout, the model's policy's tolerance): the
// champion's figures and the verdict go into out's metrics
// (mlops.HoldoutMetrics) and out.Champion and out.Verdict. A champion
// that cannot be scored here (another kind, a feature the trained version
// does not read, an artifact that does not decode) is noted in
// out.Unavailable["champion"].
func (a *Models) compareChampion(ctx context.Context, in TrainModelInput, regKind string, features []string, h *holdoutSet, out *TrainModelOutput) error {
	champ, ok, err := a.champion(ctx, in)
	switch {
	case err != nil || !ok:
		return err
	case champ.CreatedBy == TrainCreator && hasRunSuffix(champ, in):
		return nil // this run's own version, on a retry
	case champ.Kind != regKind:
		out.Unavailable["champion"] = fmt.Sprintf("the champion v%d is a %s model, not %s: not compared", champ.Version, champ.Kind, regKind)
		return nil
	}
	m, err := a.load(ctx, champ)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == "Decode" {
		out.Unavailable["champion"] = fmt.Sprintf("the champion v%d cannot be read: %v", champ.Version, err)
		return nil
	}
	if err != nil {
		return err
	}
	names := m.Meta.FeatureNames
	if len(names) == 0 {
		names = champ.Features
	}
	cols := make([]int, len(names))
	var missing []string
	for i, f := range names {
		if cols[i] = slices.Index(features, f); cols[i] < 0 {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		out.Unavailable["champion"] = fmt.Sprintf("the champion v%d reads features %q this training did not read (it read %q): it cannot be scored on the same holdout", champ.Version, missing, features)
		return nil
	}
	x := make([][]float64, len(h.X))
	for i, row := range h.X {
		x[i] = make([]float64, len(cols))
		for j, c := range cols {
			x[i][j] = row[c]
		}
	}
	figures, why := h.Score(m.Scorer, x)
	if why != "" {
		out.Unavailable["champion"] = fmt.Sprintf("the champion v%d: %s", champ.Version, why)
		return nil
	}
	policy, err := a.Store.Policy(ctx, in.TenantID, in.Model, a.Defaults)
	if err != nil {
		return err
	}
	v := mlops.CompareHoldout(figures, out.Metrics, policy.Tolerance)
	out.Champion, out.Verdict = champ.Version, &v
	maps.Copy(out.Metrics, mlops.HoldoutMetrics(champ.Version, figures, v, policy.Tolerance))
	activity.GetLogger(ctx).Info("trained version compared with the champion", "model", in.Model, "champion", champ.Version,
		"promote", v.Promote, "failed", v.Failed())
	return nil
}
