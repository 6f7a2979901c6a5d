package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// IncidentInput starts or continues an incident.
type IncidentInput struct {
	TenantID string
	AssetID  string
	// State is set when the workflow continues as new, or carries on an
	// incident whose workflow was gone (Reattach).
	State *IncidentState
	// Reattach says State was rebuilt from the projection by
	// ReattachState: the run records it at once.
	Reattach bool
}

// Incident is the incident process of one asset (workflow id
// incident.WorkflowID): collect anomalies → validate → (auto-)approve or
// ask a person, escalating while nobody answers → forecast → schedule a
// work order → notify → wait for the work order → resolve. Every step is
// recorded in the incident projection and the maintenance log.
//
// Each open status has one step (steps); a step does its work, moves the
// incident to its next status and returns to run, which continues as new
// when the history grows long. The message handlers are in
// incident_messages.go, the carried state and its view in
// incident_state.go, the notices' texts in incident_texts.go.
func Incident(ctx workflow.Context, in IncidentInput) (*IncidentState, error) {
	w := &incidentRun{s: in.State}
	if w.s == nil {
		info := workflow.GetInfo(ctx)
		now := workflow.Now(ctx)
		w.s = &IncidentState{IncidentView: IncidentView{TenantID: in.TenantID, Header: incident.Header{
			ID: info.FirstRunID, AssetID: in.AssetID, WorkflowID: info.WorkflowExecution.ID,
			Status: incident.StatusCollecting, Active: true, OpenedAt: now, UpdatedAt: now,
		}}}
	}
	if err := w.listen(ctx); err != nil {
		return nil, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         retryUntilDone(),
	})
	switch {
	case in.State == nil:
		if err := w.open(ctx); err != nil {
			return nil, err
		}
	case in.Reattach:
		if err := w.record(ctx); err != nil {
			return nil, err
		}
	}
	return w.run(ctx)
}

// incidentRun is one run of the incident workflow: its state and the
// activities it calls.
type incidentRun struct {
	s      *IncidentState
	acts   *activities.Incidents
	maint  *activities.Maintenance
	notify *activities.Notifications
}

// steps is the process: the step that moves an incident on from each open
// status.
var steps = map[incident.Status]func(*incidentRun, workflow.Context) error{
	incident.StatusCollecting: (*incidentRun).collect,
	incident.StatusValidating: (*incidentRun).validate,
	incident.StatusAwaiting:   (*incidentRun).awaitDecision,
	incident.StatusSnoozed:    (*incidentRun).snoozed,
	incident.StatusApproved:   (*incidentRun).plan,
	incident.StatusScheduled:  (*incidentRun).followWorkOrder,
	incident.StatusInProgress: (*incidentRun).followWorkOrder,
}

// run takes steps until the incident is over. Long waits come back here
// regularly so the workflow can continue as new before its history grows
// too large.
func (w *incidentRun) run(ctx workflow.Context) (*IncidentState, error) {
	for {
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() && w.s.Status != incident.StatusApproved {
			return nil, w.continueAsNew(ctx)
		}
		if !w.s.Status.Open() && w.s.Status.Valid() {
			return w.s, nil
		}
		step, ok := steps[w.s.Status]
		if !ok {
			return nil, fmt.Errorf("incident in unknown status %q", w.s.Status)
		}
		if err := step(w, ctx); err != nil {
			return nil, err
		}
	}
}

// open loads the tenant's policy and records the new incident. When the
// asset already has an open incident whose workflow was gone, the run
// adopts it.
func (w *incidentRun) open(ctx workflow.Context) error {
	var policy incident.Policy
	if err := workflow.ExecuteActivity(ctx, w.acts.LoadPolicy, w.s.TenantID).Get(ctx, &policy); err != nil {
		return fmt.Errorf("load policy: %w", err)
	}
	w.s.Policy = policy
	w.event(ctx, "system", incident.EventOpened, fmt.Sprintf("incident opened for %s", w.s.AssetID))
	err := w.record(ctx)
	if err == nil || !activities.IsConflict(err) {
		return err
	}
	return w.adopt(ctx, err)
}

// adopt carries on the asset's open incident that this new run's opening
// write met (its workflow was gone, say after a Temporal server lost its
// history): the run takes that incident's state, adds the anomalies it
// has gathered itself, and goes on as that incident. Without such an
// incident (closed meanwhile) it tries to open its own once more.
func (w *incidentRun) adopt(ctx workflow.Context, conflict error) error {
	if workflow.GetVersion(ctx, "adopt-orphan", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return conflict
	}
	var o *activities.Orphan
	in := activities.FindOrphanInput{TenantID: w.s.TenantID, AssetID: w.s.AssetID, Except: w.s.ID}
	if err := workflow.ExecuteActivity(ctx, w.acts.FindOrphan, in).Get(ctx, &o); err != nil {
		return fmt.Errorf("find the open incident of %s: %w", w.s.AssetID, err)
	}
	if o == nil {
		return w.record(ctx)
	}
	s, err := ReattachState(*o, workflow.Now(ctx), fmt.Sprintf("carried on by run %s: the incident's workflow was gone when new anomalies arrived", workflow.GetInfo(ctx).WorkflowExecution.RunID))
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Reattach", err)
	}
	s.Evidence.Add(w.s.Evidence.Recent...)
	s.Severity = s.Severity.Max(s.Evidence.Severity)
	if w.s.Evidence.Anomalies > 0 {
		s.Active = true
	}
	s.Seen = w.s.Seen
	w.s = s
	return w.record(ctx)
}

// collect gathers anomalies for the policy's collect window.
func (w *incidentRun) collect(ctx workflow.Context) error {
	if d := time.Duration(w.s.Policy.CollectWindow); d > 0 {
		if err := workflow.Sleep(ctx, d); err != nil {
			return err
		}
	}
	return w.transition(ctx, incident.StatusValidating, "system", incident.EventCollected,
		fmt.Sprintf("%d anomalies collected, most severe %s", w.s.Evidence.Anomalies, w.s.Evidence.Severity))
}

// validate closes incidents below the policy's severity or confidence,
// approves those above its auto-approval confidence, and asks a person
// about the rest.
func (w *incidentRun) validate(ctx workflow.Context) error {
	w.s.Round++
	if min := w.s.Policy.MinSeverity; min.Rank() > 0 && w.s.Evidence.Severity.Rank() < min.Rank() {
		w.s.Resolution = incident.ResolutionBelowPolicy
		return w.close(ctx, incident.StatusClosed, "policy", incident.EventClosedBelowPolicy,
			fmt.Sprintf("most severe anomaly is %s; the policy opens incidents from %s", w.s.Evidence.Severity, min))
	}
	var v incident.Validation
	in := activities.ValidateInput{TenantID: w.s.TenantID, AssetID: w.s.AssetID, Evidence: w.s.Evidence, Policy: w.s.Policy, Now: workflow.Now(ctx)}
	if err := workflow.ExecuteActivity(ctx, w.acts.Validate, in).Get(ctx, &v); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	w.s.Validation, w.s.Confidence = &v, v.Confidence
	p := w.s.Policy
	switch {
	case v.Confidence < p.RejectBelow:
		w.s.Resolution = incident.ResolutionFalsePositive
		return w.close(ctx, incident.StatusClosed, "policy", incident.EventClosedFalsePositive,
			fmt.Sprintf("confidence %.2f is below %.2f", v.Confidence, p.RejectBelow))
	case v.Confidence >= p.AutoApproveAt:
		w.s.Decision = &incident.Decision{Action: incident.Approve, User: "policy:auto-approve", At: workflow.Now(ctx),
			Comment: fmt.Sprintf("confidence %.2f reaches %.2f", v.Confidence, p.AutoApproveAt)}
		return w.transition(ctx, incident.StatusApproved, "policy", incident.EventApproved, w.s.Decision.Comment)
	}
	w.s.EscalationStage = 0
	w.s.DecisionDue = workflow.Now(ctx).Add(time.Duration(p.ApprovalTimeout))
	if err := w.transition(ctx, incident.StatusAwaiting, "policy", incident.EventApprovalRequested,
		fmt.Sprintf("confidence %.2f is between %.2f and %.2f: a person decides", v.Confidence, p.RejectBelow, p.AutoApproveAt)); err != nil {
		return err
	}
	return w.notifyEvent(ctx, fmt.Sprintf("approval-requested/%d", w.s.Round), w.s.Severity, approvalRequestedNotice(w.s))
}

// awaitDecision waits for a decision until the current stage's deadline,
// then escalates, and after the last stage applies the policy's default.
// Acknowledging stops the escalation; the deadline still ends in the
// default so nothing waits forever.
func (w *incidentRun) awaitDecision(ctx workflow.Context) error {
	ack := w.s.Acknowledged
	wait := w.s.DecisionDue.Sub(workflow.Now(ctx))
	if wait > 0 {
		if _, err := workflow.AwaitWithTimeout(ctx, min(wait, 24*time.Hour), func() bool {
			return w.s.PendingDecision != nil || w.s.Acknowledged != ack || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}); err != nil {
			return err
		}
	}
	if d := w.s.PendingDecision; d != nil {
		w.s.PendingDecision = nil
		return w.decide(ctx, *d)
	}
	if w.s.Acknowledged != ack {
		return w.record(ctx)
	}
	if workflow.Now(ctx).Before(w.s.DecisionDue) {
		return nil // woke early (continue-as-new check); wait again
	}
	p := w.s.Policy
	stage := time.Duration(p.ApprovalTimeout)
	if w.s.Acknowledged && w.s.EscalationStage < p.EscalationStages &&
		workflow.GetVersion(ctx, "ack-keeps-deadline", workflow.DefaultVersion, 1) > workflow.DefaultVersion {
		// Acknowledged: nobody is paged further, but the time to the
		// policy's default stays what it was, and whoever acknowledged is
		// reminded at each stage.
		w.s.EscalationStage++
		w.s.DecisionDue = workflow.Now(ctx).Add(stage)
		left := time.Duration(p.EscalationStages-w.s.EscalationStage+1) * stage
		w.event(ctx, "policy", incident.EventReminded, fmt.Sprintf("acknowledged by %s but still undecided: the policy will %s in %s", w.s.Assignee, p.TimeoutDecision, left))
		if err := w.record(ctx); err != nil {
			return err
		}
		return w.notifyEvent(ctx, fmt.Sprintf("reminder/%d/%d", w.s.Round, w.s.EscalationStage), w.s.Severity,
			reminderNotice(w.s, workflow.Now(ctx).Add(left)))
	}
	if !w.s.Acknowledged && w.s.EscalationStage < p.EscalationStages {
		w.s.EscalationStage++
		w.s.DecisionDue = workflow.Now(ctx).Add(stage)
		w.event(ctx, "policy", incident.EventEscalated, fmt.Sprintf("no decision after %s: escalation stage %d of %d", stage, w.s.EscalationStage, p.EscalationStages))
		if err := w.record(ctx); err != nil {
			return err
		}
		return w.notifyEvent(ctx, fmt.Sprintf("escalation/%d/%d", w.s.Round, w.s.EscalationStage), anomaly.Critical, escalationNotice(w.s))
	}
	return w.decide(ctx, incident.Decision{Action: p.TimeoutDecision, User: "policy:timeout", At: workflow.Now(ctx),
		Comment: "no decision before the last deadline"})
}

// decide acts on a decision: approval goes on to planning, rejection closes
// the incident, a snooze sleeps on it.
func (w *incidentRun) decide(ctx workflow.Context, d incident.Decision) error {
	w.s.Decision = &d
	switch d.Action {
	case incident.Approve:
		return w.transition(ctx, incident.StatusApproved, d.User, incident.EventApproved, withComment("approved", d.Comment))
	case incident.Reject:
		w.s.Resolution = incident.ResolutionRejected
		return w.closeAndNotify(ctx, incident.StatusClosed, d.User, incident.EventRejected, withComment("rejected as a false alarm", d.Comment),
			rejectedNotice(w.s, d))
	case incident.Snooze:
		until := workflow.Now(ctx).Add(time.Duration(d.SnoozeFor))
		w.s.SnoozedUntil = &until
		return w.transition(ctx, incident.StatusSnoozed, d.User, incident.EventSnoozed, withComment("snoozed until "+until.Format(time.RFC3339), d.Comment))
	}
	return fmt.Errorf("unexpected decision %q", d.Action)
}

// snoozed sleeps until the snooze ends, then validates again with the
// evidence gathered meanwhile.
func (w *incidentRun) snoozed(ctx workflow.Context) error {
	if wait := w.s.SnoozedUntil.Sub(workflow.Now(ctx)); wait > 0 {
		if _, err := workflow.AwaitWithTimeout(ctx, min(wait, 24*time.Hour), func() bool {
			return workflow.GetInfo(ctx).GetContinueAsNewSuggested()
		}); err != nil {
			return err
		}
		if workflow.Now(ctx).Before(*w.s.SnoozedUntil) {
			return nil
		}
	}
	w.s.SnoozedUntil = nil
	return w.transition(ctx, incident.StatusValidating, "system", incident.EventSnoozeEnded, "snooze over: validating again with the evidence gathered meanwhile")
}

// plan forecasts, schedules the work order and notifies. Each activity is
// idempotent, so a worker lost in the middle resumes without doubles.
func (w *incidentRun) plan(ctx workflow.Context) error {
	var f incident.Forecast
	fin := activities.ForecastInput{TenantID: w.s.TenantID, AssetID: w.s.AssetID, Evidence: w.s.Evidence, Severity: w.s.Severity, Now: workflow.Now(ctx)}
	if err := workflow.ExecuteActivity(ctx, w.acts.Forecast, fin).Get(ctx, &f); err != nil {
		return fmt.Errorf("forecast: %w", err)
	}
	w.s.Forecast = &f
	w.event(ctx, "system", incident.EventForecast, fmt.Sprintf("%s; deadline %s, priority %s", f.Detail, f.Deadline.Format(time.RFC3339), f.Priority))

	var wo activities.WorkOrder
	sin := activities.ScheduleInput{
		TenantID: w.s.TenantID, AssetID: w.s.AssetID, IncidentID: w.s.ID,
		Title: workOrderTitle(w.s, f), Description: workOrderDescription(w.s, f),
		Priority: f.Priority, Deadline: f.Deadline, Now: workflow.Now(ctx),
	}
	if err := workflow.ExecuteActivity(ctx, w.maint.ScheduleWorkOrder, sin).Get(ctx, &wo); err != nil {
		return fmt.Errorf("schedule work order: %w", err)
	}
	w.s.WorkOrder = &wo
	if err := w.transition(ctx, incident.StatusScheduled, "system", incident.EventWorkOrderScheduled, wo.Summary()); err != nil {
		return err
	}
	if err := w.notifyEvent(ctx, incident.EventWorkOrderScheduled, w.s.Severity, scheduledNotice(w.s, w.approver())); err != nil {
		return err
	}
	if len(wo.Displacements) > 0 && workflow.GetVersion(ctx, "notify-displaced", workflow.DefaultVersion, 1) > workflow.DefaultVersion {
		return w.notifyDisplaced(ctx, wo.Displacements)
	}
	return nil
}

// notifyDisplaced tells of each work order the incident's work order
// displaced: a notice to the tenant's channels and, when the technician
// who had the slot has an email address, an email to them. Keys are per
// displaced work order, so each is told once.
func (w *incidentRun) notifyDisplaced(ctx workflow.Context, ds []maintenance.Displacement) error {
	for _, d := range ds {
		n := displacedNotice(w.s, d)
		key := incident.EventWorkOrderScheduled + "/" + maintenance.EventDisplaced + "/" + d.WorkOrderID
		if err := w.notifyEvent(ctx, key, w.s.Severity, n); err != nil {
			return err
		}
		if d.TechnicianEmail == "" {
			continue
		}
		in := activities.EmailInput{TenantID: w.s.TenantID, Key: w.s.ID + "/" + key, To: d.TechnicianEmail, Severity: string(w.s.Severity),
			Subject: n.subject, Text: n.text, IncidentID: w.s.ID, WorkOrderID: d.WorkOrderID}
		var res activities.EmailResult
		if err := workflow.ExecuteActivity(ctx, w.notify.EmailPerson, in).Get(ctx, &res); err != nil {
			return fmt.Errorf("email %s: %w", key, err)
		}
		w.event(ctx, "system", incident.EventNotified, res.Summary())
		if err := w.record(ctx); err != nil {
			return err
		}
	}
	return nil
}

// approver names who approved the incident ("unknown" for an incident
// re-attached without its decision).
func (w *incidentRun) approver() string {
	if w.s.Decision == nil {
		return "unknown"
	}
	return w.s.Decision.User
}

// followWorkOrder waits for the work order to finish, marking the incident
// cleared when anomalies stop for the policy's ClearAfter.
func (w *incidentRun) followWorkOrder(ctx workflow.Context) error {
	seen := w.s.Evidence.Anomalies
	wait := time.Duration(w.s.Policy.ClearAfter)
	if !w.s.Active {
		wait = 24 * time.Hour
	}
	changed := func() bool { return w.s.WorkOrderStatus != w.s.HandledWorkOrderStatus }
	ok, err := workflow.AwaitWithTimeout(ctx, wait, func() bool {
		return changed() || w.s.Evidence.Anomalies != seen || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	})
	if err != nil {
		return err
	}
	if !ok && w.s.WorkOrder != nil {
		// Nothing arrived for a while: ask the database, in case a
		// status-change signal was lost.
		var current workorder.Status
		in := activities.WorkOrderStatusInput{TenantID: w.s.TenantID, WorkOrderID: w.s.WorkOrder.ID}
		if err := workflow.ExecuteActivity(ctx, w.maint.WorkOrderStatus, in).Get(ctx, &current); err != nil {
			return fmt.Errorf("work order status: %w", err)
		}
		if current != "" && current != w.s.WorkOrderStatus && current != workorder.Scheduled {
			w.s.WorkOrderStatus = current
			w.event(ctx, "system", incident.EventWorkOrder(current), fmt.Sprintf("work order %s is %s (found by polling)", w.s.WorkOrder.ID, current))
		}
	}
	if changed() {
		w.s.HandledWorkOrderStatus = w.s.WorkOrderStatus
		switch w.s.WorkOrderStatus {
		case workorder.InProgress:
			w.s.Status = incident.StatusInProgress
			return w.record(ctx)
		case workorder.Done:
			w.s.Resolution = incident.ResolutionResolved
			return w.closeAndNotify(ctx, incident.StatusResolved, "system", incident.EventResolved, "work order done", resolvedNotice(w.s))
		case workorder.Cancelled:
			w.s.Resolution = incident.ResolutionCancelled
			return w.closeAndNotify(ctx, incident.StatusClosed, "system", incident.EventClosed, "work order cancelled", cancelledNotice(w.s))
		}
	}
	if !ok && w.s.Active && w.s.Evidence.Anomalies == seen {
		w.s.Active = false
		w.event(ctx, "system", incident.EventCleared, fmt.Sprintf("no anomalies for %s", time.Duration(w.s.Policy.ClearAfter)))
		return w.record(ctx)
	}
	if w.s.Evidence.Anomalies != seen {
		return w.record(ctx)
	}
	return nil
}

// close ends the incident in status to (resolved or closed).
func (w *incidentRun) close(ctx workflow.Context, to incident.Status, actor, name, detail string) error {
	now := workflow.Now(ctx)
	w.s.ClosedAt = &now
	w.s.Active = false
	return w.transition(ctx, to, actor, name, detail)
}

// closeAndNotify closes the incident and tells the tenant's channels how it
// ended (runs started before this was added close silently).
func (w *incidentRun) closeAndNotify(ctx workflow.Context, to incident.Status, actor, name, detail string, n notice) error {
	if err := w.close(ctx, to, actor, name, detail); err != nil {
		return err
	}
	if workflow.GetVersion(ctx, "notify-on-close", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	return w.notifyEvent(ctx, name, w.s.Severity, n)
}

// notifyEvent sends a notice to the tenant's channels once per key.
func (w *incidentRun) notifyEvent(ctx workflow.Context, key string, sev anomaly.Severity, n notice) error {
	var res activities.NotifyResult
	in := activities.NotifyInput{TenantID: w.s.TenantID, IncidentID: w.s.ID, AssetID: w.s.AssetID, Key: w.s.ID + "/" + key,
		Severity: string(sev), Subject: n.subject, Text: n.text}
	if w.s.WorkOrder != nil {
		in.WorkOrderID = w.s.WorkOrder.ID
	}
	if err := workflow.ExecuteActivity(ctx, w.notify.Notify, in).Get(ctx, &res); err != nil {
		return fmt.Errorf("notify %s: %w", key, err)
	}
	w.s.Notifications = append(w.s.Notifications, res)
	if len(w.s.Notifications) > 20 {
		w.s.Notifications = w.s.Notifications[len(w.s.Notifications)-20:]
	}
	w.event(ctx, "system", incident.EventNotified, res.Summary())
	return w.record(ctx)
}

// continueAsNew hands the state to a fresh run once pending signals and
// updates are folded in.
func (w *incidentRun) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	for _, name := range []string{SignalAnomalies, SignalDecision, SignalWorkOrder} {
		ch := workflow.GetSignalChannel(ctx, name)
		for {
			var raw json.RawMessage
			if !ch.ReceiveAsync(&raw) {
				break
			}
			switch name {
			case SignalAnomalies:
				var batch []anomaly.Anomaly
				if json.Unmarshal(raw, &batch) == nil {
					w.addAnomalies(ctx, batch)
				}
			case SignalDecision:
				var d incident.Decision
				if json.Unmarshal(raw, &d) == nil && w.acceptDecision(ctx, d) != nil {
					w.event(ctx, d.User, incident.EventDecisionIgnored, "incident was not awaiting a decision")
				}
			case SignalWorkOrder:
				var u WorkOrderUpdate
				if json.Unmarshal(raw, &u) == nil {
					w.applyWorkOrder(ctx, u)
				}
			}
		}
	}
	w.s.History = trimHistory(w.s.History)
	return workflow.NewContinueAsNewError(ctx, Incident, IncidentInput{TenantID: w.s.TenantID, AssetID: w.s.AssetID, State: w.s})
}
