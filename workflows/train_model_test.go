package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// TestTrainModel runs TrainModel against a recorded fake activity: this
// checks the workflow (input completed with its run, retries, the progress
// query, failure); activities/train_model_test.go and
// e2e/train_test.go check the activity.
func TestTrainModel(t *testing.T) {
	in := activities.TrainModelInput{TenantID: "plant-9", Model: "risk-cnc", Kind: modelkind.FailureRisk, AssetType: "cnc-mill",
		From: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC), Alias: registry.Champion}
	for _, tc := range []struct {
		name     string
		errs     []error // returned by successive attempts, then success
		attempts int
		wantErr  string
	}{
		{"trained", nil, 1, ""},
		{"retried after a lost worker", []error{temporal.NewApplicationError("worker lost", "Lost")}, 2, ""},
		{"too few labels", []error{temporal.NewNonRetryableApplicationError("3 of the 800 training snapshots precede a confirmed failure", activities.ErrNotEnoughLabels, nil)}, 1, "3 of the 800"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a *activities.Models
			env := newWorkflowEnv(TrainModel, a)
			var mu sync.Mutex
			var calls []activities.TrainModelInput
			errs := tc.errs
			env.OnActivity(a.TrainModel, mock.Anything, mock.Anything).Return(func(ctx context.Context, got activities.TrainModelInput) (activities.TrainModelOutput, error) {
				mu.Lock()
				defer mu.Unlock()
				calls = append(calls, got)
				activity.RecordHeartbeat(ctx, activities.TrainModelProgress{Stage: activities.TrainStageTraining, RowsRead: 1000, TreesBuilt: 40, Trees: 100, Percent: 54})
				if len(errs) > 0 {
					err := errs[0]
					errs = errs[1:]
					return activities.TrainModelOutput{}, err
				}
				return activities.TrainModelOutput{Model: got.Model, Version: 1, Alias: got.Alias, Kind: got.Kind, Metrics: map[string]float64{"pr_auc": 0.6}}, nil
			}).After(time.Minute)
			var during TrainModelState
			env.RegisterDelayedCallback(func() {
				v, err := env.QueryWorkflow(QueryTrainModelProgress)
				if err != nil {
					t.Errorf("query: %v", err)
					return
				}
				if err := v.Get(&during); err != nil {
					t.Error(err)
				}
			}, 30*time.Second)
			env.ExecuteWorkflow(TrainModel, in)
			if !env.IsWorkflowCompleted() {
				t.Fatal("not completed")
			}
			err := env.GetWorkflowError()
			if len(calls) != tc.attempts {
				t.Errorf("%d attempts, want %d", len(calls), tc.attempts)
			}
			if c := calls[0]; c.WorkflowID != "default-test-workflow-id" || c.RunID == "" || c.Seed == 0 || c.Seed != seedOf(c.RunID) {
				t.Errorf("activity input %+v: want the run's ids and seed", c)
			}
			if during.Stage != TrainStageTraining || during.Input.Model != in.Model {
				t.Errorf("progress while running: %+v", during)
			}
			v, qerr := env.QueryWorkflow(QueryTrainModelProgress)
			var s TrainModelState
			if qerr == nil {
				qerr = v.Get(&s)
			}
			if qerr != nil {
				t.Fatal(qerr)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || s.Stage != TrainStageFailed || !strings.Contains(s.Error, tc.wantErr) {
					t.Fatalf("error %v, state %+v: want %q", err, s, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var res TrainModelState
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.Stage != TrainStageDone || res.Result == nil || res.Result.Version != 1 || s.Stage != TrainStageDone {
				t.Errorf("result %+v, state %+v", res, s)
			}
		})
	}
}
