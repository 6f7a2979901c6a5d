package activities_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

const model = "iforest-milling-machine"

// newModels is the model activities over a throwaway database with the
// AI4I champion and 600 snapshots of four machines with torque +30% and
// speed −15%, spread over the last 50 minutes.
func newModels(t *testing.T) (*activities.Models, time.Time) {
	t.Helper()
	ctx := context.Background()
	db, _ := testenv.DB(t)
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testenv.Tenant(t, db, "acme")
	reg := registry.New(db, folder, registry.Options{Logger: slog.New(slog.DiscardHandler)})
	st := &mlops.Store{DB: db}
	if _, _, err := mlops.Bootstrap(ctx, reg, st, "acme"); err != nil {
		t.Fatal(err)
	}
	recs, err := dataset.ShippedAI4I()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	var rows []store.Reading
	for m := range 4 {
		id := fmt.Sprintf("mill-%02d", m+1)
		if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: id, Type: simulate.AssetType}); err != nil {
			t.Fatal(err)
		}
		for _, spec := range simulate.Sensors(recs) {
			s, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: id, ID: spec.ID, Unit: spec.Unit})
			if err != nil {
				t.Fatal(err)
			}
			for k := range 150 {
				v := spec.Value(recs[k*4+m])
				switch spec.ID {
				case "torque":
					v *= 1.3
				case "speed":
					v *= 0.85
				}
				rows = append(rows, store.Reading{TenantID: "acme", SensorKey: s.Key, TS: now.Add(-50*time.Minute + time.Duration(k)*20*time.Second), Value: v})
			}
		}
	}
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
	return &activities.Models{
		DB: db, Registry: reg, Store: st,
		Defaults:    mlops.Policy{Drift: mlops.DefaultDriftPolicy(), MinImprovement: 0.01, ApprovalTimeout: time.Hour},
		DriftWindow: time.Hour, SampleSize: 5000, TrainWindow: time.Hour, MaxTrainRows: 20000, MinTrainRows: 200,
	}, now
}

func activityEnv(a *activities.Models) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	return env
}

func TestCheckDriftActivity(t *testing.T) {
	a, now := newModels(t)
	env := activityEnv(a)
	v, err := env.ExecuteActivity(a.CheckDrift, activities.DriftInput{TenantID: "acme", Model: model, Now: now, RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	var out activities.DriftOutput
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	c := out.Check
	if c == nil || c.Status != mlops.StatusDrift || c.Version != 1 {
		t.Fatalf("check %+v", c)
	}
	drifted := map[string]bool{}
	for _, f := range c.Features {
		drifted[f.Name] = f.Drifted
		if f.NCurrent != 600 || f.NReference != mlops.ReferenceSize {
			t.Errorf("%s: %d current, %d reference values", f.Name, f.NCurrent, f.NReference)
		}
	}
	if !drifted["torque"] || !drifted["speed"] {
		t.Errorf("drifted %v: torque and speed were shifted", drifted)
	}
	// A retried attempt finds the row it wrote.
	if _, err := env.ExecuteActivity(a.CheckDrift, activities.DriftInput{TenantID: "acme", Model: model, Now: now, RunID: "run-1"}); err != nil {
		t.Fatal(err)
	}
	if checks, _ := a.Store.DriftChecks(context.Background(), "acme", model, 10); len(checks) != 1 {
		t.Errorf("%d checks recorded for one run", len(checks))
	}
}

// TestTrainResumesAfterWorkerStop stops the first attempt's worker right
// after the snapshot stage; the next attempt, given the last heartbeat,
// resumes from the checkpoint — it no longer needs the readings — and
// registers the same forest a clean run registers, once.
func TestTrainResumesAfterWorkerStop(t *testing.T) {
	a, now := newModels(t)
	ctx := context.Background()
	in := activities.TrainInput{TenantID: "acme", Model: model, WorkflowID: "retrain/acme/" + model, RunID: "run-1", Now: now, Seed: 7}

	// First attempt: the worker is stopping.
	env := activityEnv(a)
	stop := make(chan struct{})
	close(stop)
	env.SetWorkerStopChannel(stop)
	var last converter.EncodedValues
	env.SetOnActivityHeartbeatListener(func(_ *activity.Info, details converter.EncodedValues) { last = details })
	_, err := env.ExecuteActivity(a.TrainChallenger, in)
	var app *temporal.ApplicationError
	if err == nil || !strings.Contains(err.Error(), "worker stopping after stage snapshot") {
		t.Fatalf("first attempt: %v", err)
	}
	if last == nil {
		t.Fatal("no heartbeat before stopping")
	}
	var prog activities.TrainProgress
	if err := last.Get(&prog); err != nil || prog.Stage != "snapshot" || prog.Checkpoint == nil {
		t.Fatalf("heartbeat %+v %v", prog, err)
	}
	if vs, _ := a.Registry.Versions(ctx, "acme", model, 10, 0); len(vs) != 1 {
		t.Fatalf("%d versions after a stopped attempt, want only the champion", len(vs))
	}

	// The readings go away; the retry must not need them.
	if _, err := a.DB.Pool.Exec(ctx, `DELETE FROM readings`); err != nil {
		t.Fatal(err)
	}
	env = activityEnv(a)
	env.SetHeartbeatDetails(prog)
	v, err := env.ExecuteActivity(a.TrainChallenger, in)
	if err != nil {
		t.Fatalf("resumed attempt: %v", err)
	}
	var out activities.TrainOutput
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	if out.Champion != 1 || out.Challenger != 2 || out.TrainRows != 480 || out.HoldoutRows != 120 || out.Checkpoint != *prog.Checkpoint {
		t.Fatalf("output %+v", out)
	}
	if ch, err := a.Registry.Resolve(ctx, "acme", model, registry.Challenger); err != nil || ch.Version != 2 || ch.Parent != 1 || ch.CreatedBy != activities.RetrainCreator {
		t.Errorf("challenger %+v %v", ch, err)
	}

	// An attempt whose last heartbeat was lost after registering (it only
	// reported the snapshot stage) finds the version instead of
	// registering another.
	env = activityEnv(a)
	env.SetHeartbeatDetails(prog)
	if v, err = env.ExecuteActivity(a.TrainChallenger, in); err != nil {
		t.Fatal(err)
	}
	var again activities.TrainOutput
	if err := v.Get(&again); err != nil || again.Challenger != 2 {
		t.Errorf("again: %+v %v", again, err)
	}
	if vs, _ := a.Registry.Versions(ctx, "acme", model, 10, 0); len(vs) != 2 {
		t.Errorf("%d versions, want the champion and one challenger", len(vs))
	}

	// Without checkpoint nor readings, training fails for good.
	_, err = activityEnv(a).ExecuteActivity(a.TrainChallenger, in)
	if !errors.As(err, &app) || app.Type() != activities.ErrNotEnoughData || !app.NonRetryable() {
		t.Errorf("without data: %v", err)
	}
}
