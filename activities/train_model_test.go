package activities_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/mlops/mlopstest"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/registrytest"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

const (
	plant     = "plant-9"
	cncType   = "cnc-mill"
	riskModel = "risk-cnc-mill"
)

var historyStart = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// newPlant is the model activities over a throwaway database in which the
// tenant plant-9 (not the demo tenant) has two CNC mills with n AI4I
// records as readings and the records' failures confirmed.
func newPlant(t testing.TB, n int) (*activities.Models, *mlopstest.History) {
	t.Helper()
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, plant)
	h := mlopstest.AI4I(t, n, historyStart, "cnc-1", "cnc-2")
	keys := h.CreateAssets(t, db, plant, cncType)
	h.WriteReadings(t, db, plant, keys)
	h.ConfirmFailures(t, db, plant)
	reg, _ := registrytest.New(t, db)
	return &activities.Models{DB: db, Registry: reg, Store: &mlops.Store{DB: db}, MinTrainRows: 200, MaxTrainRows: 1 << 20}, h
}

func trainInput(h *mlopstest.History, model string, kind modelkind.Kind, alias string) activities.TrainModelInput {
	return activities.TrainModelInput{TenantID: plant, Model: model, Kind: kind, AssetType: cncType, From: h.Start, To: h.End(),
		Params: activities.TrainParams{Horizon: mlopstest.Step}, Alias: alias, RequestedBy: "test", WorkflowID: "wf", RunID: "run", Seed: 7}
}

func runTrain(t *testing.T, a *activities.Models, in activities.TrainModelInput) (activities.TrainModelOutput, error) {
	t.Helper()
	v, err := activityEnv(a).ExecuteActivity(a.TrainModel, in)
	var out activities.TrainModelOutput
	if err == nil {
		err = v.Get(&out)
	}
	return out, err
}

func TestLoadTrainingData(t *testing.T) {
	a, h := newPlant(t, 2000)
	ctx := context.Background()
	failures := h.Failures()
	d, err := a.LoadTrainingData(ctx, plant, modelkind.FailureRisk, cncType, h.SensorIDs(), h.Start, h.End(), mlopstest.Step)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Snapshots.Rows) != 2000 || len(d.Failures) != failures {
		t.Fatalf("%d snapshots and %d failures, want 2000 and %d (rejected incidents must not count)", len(d.Snapshots.Rows), len(d.Failures), failures)
	}
	// With a horizon of one step the labelled snapshots are the failing
	// records themselves.
	pos := 0
	for i, y := range d.Labels {
		if y {
			pos++
			ts, asset := d.Snapshots.Times[i], d.Snapshots.Assets[i]
			found := false
			for _, r := range h.Records {
				found = found || (r.Asset == asset && r.TS.Equal(ts) && r.Failure)
			}
			if !found {
				t.Errorf("snapshot %s %s labelled but no failure there", asset, ts)
			}
		}
	}
	if pos != failures {
		t.Errorf("%d positives, want %d", pos, failures)
	}
	// An anomaly model's data leaves the confirmed fault periods out.
	d, err = a.LoadTrainingData(ctx, plant, modelkind.Anomaly, cncType, h.SensorIDs(), h.Start, h.End(), mlopstest.Step)
	if err != nil {
		t.Fatal(err)
	}
	// (Every other failure is resolved; the rest are confirmed by their done
	// work order only, which the fault exclusion does not read.)
	if want := 2000 - (failures+1)/2; len(d.Snapshots.Rows) != want || d.Labels != nil {
		t.Errorf("anomaly data: %d snapshots, want %d", len(d.Snapshots.Rows), want)
	}
}

func TestTrainModelFailureRisk(t *testing.T) {
	a, h := newPlant(t, 10000)
	out, err := runTrain(t, a, trainInput(h, riskModel, modelkind.FailureRisk, registry.Champion))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("failure risk: %+v", out)
	if out.Version != 1 || out.TrainRows+out.HoldoutRows != 10000 || out.HoldoutPositives == 0 {
		t.Fatalf("output %+v", out)
	}
	// Time split: the holdout is the newest fifth of the time.
	if share := float64(out.HoldoutRows) / 10000; share < 0.19 || share > 0.21 {
		t.Errorf("holdout share %.3f", share)
	}
	// AI4I's process features predict its machine failures well (PR AUC
	// about 0.7 in cross-validation, docs/ML.md); the base rate is 3.4%.
	if out.Metrics["pr_auc"] < 0.5 || out.Metrics["roc_auc"] < 0.9 {
		t.Errorf("holdout metrics %v", out.Metrics)
	}
	v, err := a.Registry.Resolve(context.Background(), plant, riskModel, registry.Champion)
	if err != nil || v.Version != 1 || v.Kind != "gbdt" || v.CreatedBy != activities.TrainCreator || v.Metrics["pr_auc"] != out.Metrics["pr_auc"] {
		t.Fatalf("champion %+v, %v", v, err)
	}
	// Idempotent: a retry of the same run registers no second version.
	again, err := runTrain(t, a, trainInput(h, riskModel, modelkind.FailureRisk, registry.Champion))
	if err != nil || again.Version != 1 {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	// A later run may not take the champion alias any more.
	in := trainInput(h, riskModel, modelkind.FailureRisk, registry.Champion)
	in.RunID = "run-2"
	_, err = runTrain(t, a, in)
	assertAppError(t, err, activities.ErrInvalidTraining, "already has a champion")
	in.Alias = registry.Challenger
	out, err = runTrain(t, a, in)
	if err != nil || out.Version != 2 {
		t.Fatalf("challenger: %+v, %v", out, err)
	}
}

func TestTrainModelAnomaly(t *testing.T) {
	a, h := newPlant(t, 4000)
	in := trainInput(h, "iforest-"+cncType, modelkind.Anomaly, registry.Challenger)
	in.Features = map[string]string{"torque_nm": "torque", "rpm": "speed", "wear": "tool_wear"}
	out, err := runTrain(t, a, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("anomaly: %+v", out)
	if r := out.Metrics["holdout_anomaly_rate"]; r <= 0 || r > 0.05 {
		t.Errorf("holdout anomaly rate %v with contamination 0.01", r)
	}
	if strings.Join(out.Features, ",") != "rpm,torque_nm,wear" || out.Sources["wear"] != "tool_wear" {
		t.Errorf("features %q from %v", out.Features, out.Sources)
	}
	if _, ok := out.Metrics["roc_auc_failures"]; !ok {
		t.Errorf("no roc_auc_failures: %v, %v", out.Metrics, out.Unavailable)
	}
	v, err := a.Registry.Resolve(context.Background(), plant, in.Model, registry.Challenger)
	if err != nil || v.Kind != mlops.Kind || strings.Join(v.Features, ",") != "rpm,torque_nm,wear" {
		t.Fatalf("challenger %+v, %v", v, err)
	}
}

func TestTrainModelRefuses(t *testing.T) {
	a, h := newPlant(t, 600)
	for _, tc := range []struct {
		name   string
		change func(*activities.TrainModelInput)
		typ    string
		msg    string
		min    int
	}{
		{"no labels in range", func(in *activities.TrainModelInput) { in.From, in.To = h.Start, h.Start.Add(10*time.Minute) }, activities.ErrNotEnoughData, "fewer than the 200 needed", 0},
		{"too few failures", func(in *activities.TrainModelInput) { in.To = h.Start.Add(20 * time.Minute) }, activities.ErrNotEnoughLabels, "precede a confirmed failure", 10},
		{"bearing health", func(in *activities.TrainModelInput) { in.Kind = modelkind.BearingHealth }, activities.ErrInvalidTraining, "supports the kinds", 0},
		{"unknown sensor", func(in *activities.TrainModelInput) { in.Features = map[string]string{"x": "nope"} }, activities.ErrNotEnoughData, "complete snapshots", 0},
		{"shared source", func(in *activities.TrainModelInput) { in.Features = map[string]string{"a": "torque", "b": "torque"} }, activities.ErrInvalidTraining, "both read", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := trainInput(h, riskModel, modelkind.FailureRisk, registry.Challenger)
			tc.change(&in)
			b := *a
			if tc.min > 0 {
				b.MinTrainRows = tc.min
			}
			_, err := runTrain(t, &b, in)
			assertAppError(t, err, tc.typ, tc.msg)
		})
	}
}

func assertAppError(t *testing.T, err error, typ, msg string) {
	t.Helper()
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || app.Type() != typ || !app.NonRetryable() || !strings.Contains(app.Message(), msg) {
		t.Fatalf("error %v, want non-retryable %s containing %q", err, typ, msg)
	}
}
