package workflows

import (
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
)

// DriftCheckScheduleID is the Temporal Schedule that runs DriftCheck.
const DriftCheckScheduleID = "drift-check"

// DriftCheckInput restricts a check to one tenant, or one model of it;
// empty checks every anomaly model with a champion.
type DriftCheckInput struct {
	TenantID string `json:"tenant_id,omitempty"`
	Model    string `json:"model,omitempty"`
}

// ModelDrift is what the check did for one model.
type ModelDrift struct {
	TenantID string `json:"tenant_id"`
	Model    string `json:"model"`
	Version  int    `json:"version,omitempty"`
	Status   string `json:"status"`
	// Retrain is the retraining workflow started on drift, RetrainRunning
	// true when one was already running.
	Retrain        string `json:"retrain,omitempty"`
	RetrainRunning bool   `json:"retrain_running,omitempty"`
	Error          string `json:"error,omitempty"`
}

// DriftCheckResult lists every model checked.
type DriftCheckResult struct {
	Models []ModelDrift `json:"models"`
}

// DriftCheck compares the recent readings of every monitored model's
// asset type with the champion's training reference (KS and PSI per
// feature), records each result, and starts a Retrain for every model whose
// inputs drifted. One Schedule runs it for all tenants; the checks of the
// models run in parallel. A model's Retrain is a child with the id
// RetrainWorkflowID that outlives the check (parent close policy abandon);
// while one runs, drift does not start another.
func DriftCheck(ctx workflow.Context, in DriftCheckInput) (DriftCheckResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy:         retryAttempts(5),
	})
	var a *activities.Models
	var models []mlops.ModelRef
	if in.TenantID != "" && in.Model != "" {
		models = []mlops.ModelRef{{TenantID: in.TenantID, Name: in.Model}}
	} else {
		if err := workflow.ExecuteActivity(actx, a.MonitoredModels).Get(ctx, &models); err != nil {
			return DriftCheckResult{}, fmt.Errorf("list monitored models: %w", err)
		}
	}
	info := workflow.GetInfo(ctx)
	now := workflow.Now(ctx)
	type pending struct {
		ref mlops.ModelRef
		f   workflow.Future
	}
	var checks []pending
	for _, m := range models {
		if in.TenantID != "" && m.TenantID != in.TenantID {
			continue
		}
		f := workflow.ExecuteActivity(actx, a.CheckDrift, activities.DriftInput{TenantID: m.TenantID, Model: m.Name, Now: now, RunID: info.WorkflowExecution.RunID})
		checks = append(checks, pending{m, f})
	}
	res := DriftCheckResult{Models: []ModelDrift{}}
	for _, c := range checks {
		md := ModelDrift{TenantID: c.ref.TenantID, Model: c.ref.Name}
		var out activities.DriftOutput
		if err := c.f.Get(ctx, &out); err != nil {
			md.Status, md.Error = "error", errorText(err)
			res.Models = append(res.Models, md)
			continue
		}
		if out.Check == nil {
			md.Status = "no_champion"
			res.Models = append(res.Models, md)
			continue
		}
		md.Version, md.Status = out.Check.Version, out.Check.Status
		if out.Check.Drifted {
			md.Retrain, md.RetrainRunning = startRetrain(ctx, c.ref, out.Check)
			if md.Retrain != "" {
				err := workflow.ExecuteActivity(actx, a.NoteRetrain, activities.NoteRetrainInput{
					TenantID: c.ref.TenantID, Model: c.ref.Name, RunID: info.WorkflowExecution.RunID, WorkflowID: md.Retrain,
				}).Get(ctx, nil)
				if err != nil {
					md.Error = "retraining started but not noted on the check: " + errorText(err)
				}
			}
		}
		res.Models = append(res.Models, md)
	}
	return res, nil
}

// startRetrain starts the model's Retrain as an abandoned child and
// returns its workflow id, or reports that one is already running.
func startRetrain(ctx workflow.Context, ref mlops.ModelRef, check *mlops.DriftCheck) (id string, running bool) {
	id = RetrainWorkflowID(ref.TenantID, ref.Name)
	cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
		WorkflowID:            id,
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	})
	drifted := ""
	for _, f := range check.Features {
		if f.Drifted {
			drifted += fmt.Sprintf(" %s (PSI %.3f, KS p %.3g)", f.Name, f.PSI, f.KSPValue)
		}
	}
	child := workflow.ExecuteChildWorkflow(cctx, Retrain, RetrainInput{
		TenantID: ref.TenantID, Model: ref.Name, Trigger: TriggerDrift, RequestedBy: "drift-check",
		Reason: fmt.Sprintf("drift check %d of v%d: %d features drifted:%s", check.ID, check.Version, check.DriftedFeatures, drifted),
	})
	var exec workflow.Execution
	if err := child.GetChildWorkflowExecution().Get(ctx, &exec); err != nil {
		if temporal.IsWorkflowExecutionAlreadyStartedError(err) {
			return id, true
		}
		workflow.GetLogger(ctx).Error("start retraining", "workflow_id", id, "error", err)
		return "", false
	}
	return id, false
}
