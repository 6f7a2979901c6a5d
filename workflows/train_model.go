package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
)

// QueryTrainModelProgress returns the TrainModelState.
const QueryTrainModelProgress = "progress"

// TrainModelWorkflowID is the id of a model's training: one at a time per
// tenant and model.
func TrainModelWorkflowID(tenant, model string) string { return "train-model/" + tenant + "/" + model }

// Stages of a training as the progress query reports them; while
// training, the activity's heartbeat (activities.TrainModelProgress) says
// more.
const (
	TrainStageTraining = "training"
	TrainStageDone     = "done"
	TrainStageFailed   = "failed"
)

// TrainModelState is where a training stands and, at the end, its result
// or error.
type TrainModelState struct {
	Input     activities.TrainModelInput   `json:"input"`
	Stage     string                       `json:"stage"`
	StartedAt time.Time                    `json:"started_at"`
	Result    *activities.TrainModelOutput `json:"result,omitempty"`
	Error     string                       `json:"error,omitempty"`
}

// TrainModel trains a model of a kind from the tenant's stored readings in
// a time range (activities.Models.TrainModel, one heartbeating activity),
// registers it and gives it the requested alias. The progress query
// answers its TrainModelState; the run fails with the activity's error
// when training is impossible (too little data or too few labels).
func TrainModel(ctx workflow.Context, in activities.TrainModelInput) (*TrainModelState, error) {
	info := workflow.GetInfo(ctx)
	in.WorkflowID, in.RunID = info.WorkflowExecution.ID, info.WorkflowExecution.RunID
	if in.Seed == 0 {
		in.Seed = seedOf(in.RunID)
	}
	s := &TrainModelState{Input: in, Stage: TrainStageTraining, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandler(ctx, QueryTrainModelProgress, func() (*TrainModelState, error) { return s, nil }); err != nil {
		return nil, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: retryAttempts(5, activities.ErrNotEnoughData, activities.ErrNotEnoughLabels,
			activities.ErrInvalidTraining, "Decode"),
	})
	var a *activities.Models
	var out activities.TrainModelOutput
	if err := workflow.ExecuteActivity(actx, a.TrainModel, in).Get(ctx, &out); err != nil {
		s.Stage, s.Error = TrainStageFailed, errorText(err)
		return s, temporal.NewNonRetryableApplicationError(s.Error, "TrainingFailed", nil)
	}
	s.Stage, s.Result = TrainStageDone, &out
	return s, nil
}
