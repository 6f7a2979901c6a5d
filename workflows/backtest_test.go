package workflows

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/backtest"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

var btStart = time.Date(2026, 10, 5, 0, 0, 0, 0, time.UTC)

// backtestFixture stores a day of minute readings of press-1 — temp near
// 50 stepping to 80 at noon, flow near 10 ten seconds later each minute —
// and registers iforest-press v1, a forest trained on the calm part.
func backtestFixture(t *testing.T) *activities.Backtests {
	t.Helper()
	ctx := context.Background()
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "acme")
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "press-1", Type: "press"}); err != nil {
		t.Fatal(err)
	}
	temp, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "press-1", ID: "temp", Unit: "C"})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "press-1", ID: "flow", Unit: "l/min"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var rows []store.Reading
	var calm [][]float64
	for ts := btStart; ts.Before(btStart.Add(24 * time.Hour)); ts = ts.Add(time.Minute) {
		v, f := 50+rng.NormFloat64()*0.5, 10+rng.NormFloat64()*0.2
		if ts.Hour() >= 12 {
			v += 30
		} else {
			calm = append(calm, []float64{v, f})
		}
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: temp.Key, TS: ts, Value: v},
			store.Reading{TenantID: "acme", SensorKey: flow.Key, TS: ts.Add(10 * time.Second), Value: f})
	}
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
	forest, err := iforest.Train(calm, iforest.Params{Trees: 50, Contamination: 0.01, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	file, err := modelfile.Marshal(modelfile.Model{Meta: modelfile.Metadata{FeatureNames: []string{"temp", "flow"}, Threshold: forest.Threshold()}, Scorer: forest})
	if err != nil {
		t.Fatal(err)
	}
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, folder, registry.Options{})
	if _, err := reg.Create(ctx, "acme", registry.NewVersion{Name: "iforest-press", Kind: "iforest", Features: []string{"temp", "flow"}, CreatedBy: "test"}, file); err != nil {
		t.Fatal(err)
	}
	return &activities.Backtests{DB: db, Registry: reg}
}

func TestBacktestReplaysStoredReadings(t *testing.T) {
	a := backtestFixture(t)
	failure := btStart.Add(20 * time.Hour)
	for _, tc := range []struct {
		name      string
		model     string
		sensors   []string
		detectors []string
	}{
		{"limits and robust z", "", nil, []string{"threshold", "robust-z"}},
		{"with the model", "iforest-press", nil, []string{"threshold", "robust-z", "model"}},
		{"the model without one of its sensors", "iforest-press", []string{"temp"}, []string{"threshold", "robust-z", "model"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv()
			env.RegisterWorkflow(Backtest)
			env.RegisterActivity(a)
			in := BacktestInput{BacktestID: "b1", RequestedBy: "test", Replay: activities.BacktestInput{
				TenantID: "acme", AssetID: "press-1", Sensors: tc.sensors, From: btStart, To: btStart.Add(24 * time.Hour), FailureAt: &failure,
			}}
			if tc.model != "" {
				in.Replay.Model, in.Replay.Version = tc.model, 1
			}
			env.ExecuteWorkflow(Backtest, in)
			if err := env.GetWorkflowError(); err != nil {
				t.Fatal(err)
			}
			var s *BacktestState
			if err := env.GetWorkflowResult(&s); err != nil {
				t.Fatal(err)
			}
			rep := s.Report
			if s.Status != BacktestDone || rep == nil || s.FinishedAt == nil || s.Progress.Done != int64(24*60*(2-len(tc.sensors))) {
				t.Fatalf("state = %+v", s)
			}
			step := btStart.Add(12 * time.Hour)
			if a := rep.FirstAlarm; a == nil || !a.Start.Equal(step) {
				t.Fatalf("first alarm = %+v, want from %s", a, step)
			}
			if rep.LeadTimeHours == nil || *rep.LeadTimeHours < 7.9 || *rep.LeadTimeHours > 8 {
				t.Errorf("lead time = %v, want just under 8 h", rep.LeadTimeHours)
			}
			if len(rep.Detectors) != len(tc.detectors) {
				t.Errorf("detectors = %v, want %v", rep.Detectors, tc.detectors)
			}
			if tc.sensors != nil && (rep.ByDetector["model"] != 0 || len(rep.ModelFeaturesMissing) != 1 || rep.ModelFeaturesMissing[0] != "flow") {
				t.Errorf("without flow: by detector %v, missing %v", rep.ByDetector, rep.ModelFeaturesMissing)
			}
			if tc.model != "" && tc.sensors == nil && (rep.Model == nil || rep.Model.Name != tc.model || rep.Model.Version != 1 || rep.ByDetector["model"] == 0 || len(rep.ModelFeaturesMissing) != 0) {
				t.Errorf("model %+v, by detector %v", rep.Model, rep.ByDetector)
			}
		})
	}
}

// TestBacktestProgressQuery: progress signals show in the query, never
// going back; the final state has the report's count.
func TestBacktestProgressQuery(t *testing.T) {
	env := newTestEnv()
	env.RegisterWorkflow(Backtest)
	var a *activities.Backtests
	env.RegisterActivity(a)
	release := make(chan struct{})
	env.OnActivity(a.RunBacktest, mock.Anything, mock.Anything).Return(func(context.Context, activities.BacktestInput) (*backtest.StoredReport, error) {
		<-release
		return &backtest.StoredReport{Readings: 42}, nil
	})
	check := func(want int64) {
		v, err := env.QueryWorkflow(QueryBacktest)
		if err != nil {
			t.Fatal(err)
		}
		var s BacktestState
		if err := v.Get(&s); err != nil {
			t.Fatal(err)
		}
		if s.Status != BacktestRunning || s.Progress.Done != want {
			t.Errorf("state %s progress %+v, want running at %d", s.Status, s.Progress, want)
		}
	}
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(activities.SignalBacktestProgress, activities.BacktestProgress{Done: 10, Total: 40})
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		env.SignalWorkflow(activities.SignalBacktestProgress, activities.BacktestProgress{Done: 5, Total: 40}) // late, older
	}, 2*time.Second)
	env.RegisterDelayedCallback(func() { check(10); close(release) }, 3*time.Second)
	env.ExecuteWorkflow(Backtest, BacktestInput{BacktestID: "b2", Replay: activities.BacktestInput{TenantID: "acme", AssetID: "x", From: btStart, To: btStart.Add(time.Hour)}})
	var s *BacktestState
	if err := env.GetWorkflowResult(&s); err != nil {
		t.Fatal(err)
	}
	if s.Status != BacktestDone || s.Progress.Done != 42 {
		t.Errorf("final state %s progress %+v", s.Status, s.Progress)
	}
}

// TestBacktestUnknownAssetFails: a backtest of an asset that is gone fails
// at once (not retried) and says why.
func TestBacktestUnknownAssetFails(t *testing.T) {
	a := backtestFixture(t)
	env := newTestEnv()
	env.RegisterWorkflow(Backtest)
	env.RegisterActivity(a)
	attempts := 0
	env.SetOnActivityStartedListener(func(*activity.Info, context.Context, converter.EncodedValues) { attempts++ })
	env.ExecuteWorkflow(Backtest, BacktestInput{BacktestID: "b3", Replay: activities.BacktestInput{
		TenantID: "acme", AssetID: "gone", From: btStart, To: btStart.Add(time.Hour)}})
	err := env.GetWorkflowError()
	var act *temporal.ActivityError
	var app *temporal.ApplicationError
	if !errors.As(err, &act) || !errors.As(act.Unwrap(), &app) || app.Type() != activities.ErrInvalidBacktest || attempts != 1 {
		t.Fatalf("error = %v (%d attempts), want %s once", err, attempts, activities.ErrInvalidBacktest)
	}
}
