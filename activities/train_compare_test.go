package activities_test

import (
	"context"
	"testing"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// trainAgainstChampion trains in as a challenger of a later run and
// checks that the champion was scored on its holdout with the verdict
// promote, recorded in the version's metrics too.
func trainAgainstChampion(t *testing.T, a *activities.Models, in activities.TrainModelInput, run string, params activities.TrainParams, promote bool, measures ...string) activities.TrainModelOutput {
	t.Helper()
	in.RunID, in.Alias, in.Params = run, registry.Challenger, params
	out, err := runTrain(t, a, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: champion v%d, verdict %+v, metrics %v", run, out.Champion, out.Verdict, out.Metrics)
	if out.Champion != 1 || out.Verdict == nil || out.Verdict.Promote != promote {
		t.Fatalf("%s: champion v%d, verdict %+v (unavailable %v), want promote %v", run, out.Champion, out.Verdict, out.Unavailable, promote)
	}
	for _, m := range measures {
		if _, ok := out.Metrics[mlops.ChampionPrefix+m]; !ok {
			t.Errorf("%s: no champion figure for %s in %v", run, m, out.Metrics)
		}
	}
	v, err := a.Registry.Version(context.Background(), in.TenantID, in.Model, out.Version)
	if err != nil {
		t.Fatal(err)
	}
	rec, champ, ok := mlops.RecordedVerdict(v.Metrics)
	if !ok || champ != 1 || rec.Promote != promote || rec.Failed() != out.Verdict.Failed() {
		t.Errorf("%s: recorded verdict %+v against v%d (%v), want %+v", run, rec, champ, ok, out.Verdict)
	}
	return out
}

func TestTrainModelComparesFailureRisk(t *testing.T) {
	a, h := newPlant(t, 4000)
	a.Defaults.Tolerance = mlops.DefaultTolerance
	champ := trainInput(h, riskModel, modelkind.FailureRisk, registry.Champion)
	champ.Params.MaxIter = 30
	first, err := runTrain(t, a, champ)
	if err != nil || first.Verdict != nil || first.Champion != 0 {
		t.Fatalf("first training: %+v, %v", first, err)
	}
	weak := champ.Params
	weak.MaxIter = 2
	trainAgainstChampion(t, a, champ, "weak", weak, false, mlops.MeasurePRAUC, mlops.MeasureROCAUC)
	good := trainAgainstChampion(t, a, champ, "good", champ.Params, true, mlops.MeasurePRAUC, mlops.MeasureROCAUC)
	if good.Metrics["champion_pr_auc"] != first.Metrics["pr_auc"] {
		t.Errorf("champion scored %v on the same holdout, %v when trained", good.Metrics["champion_pr_auc"], first.Metrics["pr_auc"])
	}
}

func TestTrainModelComparesRUL(t *testing.T) {
	a, _, in := newEngines(t, 20)
	a.Defaults.Tolerance = mlops.DefaultTolerance
	in.Params = activities.TrainParams{MaxIter: 40, LearningRate: 0.15}
	if _, err := runTrain(t, a, in); err != nil {
		t.Fatal(err)
	}
	weak := in.Params
	weak.MaxIter = 2
	trainAgainstChampion(t, a, in, "weak", weak, false, mlops.MeasureRMSE, mlops.MeasureCoverage)
	trainAgainstChampion(t, a, in, "good", in.Params, true, mlops.MeasureRMSE, mlops.MeasureCoverage)
}
