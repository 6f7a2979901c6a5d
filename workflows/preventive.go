package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/maintenance"
)

// PreventiveMaintenanceScheduleID is the Temporal Schedule that runs
// PreventiveMaintenance.
const PreventiveMaintenanceScheduleID = "preventive-maintenance"

// PreventiveInput configures a preventive maintenance run.
type PreventiveInput struct {
	// Lead raises a work order this long before its service falls due.
	Lead time.Duration
}

// RaisedWorkOrder is one preventive work order a run raised.
type RaisedWorkOrder struct {
	TenantID   string               `json:"tenant_id"`
	ScheduleID string               `json:"schedule_id"`
	AssetID    string               `json:"asset_id"`
	Reason     string               `json:"reason"`
	WorkOrder  activities.WorkOrder `json:"work_order"`
	// Notified is the notification's key; empty when it could not be sent.
	Notified string `json:"notified,omitempty"`
}

// PreventiveResult is what a run did.
type PreventiveResult struct {
	Due    int               `json:"due"`
	Raised []RaisedWorkOrder `json:"raised"`
	// Failed lists the schedules whose work order could not be raised, with
	// why; the next run tries them again.
	Failed []string `json:"failed,omitempty"`
}

// PreventiveMaintenance raises the work orders of preventive schedules
// that fall due: calendar schedules by date, meter schedules by their
// meter's reading or its expected date. Each is booked on the technician
// who can finish it first before the due date and the tenant's channels
// are told. It runs on a Temporal Schedule; every step is idempotent (one
// open work order per schedule, one notice per work order), so a retried or
// overlapping run raises nothing twice. One schedule failing does not stop
// the others.
func PreventiveMaintenance(ctx workflow.Context, in PreventiveInput) (PreventiveResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         retryBriefly(),
	})
	var m *activities.Maintenance
	var n *activities.Notifications
	now := workflow.Now(ctx)
	res := PreventiveResult{Raised: []RaisedWorkOrder{}}

	var due []maintenance.DuePreventive
	if err := workflow.ExecuteActivity(ctx, m.DuePreventive, activities.DuePreventiveInput{Now: now, Lead: in.Lead}).Get(ctx, &due); err != nil {
		return res, fmt.Errorf("due preventive schedules: %w", err)
	}
	res.Due = len(due)
	for _, d := range due {
		var wo activities.WorkOrder
		err := workflow.ExecuteActivity(ctx, m.RaisePreventive, activities.RaisePreventiveInput{Due: d, Now: now}).Get(ctx, &wo)
		if err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("%s/%s (%s): %v", d.TenantID, d.Schedule.ID, d.Schedule.Title, err))
			continue
		}
		r := RaisedWorkOrder{TenantID: d.TenantID, ScheduleID: d.Schedule.ID, AssetID: d.Schedule.AssetID, Reason: d.Reason, WorkOrder: wo}
		// Sent whether or not this attempt created the work order: a run
		// that died between the two steps still gets the notice out, and
		// the key keeps it to one per work order.
		severity := "info"
		if wo.TechnicianID == "" || wo.Late {
			severity = "warning" // someone has to find a technician or accept the delay
		}
		key := "preventive/" + wo.ID + "/scheduled"
		var sent activities.NotifyResult
		err = workflow.ExecuteActivity(ctx, n.Notify, activities.NotifyInput{
			TenantID: d.TenantID, AssetID: d.Schedule.AssetID, Key: key, Severity: severity, WorkOrderID: wo.ID,
			Subject: fmt.Sprintf("Preventive maintenance scheduled on %s: %s", d.Schedule.AssetID, d.Schedule.Title),
			Text:    fmt.Sprintf("%s.\n%s.", d.Reason, wo.Summary()),
		}).Get(ctx, &sent)
		if err == nil {
			r.Notified = key
		} else {
			workflow.GetLogger(ctx).Warn("preventive work order notice not sent", "key", key, "error", err)
		}
		res.Raised = append(res.Raised, r)
	}
	return res, nil
}
