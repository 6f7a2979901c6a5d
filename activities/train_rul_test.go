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
const (
	enginePlant = "plant-11"
	rulModel    = "rul-" + simulate.EngineType
)

// newEngines is the model activities over a throwaway database in which
// plant-11 has the n shortest C-MAPSS FD001 training engines' edge
// features as readings, one cycle a second, each engine's last cycle a
// confirmed failure; in asks for a champion rul model of them.
func newEngines(tb testing.TB, n int) (a *activities.Models, h *mlopstest.History, in activities.TrainModelInput) {
	tb.Helper()
	db, _ := testenv.DB(tb)
	folder, err := artifact.NewFolder(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	testenv.Tenant(tb, db, enginePlant)
	h = mlopstest.CMAPSS(tb, n, historyStart, time.Second)
	keys := h.CreateAssets(tb, db, enginePlant, simulate.EngineType)
	h.WriteReadings(tb, db, enginePlant, keys)
	h.ConfirmFailures(tb, db, enginePlant)
	reg := registry.New(db, folder, registry.Options{Logger: slog.New(slog.DiscardHandler)})
	a = &activities.Models{DB: db, Registry: reg, Store: &mlops.Store{DB: db}, MinTrainRows: 200, MaxTrainRows: 1 << 20}
	in = activities.TrainModelInput{TenantID: enginePlant, Model: rulModel, Kind: modelkind.RUL, AssetType: simulate.EngineType, From: h.Start, To: h.End(),
		Alias: registry.Champion, RequestedBy: "test", WorkflowID: "wf", RunID: "run", Seed: 7}
	return a, h, in
}

func TestTrainModelRUL(t *testing.T) {
	a, h, in := newEngines(t, 20)
	in.Params = activities.TrainParams{MaxIter: 40, LearningRate: 0.15}

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
	v, err := a.Registry.Resolve(context.Background(), enginePlant, rulModel, registry.Champion)
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
