package activities_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/mlops/mlopstest"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestTrainModelRUL trains a remaining useful life model for plant-11 from
// the stored edge features of the 20 shortest C-MAPSS FD001 training
// engines, each failing at its last cycle: 16 runs train, the 4 failing
// last are the holdout.
func TestTrainModelRUL(t *testing.T) {
	const tenant, model = "plant-11", "rul-" + simulate.EngineType
	db, _ := testenv.DB(t)
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Tenant(t, db, tenant)
	h := mlopstest.CMAPSS(t, 20, historyStart, time.Second)
	keys := h.CreateAssets(t, db, tenant, simulate.EngineType)
	h.WriteReadings(t, db, tenant, keys)
	h.ConfirmFailures(t, db, tenant)
	reg := registry.New(db, folder, registry.Options{Logger: slog.New(slog.DiscardHandler)})
	a := &activities.Models{DB: db, Registry: reg, Store: &mlops.Store{DB: db}, MinTrainRows: 200, MaxTrainRows: 1 << 20}
	in := activities.TrainModelInput{TenantID: tenant, Model: model, Kind: modelkind.RUL, AssetType: simulate.EngineType, From: h.Start, To: h.End(),
		Params: activities.TrainParams{MaxIter: 40, LearningRate: 0.15}, Alias: registry.Champion, RequestedBy: "test", WorkflowID: "wf", RunID: "run", Seed: 7}

	out, err := runTrain(t, a, in)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rul: %d train rows, %d holdout rows, metrics %v, %.1fs", out.TrainRows, out.HoldoutRows, out.Metrics, out.Seconds)
	if out.TrainRuns != 16 || out.HoldoutRuns != 4 || out.TrainRows+out.HoldoutRows != len(h.Records) || out.Version != 1 {
		t.Errorf("output %+v: want 16 training and 4 holdout runs of all %d cycles", out, len(h.Records))
	}
	// Every cycle of the four longest of the twenty engines: a constant
	// guess of the mean capped target scores about 40 cycles.
	if m := out.Metrics; m["rmse"] > 30 || m["coverage"] < 0.5 || m["coverage"] > 1 || m["mean_width"] <= 0 {
		t.Errorf("holdout metrics %v", m)
	}
	if len(out.Features) != len(h.Sensors) || out.Features[0] != "age" || out.Sources["age"] != "age" {
		t.Errorf("features %q from %v", out.Features, out.Sources)
	}
	v, err := reg.Resolve(context.Background(), tenant, model, registry.Champion)
	if err != nil || v.Kind != modelfile.KindRUL || v.Version != 1 || !strings.Contains(v.TrainingData, "snapshots of "+simulate.EngineType) {
		t.Fatalf("champion %+v, %v", v, err)
	}
	// A retry registers no second version.
	if again, err := runTrain(t, a, in); err != nil || again.Version != 1 {
		t.Errorf("retry: %+v, %v", again, err)
	}

	// In the first 140 cycles four engines fail: three runs before the
	// holdout are too few.
	in.Model, in.To = "rul-2", h.Start.Add(140*time.Second)
	_, err = runTrain(t, a, in)
	assertAppError(t, err, activities.ErrNotEnoughLabels, "runs to a confirmed failure")
	in.Features = map[string]string{"vibration": "age"}
	_, err = runTrain(t, a, in)
	assertAppError(t, err, activities.ErrInvalidTraining, "not a feature of a rul model")
}
