package workflows

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
)

// Names of the retrain workflow's messages.
const (
	// SignalRetrainApproval carries a RetrainApproval.
	SignalRetrainApproval = "approval"
	// QueryRetrainState returns the RetrainState.
	QueryRetrainState = "state"
)

// What started a retraining.
const (
	TriggerDrift = "drift"
	TriggerAPI   = "api"
)

// RetrainWorkflowID is the id of a model's retraining: one at a time per
// tenant and model.
func RetrainWorkflowID(tenant, model string) string { return "retrain/" + tenant + "/" + model }

// RetrainInput asks to retrain a model.
type RetrainInput struct {
	TenantID string `json:"tenant_id"`
	Model    string `json:"model"`
	// Trigger is TriggerDrift or TriggerAPI; RequestedBy who or what asked,
	// Reason why (for the record and the notification).
	Trigger     string `json:"trigger"`
	RequestedBy string `json:"requested_by"`
	Reason      string `json:"reason"`
}

// RetrainApproval is a person's answer to a promotion awaiting approval.
type RetrainApproval struct {
	Approve bool   `json:"approve"`
	User    string `json:"user"`
	Comment string `json:"comment,omitempty"`
}

// RetrainState is where a retraining stands and, at the end, its outcome.
type RetrainState struct {
	Input      RetrainInput               `json:"input"`
	Stage      mlops.Stage                `json:"stage"`
	StartedAt  time.Time                  `json:"started_at"`
	Policy     mlops.Policy               `json:"policy"`
	Champion   int                        `json:"champion_version,omitempty"`
	Challenger int                        `json:"challenger_version,omitempty"`
	Evaluation *activities.EvaluateOutput `json:"evaluation,omitempty"`
	// ApprovalDue is set while awaiting approval.
	ApprovalDue *time.Time       `json:"approval_due,omitempty"`
	Approval    *RetrainApproval `json:"approval,omitempty"`
	// Outcome is one of the mlops.Outcome* values once done.
	Outcome string `json:"outcome,omitempty"`
	Reason  string `json:"reason,omitempty"`
	// Notifications lists what was sent.
	Notifications []activities.NotifyResult `json:"notifications,omitempty"`
	// Watch is the ModelWatch started after a promotion.
	Watch string `json:"watch,omitempty"`
}

// changeTrustedPromotion is the GetVersion change id of deciding with
// mlops.Compare's verdict (labelled holdout, backtest) rather than the
// calibration improvement alone.
const changeTrustedPromotion = "trusted-promotion"

// describeVerdict sums up the evidence of a verdict for the outcome's
// reason.
func describeVerdict(v mlops.Verdict) string {
	out := "; evidence: " + strings.Join(v.Basis, ", ")
	for _, c := range v.Checks[1:] {
		out += fmt.Sprintf("; %s %.4g against %.4g", c.Measure, c.Challenger, c.Champion)
	}
	if v.Note != "" {
		out += " (" + v.Note + ")"
	}
	return out
}

// changeModelWatch is the GetVersion change id of starting a ModelWatch
// after a promotion.
const changeModelWatch = "model-watch"

// Retrain trains a challenger for a model on recent readings, evaluates it
// against the champion on a holdout, and promotes it only when it is
// better by the policy's margin — after a person's approval when the
// model's policy requires one (no answer within the timeout keeps the
// champion). Every outcome, including failure, is recorded and notified.
func Retrain(ctx workflow.Context, in RetrainInput) (*RetrainState, error) {
	info := workflow.GetInfo(ctx)
	s := &RetrainState{Input: in, Stage: mlops.StageTraining, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandler(ctx, QueryRetrainState, func() (*RetrainState, error) { return s, nil }); err != nil {
		return nil, err
	}
	short := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         retryAttempts(10, activities.ErrNoChampion, activities.ErrNotEnoughData, activities.ErrNotEligible),
	})
	// Training heartbeats; a lost worker is noticed within HeartbeatTimeout
	// and the next attempt resumes from the last heartbeat's stage.
	long := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         retryAttempts(5, activities.ErrNoChampion, activities.ErrNotEnoughData),
	})
	var a *activities.Models
	ref := activities.ModelInput{TenantID: in.TenantID, Model: in.Model}

	finish := func(outcome, reason string) (*RetrainState, error) {
		s.Stage, s.Outcome, s.Reason, s.ApprovalDue = mlops.StageDone, outcome, reason, nil
		metrics := map[string]float64{}
		if e := s.Evaluation; e != nil {
			metrics["champion_score"], metrics["challenger_score"] = e.Champion.Score, e.Challenger.Score
			metrics["champion_anomaly_rate"], metrics["challenger_anomaly_rate"] = e.Champion.AnomalyRate, e.Challenger.AnomalyRate
			metrics["improvement"], metrics["holdout_rows"] = e.Improvement, float64(e.HoldoutRows)
			maps.Copy(metrics, e.Comparison.Metrics())
		}
		rec := mlops.Retrain{
			TenantID: in.TenantID, Name: in.Model, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
			Trigger: in.Trigger, RequestedBy: in.RequestedBy, Outcome: outcome, Reason: reason,
			ChampionVersion: s.Champion, ChallengerVersion: s.Challenger, Metrics: metrics,
			StartedAt: s.StartedAt, FinishedAt: workflow.Now(ctx),
		}
		if err := workflow.ExecuteActivity(short, a.RecordRetrain, rec).Get(ctx, nil); err != nil {
			return s, fmt.Errorf("record retraining outcome: %w", err)
		}
		severity := "info"
		switch outcome {
		case mlops.OutcomeFailed:
			severity = "major"
		case mlops.OutcomeRejected:
			severity = "warning"
		}
		notifyRetrain(ctx, s, "outcome", severity, fmt.Sprintf("Retraining of %s: %s", in.Model, outcome), reason)
		return s, nil
	}

	if err := workflow.ExecuteActivity(short, a.ModelPolicy, ref).Get(ctx, &s.Policy); err != nil {
		return finish(mlops.OutcomeFailed, "cannot read the model's policy: "+errorText(err))
	}

	var trained activities.TrainOutput
	err := workflow.ExecuteActivity(long, a.TrainChallenger, activities.TrainInput{
		TenantID: in.TenantID, Model: in.Model, WorkflowID: info.WorkflowExecution.ID, RunID: info.WorkflowExecution.RunID,
		Now: s.StartedAt, Seed: seedOf(info.WorkflowExecution.RunID),
	}).Get(ctx, &trained)
	if err != nil {
		return finish(mlops.OutcomeFailed, "training failed: "+errorText(err))
	}
	s.Champion, s.Challenger, s.Stage = trained.Champion, trained.Challenger, mlops.StageEvaluating

	var eval activities.EvaluateOutput
	err = workflow.ExecuteActivity(short, a.EvaluateChallenger, activities.EvaluateInput{
		TenantID: in.TenantID, Model: in.Model, Champion: trained.Champion, Challenger: trained.Challenger, Checkpoint: trained.Checkpoint,
		Policy: &s.Policy,
	}).Get(ctx, &eval)
	if err != nil {
		return finish(mlops.OutcomeFailed, "evaluation failed: "+errorText(err))
	}
	s.Evaluation = &eval
	verdict := fmt.Sprintf("on %d holdout snapshots the challenger v%d flags %.2f%% and the champion v%d %.2f%% (expected %.2f%%): score %.4f against %.4f, improvement %+.4f, margin %.4f",
		eval.HoldoutRows, trained.Challenger, 100*eval.Challenger.AnomalyRate, trained.Champion, 100*eval.Champion.AnomalyRate,
		100*eval.Champion.Contamination, eval.Challenger.Score, eval.Champion.Score, eval.Improvement, s.Policy.MinImprovement)
	if workflow.GetVersion(ctx, changeTrustedPromotion, workflow.DefaultVersion, 1) == 1 && eval.Verdict != nil {
		verdict += describeVerdict(*eval.Verdict)
		if !eval.Verdict.Promote {
			return finish(mlops.OutcomeKept, "champion kept: "+verdict+"; failed: "+eval.Verdict.Failed())
		}
	} else if eval.Improvement < s.Policy.MinImprovement || eval.Improvement <= 0 {
		return finish(mlops.OutcomeKept, "champion kept: "+verdict)
	}

	if s.Policy.RequireApproval {
		s.Stage = mlops.StageAwaiting
		due := workflow.Now(ctx).Add(s.Policy.ApprovalTimeout)
		s.ApprovalDue = &due
		notifyRetrain(ctx, s, "approval", "warning", fmt.Sprintf("Retrained %s v%d awaits approval", in.Model, trained.Challenger),
			fmt.Sprintf("%s. Approve or reject before %s; without an answer the champion stays.", verdict, due.Format(time.RFC3339)))
		ch := workflow.GetSignalChannel(ctx, SignalRetrainApproval)
		var ap RetrainApproval
		received, _ := ch.ReceiveWithTimeout(ctx, s.Policy.ApprovalTimeout, &ap)
		s.ApprovalDue = nil
		if !received {
			return finish(mlops.OutcomeRejected, fmt.Sprintf("nobody approved the promotion within %s; champion v%d kept (%s)", s.Policy.ApprovalTimeout, trained.Champion, verdict))
		}
		s.Approval = &ap
		if !ap.Approve {
			return finish(mlops.OutcomeRejected, fmt.Sprintf("%s rejected the promotion: %s; champion v%d kept (%s)", ap.User, orNone(ap.Comment), trained.Champion, verdict))
		}
	}

	s.Stage = mlops.StagePromoting
	actor := RetrainActor
	reason := verdict
	if s.Approval != nil {
		actor = fmt.Sprintf("%s (approved by %s)", RetrainActor, s.Approval.User)
	}
	if err := workflow.ExecuteActivity(short, a.PromoteChampion, activities.PromoteInput{
		TenantID: in.TenantID, Model: in.Model, Version: trained.Challenger, Actor: actor, Reason: reason,
	}).Get(ctx, nil); err != nil {
		return finish(mlops.OutcomeFailed, "promotion failed: "+errorText(err))
	}
	if workflow.GetVersion(ctx, changeModelWatch, workflow.DefaultVersion, 1) == 1 && !s.Policy.Watch.Disabled {
		id, err := startModelWatch(ctx, ModelWatchInput{
			TenantID: in.TenantID, Model: in.Model, Version: trained.Challenger, Previous: trained.Champion,
			PromotedAt: workflow.Now(ctx), PromotedBy: actor,
		})
		if err != nil {
			workflow.GetLogger(ctx).Error("start the watch of the promotion", "model", in.Model, "error", err)
		}
		s.Watch = id
	}
	return finish(mlops.OutcomePromoted, fmt.Sprintf("challenger v%d promoted to champion: %s", trained.Challenger, verdict))
}

// RetrainActor is who the registry records for the workflow's promotions.
const RetrainActor = activities.RetrainCreator

// notifyRetrain sends a message about the retraining to the tenant's
// channels; a failure is kept in the state, never fails the workflow.
func notifyRetrain(ctx workflow.Context, s *RetrainState, event, severity, subject, text string) {
	info := workflow.GetInfo(ctx)
	key := info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + event
	s.Notifications = append(s.Notifications, notifyTenant(ctx, s.Input.TenantID, key, severity, subject, text))
}

// notifyTenant sends a message to the tenant's channels with the
// idempotency key; a failure is logged and returned as a result without
// channels, never failing the workflow.
func notifyTenant(ctx workflow.Context, tenant, key, severity, subject, text string) activities.NotifyResult {
	nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         retryBriefly(),
	})
	var n *activities.Notifications
	var res activities.NotifyResult
	err := workflow.ExecuteActivity(nctx, n.Notify, activities.NotifyInput{
		TenantID: tenant, Key: key, Severity: severity, Subject: subject, Text: text,
	}).Get(ctx, &res)
	if err != nil {
		res = activities.NotifyResult{Key: key}
		workflow.GetLogger(ctx).Warn("notification not sent", "key", key, "error", err)
	}
	return res
}

// seedOf derives the forest's seed from the run id (FNV-1a), so every
// attempt of a run trains the same forest.
func seedOf(runID string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(runID); i++ {
		h ^= uint64(runID[i])
		h *= 1099511628211
	}
	return h
}

// errorText is the innermost application message of an activity error.
func errorText(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}

func orNone(s string) string {
	if s == "" {
		return "no comment"
	}
	return s
}
