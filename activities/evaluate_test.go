package activities_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/mlops"
)

// TestEvaluateWithLabelsAndBacktest: a confirmed fault of mill-01 in the
// training window gives the evaluation a labelled holdout (its snapshots
// are positives, left out of training), and a one-day backtest replays
// both versions over the stored readings; the verdict uses both, and the
// figures are added to the challenger's metrics.
func TestEvaluateWithLabelsAndBacktest(t *testing.T) {
	a, now := newModels(t)
	ctx := context.Background()
	// mill-01 had a confirmed fault 30 to 20 minutes ago; its work order
	// resolved it.
	if _, err := a.DB.Pool.Exec(ctx, `
		INSERT INTO incidents (tenant_id, id, asset_id, workflow_id, status, resolution, severity, active, seq, opened_at, updated_at, closed_at)
		VALUES ('acme', 'inc-1', 'mill-01', 'incident/acme/mill-01', $1, $2, 'major', false, 1, $3, $4, $4)`,
		string(incident.StatusResolved), string(incident.ResolutionResolved), now.Add(-30*time.Minute), now.Add(-20*time.Minute)); err != nil {
		t.Fatal(err)
	}
	v, err := activityEnv(a).ExecuteActivity(a.TrainChallenger, activities.TrainInput{TenantID: "acme", Model: model, WorkflowID: "retrain/acme/" + model, RunID: "run-1", Now: now, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	var trained activities.TrainOutput
	if err := v.Get(&trained); err != nil {
		t.Fatal(err)
	}
	policy := mlops.Policy{MinImprovement: 0.01, Tolerance: 0.02, BacktestDays: 1}
	v, err = activityEnv(a).ExecuteActivity(a.EvaluateChallenger, activities.EvaluateInput{
		TenantID: "acme", Model: model, Champion: trained.Champion, Challenger: trained.Challenger, Checkpoint: trained.Checkpoint, Policy: &policy,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out activities.EvaluateOutput
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	l, b := out.Comparison.Labelled, out.Comparison.Backtest
	// 30 snapshots of mill-01 (one every 20 s for 10 minutes, and the one
	// bucket before the incident opened) are positives.
	if l == nil || l.Positives < 29 || l.Positives > 32 || l.Negatives != out.HoldoutRows || l.Challenger.PRAUC <= 0 || l.Champion.ROCAUC <= 0 {
		t.Fatalf("labelled %+v", l)
	}
	if b == nil || b.Assets != 4 || b.Failures != 1 || b.Readings != 4*5*150 || b.Champion.Alarms < b.Champion.FalseAlarms {
		t.Fatalf("backtest %+v", b)
	}
	if out.Verdict == nil || !slices.Equal(out.Verdict.Basis, []string{"calibration", "labels", "backtest"}) || len(out.Verdict.Checks) != 7 {
		t.Fatalf("verdict %+v", out.Verdict)
	}
	t.Logf("labelled %+v; backtest %+v; verdict promote=%v %s", *l, *b, out.Verdict.Promote, out.Verdict.Failed())
	ch, err := a.Registry.Version(ctx, "acme", model, trained.Challenger)
	if err != nil || ch.Metrics["challenger_pr_auc"] != l.Challenger.PRAUC || ch.Metrics["backtest_failures"] != 1 || ch.Metrics["holdout_rows"] == 0 {
		t.Errorf("challenger metrics %v %v", ch.Metrics, err)
	}
}
