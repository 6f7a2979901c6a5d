package workflows

import (
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// QueryModelWatchState returns the ModelWatchState.
const QueryModelWatchState = "state"

// ModelWatchWorkflowID is the id of the watch of a model's champion: one
// per tenant and model; a newer promotion's watch replaces the running one.
func ModelWatchWorkflowID(tenant, model string) string { return "model-watch/" + tenant + "/" + model }

// How a watch ended.
const (
	WatchRolledBack = "rolled_back" // the version left the band for too long and was rolled back
	WatchPassed     = "passed"      // the version stayed in band for the whole watch
	WatchSuperseded = "superseded"  // the champion moved to another version meanwhile
	WatchFailed     = "failed"      // the rollback could not be made
)

// ModelWatchInput names the promotion to watch.
type ModelWatchInput struct {
	TenantID string `json:"tenant_id"`
	Model    string `json:"model"`
	// Version is the promoted champion, Previous the one it replaced.
	Version  int `json:"version"`
	Previous int `json:"previous"`
	// PromotedAt is when the promotion happened, PromotedBy who made it.
	PromotedAt time.Time `json:"promoted_at"`
	PromotedBy string    `json:"promoted_by"`
	// Resume carries a long watch over to its next run (continue-as-new).
	Resume *ModelWatchResume `json:"resume,omitempty"`
}

// ModelWatchResume is what a watch's next run continues from.
type ModelWatchResume struct {
	Baseline activities.WatchBaseline `json:"baseline"`
	Watch    mlops.WatchState         `json:"watch"`
	From     time.Time                `json:"from"`
}

// watchChecksPerRun bounds a run's history: after that many checks the
// watch continues as new.
var watchChecksPerRun = 1000

// ModelWatchState is where a watch stands and, at the end, its outcome.
type ModelWatchState struct {
	Input    ModelWatchInput          `json:"input"`
	Baseline activities.WatchBaseline `json:"baseline"`
	Until    time.Time                `json:"until"`
	Watch    mlops.WatchState         `json:"watch"`
	// Last is the latest measurement and Decision what it led to.
	Last     *mlops.AlarmRate     `json:"last,omitempty"`
	Decision *mlops.WatchDecision `json:"decision,omitempty"`
	Rollback *registry.AliasEvent `json:"rollback,omitempty"`
	Outcome  string               `json:"outcome,omitempty"`
	Reason   string               `json:"reason,omitempty"`
	// Notifications lists what was sent.
	Notifications []activities.NotifyResult `json:"notifications,omitempty"`
}

// ModelWatch watches a newly promoted champion. Every check interval of
// the model's watch policy it measures the version's live alarm rate (the
// anomalies attributed to it per hour and per asset it serves); when the
// rate stays outside the band for the policy's time it rolls the champion
// back to the previous one (reason "automatic rollback: …" in the alias
// history), notifies the tenant's channels once and ends. It ends too
// when the watch's duration is over, or when the champion moved to another
// version meanwhile.
func ModelWatch(ctx workflow.Context, in ModelWatchInput) (*ModelWatchState, error) {
	s := &ModelWatchState{Input: in}
	if err := workflow.SetQueryHandler(ctx, QueryModelWatchState, func() (*ModelWatchState, error) { return s, nil }); err != nil {
		return nil, err
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         retryAttempts(10, activities.ErrSuperseded, activities.ErrNotEligible),
	})
	log := workflow.GetLogger(ctx)
	var a *activities.Models
	var from time.Time
	if r := in.Resume; r != nil {
		s.Baseline, s.Watch, from = r.Baseline, r.Watch, r.From
		s.Input.Resume = nil
	} else {
		if err := workflow.ExecuteActivity(actx, a.StartWatch, activities.WatchBaselineInput{
			TenantID: in.TenantID, Model: in.Model, Previous: in.Previous, PromotedAt: in.PromotedAt,
		}).Get(ctx, &s.Baseline); err != nil {
			return s, fmt.Errorf("start the watch: %w", err)
		}
		from = in.PromotedAt
		if now := workflow.Now(ctx); now.After(from) && now.Sub(from) > s.Baseline.Policy.Every {
			from = now // a late start judges from now on
		}
	}
	p := s.Baseline.Policy
	s.Until = in.PromotedAt.Add(p.Duration)
	for checks := 0; workflow.Now(ctx).Before(s.Until); checks++ {
		if checks == watchChecksPerRun {
			next := s.Input
			next.Resume = &ModelWatchResume{Baseline: s.Baseline, Watch: s.Watch, From: from}
			return s, workflow.NewContinueAsNewError(ctx, ModelWatch, next)
		}
		if err := workflow.Sleep(ctx, min(p.Every, s.Until.Sub(workflow.Now(ctx)))); err != nil {
			return s, err
		}
		to := workflow.Now(ctx)
		var m activities.WatchMeasure
		if err := workflow.ExecuteActivity(actx, a.MeasureWatch, activities.MeasureWatchInput{
			TenantID: in.TenantID, Model: in.Model, Version: in.Version, From: from, To: to,
		}).Get(ctx, &m); err != nil {
			return s, fmt.Errorf("measure the alarm rate: %w", err)
		}
		from = to
		if m.Champion != in.Version {
			s.Outcome, s.Reason = WatchSuperseded, fmt.Sprintf("the champion of %s is now v%d; the watch of v%d ends", in.Model, m.Champion, in.Version)
			log.Info("model watch superseded", "model", in.Model, "version", in.Version, "champion", m.Champion)
			return s, nil
		}
		d := p.Judge(&s.Watch, s.Baseline.Band, m.Rate)
		s.Last, s.Decision = &m.Rate, &d
		if d.Rollback {
			return rollBack(ctx, actx, s, d)
		}
	}
	s.Outcome = WatchPassed
	s.Reason = fmt.Sprintf("%s v%d stayed within [%.3g, %.3g] alarms per hour per asset for %s", in.Model, in.Version, s.Baseline.Band.Min, s.Baseline.Band.Max, p.Duration)
	log.Info("model watch passed", "model", in.Model, "version", in.Version)
	return s, nil
}

// rollBack rolls the watched champion back, then notifies and logs it.
func rollBack(ctx, actx workflow.Context, s *ModelWatchState, d mlops.WatchDecision) (*ModelWatchState, error) {
	in := s.Input
	var a *activities.Models
	var ev registry.AliasEvent
	err := workflow.ExecuteActivity(actx, a.RollbackChampion, activities.RollbackInput{
		TenantID: in.TenantID, Model: in.Model, Version: in.Version, Reason: d.Reason, Explanation: d.Explanation,
	}).Get(ctx, &ev)
	var app *temporal.ApplicationError
	switch {
	case err == nil:
	case errors.As(err, &app) && app.Type() == activities.ErrSuperseded:
		s.Outcome, s.Reason = WatchSuperseded, errorText(err)
		return s, nil
	default:
		s.Outcome, s.Reason = WatchFailed, "rollback failed: "+errorText(err)
		notifyWatch(ctx, s, "rollback-failed", "critical", fmt.Sprintf("%s v%d misbehaves and could not be rolled back", in.Model, in.Version),
			d.Explanation+". The rollback failed: "+errorText(err))
		return s, nil
	}
	s.Rollback, s.Outcome, s.Reason = &ev, WatchRolledBack, registry.AutomaticRollbackPrefix+d.Explanation
	notifyWatch(ctx, s, "rollback", "major", fmt.Sprintf("%s rolled back from v%d to v%d", in.Model, ev.From, ev.To),
		fmt.Sprintf("Automatic rollback: %s. v%d is champion again; the alias history records the move.", d.Explanation, ev.To))
	return s, nil
}

// notifyWatch sends a message about the watch to the tenant's channels,
// once per watch run and event; a failure is kept in the state.
func notifyWatch(ctx workflow.Context, s *ModelWatchState, event, severity, subject, text string) {
	info := workflow.GetInfo(ctx)
	key := info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + event
	s.Notifications = append(s.Notifications, notifyTenant(ctx, s.Input.TenantID, key, severity, subject, text))
}

// startModelWatch starts the watch of a promotion as an abandoned child
// that replaces a running watch of the same model.
func startModelWatch(ctx workflow.Context, in ModelWatchInput) (string, error) {
	id := ModelWatchWorkflowID(in.TenantID, in.Model)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_TERMINATE_IF_RUNNING,
	})
	var exec workflow.Execution
	if err := workflow.ExecuteChildWorkflow(cctx, ModelWatch, in).GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		return "", err
	}
	return id, nil
}
