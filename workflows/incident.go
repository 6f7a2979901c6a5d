package workflows

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Names of the incident workflow's messages.
const (
	// SignalAnomalies carries []anomaly.Anomaly from the ingest path.
	SignalAnomalies = "anomalies"
	// SignalDecision carries a Decision (the Temporal UI can send it too).
	SignalDecision = "decision"
	// SignalWorkOrder carries a WorkOrderUpdate when the work order changes.
	SignalWorkOrder = "work-order"
	// UpdateDecide is the synchronous decision the API sends: it is
	// rejected when the incident is not awaiting one.
	UpdateDecide = "decide"
	// QueryState returns the IncidentState.
	QueryState = "state"
)

// IncidentWorkflowID is the workflow id of an asset's incident: one open
// incident per asset, and later anomalies join it.
func IncidentWorkflowID(tenant, asset string) string { return "incident/" + tenant + "/" + asset }

// Status is where an incident stands.
type Status string

// The statuses, in the order an incident normally passes them.
const (
	StatusCollecting Status = "collecting"
	StatusValidating Status = "validating"
	StatusAwaiting   Status = "awaiting_approval"
	StatusSnoozed    Status = "snoozed"
	StatusApproved   Status = "approved"
	StatusScheduled  Status = "scheduled"
	StatusInProgress Status = "in_progress"
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
)

// Resolutions of a closed incident.
const (
	ResolutionFalsePositive = "false_positive" // validation found too little evidence
	ResolutionBelowPolicy   = "below_policy"   // nothing reached the policy's minimum severity
	ResolutionRejected      = "rejected"       // a person (or the timeout policy) rejected it
	ResolutionResolved      = "resolved"       // its work order was done
	ResolutionCancelled     = "cancelled"      // its work order was cancelled
)

// Decision actions.
const (
	ActionApprove     = "approve"
	ActionReject      = "reject"
	ActionSnooze      = "snooze"
	ActionAcknowledge = "acknowledge"
)

// Error types of the application errors the decide update answers with.
const (
	// ErrTypeNotAwaitingDecision: the incident cannot take this decision
	// now (it is not awaiting one, or it is over).
	ErrTypeNotAwaitingDecision = "NotAwaitingDecision"
	// ErrTypeInvalidDecision: the decision is malformed.
	ErrTypeInvalidDecision = "InvalidDecision"
	// ErrTypeAlreadyAcknowledged: a second acknowledgement.
	ErrTypeAlreadyAcknowledged = "AlreadyAcknowledged"
	// ErrTypeOtherIncident: the decision names an incident other than the
	// one this run carries (the asset's workflow id now holds a newer
	// incident).
	ErrTypeOtherIncident = "OtherIncident"
)

// Decision is a person's answer to an incident awaiting approval.
type Decision struct {
	// IncidentID is the incident the decision is meant for; a run
	// carrying another incident refuses it. Empty matches any (the
	// Temporal UI's signals).
	IncidentID string `json:"incident_id,omitempty"`
	Action     string `json:"action"`
	User       string `json:"user"`
	Comment    string `json:"comment,omitempty"`
	// SnoozeFor is how long a snooze lasts.
	SnoozeFor time.Duration `json:"snooze_for,omitempty"`
	At        time.Time     `json:"at"`
}

// validate checks a decision's form (not whether it is timely).
func (d Decision) validate() error {
	switch d.Action {
	case ActionApprove, ActionReject, ActionAcknowledge:
	case ActionSnooze:
		if d.SnoozeFor <= 0 || d.SnoozeFor > 30*24*time.Hour {
			return errors.New("snooze needs a duration between 1s and 30 days")
		}
	default:
		return fmt.Errorf("unknown action %q (approve, reject, snooze or acknowledge)", d.Action)
	}
	if d.User == "" {
		return errors.New("a decision needs the user who makes it")
	}
	return nil
}

// WorkOrderUpdate tells the incident its work order changed.
type WorkOrderUpdate struct {
	WorkOrderID string `json:"work_order_id"`
	Status      string `json:"status"`
	Actor       string `json:"actor"`
}

// Event is one step in an incident's history.
type Event struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Event  string    `json:"event"`
	Detail string    `json:"detail"`
}

// IncidentState is the whole state of an incident; QueryState returns it
// and continue-as-new carries it.
type IncidentState struct {
	ID           string           `json:"id"`
	TenantID     string           `json:"tenant_id"`
	AssetID      string           `json:"asset_id"`
	WorkflowID   string           `json:"workflow_id"`
	Status       Status           `json:"status"`
	Resolution   string           `json:"resolution,omitempty"`
	Severity     anomaly.Severity `json:"severity"`
	Active       bool             `json:"active"`
	Acknowledged bool             `json:"acknowledged"`
	Assignee     string           `json:"assignee,omitempty"`
	OpenedAt     time.Time        `json:"opened_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
	ClosedAt     *time.Time       `json:"closed_at,omitempty"`

	Policy     store.IncidentPolicy   `json:"policy"`
	Evidence   activities.Evidence    `json:"evidence"`
	Validation *activities.Validation `json:"validation,omitempty"`
	Confidence float64                `json:"confidence"`
	Decision   *Decision              `json:"decision,omitempty"`
	Forecast   *activities.Forecast   `json:"forecast,omitempty"`
	WorkOrder  *activities.WorkOrder  `json:"work_order,omitempty"`
	// Notifications lists what was sent, by event.
	Notifications []activities.NotifyResult `json:"notifications,omitempty"`

	// DecisionDue is when the current escalation stage ends.
	DecisionDue     time.Time  `json:"decision_due,omitempty"`
	EscalationStage int        `json:"escalation_stage"`
	SnoozedUntil    *time.Time `json:"snoozed_until,omitempty"`
	// Round counts validation rounds (a snooze starts a new one).
	Round int `json:"round"`

	History []Event `json:"history"`

	// The rest is bookkeeping carried across continue-as-new.

	// Seen holds recent anomaly ids so a re-sent signal is not counted twice.
	Seen []string `json:"seen,omitempty"`
	// Seq orders projection writes; LogSeq numbers log entries.
	Seq    int64 `json:"seq"`
	LogSeq int   `json:"log_seq"`
	// Unlogged are history events not yet written to the maintenance log.
	Unlogged []Event `json:"unlogged,omitempty"`
	// PendingDecision and WorkOrderStatus are inputs not yet acted upon.
	PendingDecision *Decision `json:"pending_decision,omitempty"`
	WorkOrderStatus string    `json:"work_order_status,omitempty"`
	// HandledWorkOrderStatus is the work order status last acted upon.
	HandledWorkOrderStatus string `json:"handled_work_order_status,omitempty"`
}

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

const seenKept = 2000

// Incident is the incident process of one asset: collect anomalies →
// validate → (auto-)approve or ask a person, escalating while nobody
// answers → forecast → schedule a work order → notify → wait for the work
// order → resolve. Every step is recorded in the incident projection and
// the maintenance log.
func Incident(ctx workflow.Context, in IncidentInput) (*IncidentState, error) {
	w := &incident{s: in.State}
	if w.s == nil {
		info := workflow.GetInfo(ctx)
		now := workflow.Now(ctx)
		w.s = &IncidentState{
			ID: info.FirstRunID, TenantID: in.TenantID, AssetID: in.AssetID, WorkflowID: info.WorkflowExecution.ID,
			Status: StatusCollecting, Active: true, OpenedAt: now, UpdatedAt: now,
		}
	}
	if err := w.listen(ctx); err != nil {
		return nil, err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
		},
	})
	if in.State == nil {
		var policy store.IncidentPolicy
		if err := workflow.ExecuteActivity(ctx, w.acts.LoadPolicy, in.TenantID).Get(ctx, &policy); err != nil {
			return nil, fmt.Errorf("load policy: %w", err)
		}
		w.s.Policy = policy
		w.event(ctx, "system", "opened", fmt.Sprintf("incident opened for %s", in.AssetID))
		if err := w.record(ctx); err != nil {
			if !activities.IsConflict(err) {
				return nil, err
			}
			if err := w.adopt(ctx, err); err != nil {
				return nil, err
			}
		}
	} else if in.Reattach {
		if err := w.record(ctx); err != nil {
			return nil, err
		}
	}
	return w.run(ctx)
}

// adopt carries on the asset's open incident that this new run's opening
// write met (its workflow was gone, say after a Temporal server lost its
// history): the run takes that incident's state, adds the anomalies it
// has gathered itself, and goes on as that incident. Without such an
// incident (closed meanwhile) it tries to open its own once more.
func (w *incident) adopt(ctx workflow.Context, conflict error) error {
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

type incident struct {
	s      *IncidentState
	acts   *activities.Incidents
	maint  *activities.Maintenance
	notify *activities.Notifications
}

// listen installs the query, signal and update handlers. Signals are folded
// into the state by goroutines; the main loop reacts to what they changed.
func (w *incident) listen(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (*IncidentState, error) { return w.s, nil }); err != nil {
		return err
	}
	anomalies := workflow.GetSignalChannel(ctx, SignalAnomalies)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var batch []anomaly.Anomaly
			anomalies.Receive(ctx, &batch)
			w.addAnomalies(ctx, batch)
		}
	})
	decisions := workflow.GetSignalChannel(ctx, SignalDecision)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var d Decision
			decisions.Receive(ctx, &d)
			if err := w.acceptDecision(ctx, d); err != nil {
				w.event(ctx, d.User, "decision-ignored", err.Error())
			}
		}
	})
	workOrders := workflow.GetSignalChannel(ctx, SignalWorkOrder)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var u WorkOrderUpdate
			workOrders.Receive(ctx, &u)
			w.applyWorkOrder(ctx, u)
		}
	})
	return workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide,
		func(ctx workflow.Context, d Decision) (*IncidentState, error) {
			if err := w.acceptDecision(ctx, d); err != nil {
				return nil, err
			}
			// Answer once the main loop has acted on the decision, so the
			// caller sees its effect.
			if err := workflow.Await(ctx, func() bool { return w.s.PendingDecision == nil }); err != nil {
				return nil, err
			}
			return w.s, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d Decision) error { return w.decisionAllowed(d) }},
	)
}

// applyWorkOrder folds a status change of the incident's work order into
// the state; updates for other work orders are ignored.
func (w *incident) applyWorkOrder(ctx workflow.Context, u WorkOrderUpdate) {
	if w.s.WorkOrder == nil || u.WorkOrderID != w.s.WorkOrder.ID {
		return
	}
	w.s.WorkOrderStatus = u.Status
	w.event(ctx, u.Actor, "work-order-"+u.Status, fmt.Sprintf("work order %s is %s", u.WorkOrderID, u.Status))
}

// ErrNotAwaitingDecision is returned for decisions an incident cannot take
// now; the API answers 409.
var ErrNotAwaitingDecision = errors.New("incident is not awaiting a decision")

func (w *incident) decisionAllowed(d Decision) error {
	if err := d.validate(); err != nil {
		return temporal.NewApplicationError(err.Error(), ErrTypeInvalidDecision)
	}
	if d.IncidentID != "" && d.IncidentID != w.s.ID {
		return temporal.NewApplicationError(fmt.Sprintf("incident %s is no longer running: the asset's workflow now carries incident %s", d.IncidentID, w.s.ID), ErrTypeOtherIncident)
	}
	if d.Action == ActionAcknowledge {
		if w.s.Status == StatusResolved || w.s.Status == StatusClosed {
			return temporal.NewApplicationError(ErrNotAwaitingDecision.Error()+": it is "+string(w.s.Status), ErrTypeNotAwaitingDecision)
		}
		if w.s.Acknowledged {
			return temporal.NewApplicationError("incident is already acknowledged by "+w.s.Assignee, ErrTypeAlreadyAcknowledged)
		}
		return nil
	}
	if w.s.Status != StatusAwaiting || w.s.PendingDecision != nil {
		return temporal.NewApplicationError(ErrNotAwaitingDecision.Error()+": it is "+string(w.s.Status), ErrTypeNotAwaitingDecision)
	}
	return nil
}

// acceptDecision applies an acknowledgement at once and queues other
// decisions for the main loop.
func (w *incident) acceptDecision(ctx workflow.Context, d Decision) error {
	if err := w.decisionAllowed(d); err != nil {
		return err
	}
	d.At = workflow.Now(ctx)
	if d.Action == ActionAcknowledge {
		w.s.Acknowledged, w.s.Assignee = true, d.User
		w.event(ctx, d.User, "acknowledged", comment("acknowledged; escalation stops, reminders follow until a decision", d.Comment))
		return nil
	}
	w.s.PendingDecision = &d
	return nil
}

func comment(msg, c string) string {
	if c == "" {
		return msg
	}
	return msg + ": " + c
}

func (w *incident) addAnomalies(ctx workflow.Context, batch []anomaly.Anomaly) {
	fresh := batch[:0:0]
	for _, a := range batch {
		if slices.Contains(w.s.Seen, a.ID) {
			continue
		}
		w.s.Seen = append(w.s.Seen, a.ID)
		fresh = append(fresh, a)
	}
	if len(w.s.Seen) > seenKept {
		w.s.Seen = slices.Clone(w.s.Seen[len(w.s.Seen)-seenKept:])
	}
	if len(fresh) == 0 {
		return
	}
	w.s.Evidence.Add(fresh...)
	w.s.Severity = w.s.Severity.Max(w.s.Evidence.Severity)
	if !w.s.Active {
		w.s.Active = true
		w.event(ctx, "system", "reactivated", "anomalies returned")
	}
	w.s.UpdatedAt = workflow.Now(ctx)
}

// event appends to the history and to the log entries still to record.
func (w *incident) event(ctx workflow.Context, actor, name, detail string) {
	e := Event{At: workflow.Now(ctx), Actor: actor, Event: name, Detail: detail}
	w.s.History = append(w.s.History, e)
	w.s.Unlogged = append(w.s.Unlogged, e)
	w.s.UpdatedAt = e.At
}

// record writes the projection and the unlogged events.
func (w *incident) record(ctx workflow.Context) error {
	s := w.s
	s.Seq++
	summary, _ := json.Marshal(map[string]any{
		"evidence": s.Evidence, "validation": s.Validation, "decision": s.Decision, "forecast": s.Forecast,
		"escalation_stage": s.EscalationStage, "decision_due": s.DecisionDue, "snoozed_until": s.SnoozedUntil,
	})
	inc := activities.IncidentRecord{
		TenantID: s.TenantID, ID: s.ID, AssetID: s.AssetID, WorkflowID: s.WorkflowID, Status: string(s.Status),
		Resolution: s.Resolution, Severity: string(s.Severity), Active: s.Active, Acknowledged: s.Acknowledged,
		Assignee: s.Assignee, Confidence: s.Confidence, Anomalies: s.Evidence.Anomalies, Summary: summary,
		Seq: s.Seq, OpenedAt: s.OpenedAt, UpdatedAt: s.UpdatedAt, ClosedAt: s.ClosedAt,
	}
	if s.WorkOrder != nil {
		inc.WorkOrderID = &s.WorkOrder.ID
	}
	entries := make([]store.LogEntry, len(s.Unlogged))
	for i, e := range s.Unlogged {
		s.LogSeq++
		entries[i] = store.LogEntry{Seq: s.LogSeq, At: e.At, Actor: e.Actor, Event: e.Event, Message: e.Detail}
	}
	if err := workflow.ExecuteActivity(ctx, w.acts.Record, activities.RecordInput{Incident: inc, Log: entries}).Get(ctx, nil); err != nil {
		return fmt.Errorf("record incident: %w", err)
	}
	// Signals handled while the activity ran may have added events; they
	// were not in this write and stay for the next one. (This changes no
	// command, so replays of older histories are unaffected.)
	s.Unlogged = slices.Delete(s.Unlogged, 0, len(entries))
	return nil
}

// transition moves to status with an event and records it.
func (w *incident) transition(ctx workflow.Context, to Status, actor, name, detail string) error {
	w.s.Status = to
	w.event(ctx, actor, name, detail)
	return w.record(ctx)
}

// run is the state machine. Each status is a step; long waits come back
// here regularly so the workflow can continue as new before its history
// grows too large.
func (w *incident) run(ctx workflow.Context) (*IncidentState, error) {
	for {
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() && w.s.Status != StatusApproved {
			return nil, w.continueAsNew(ctx)
		}
		var err error
		switch w.s.Status {
		case StatusCollecting:
			err = w.collect(ctx)
		case StatusValidating:
			err = w.validate(ctx)
		case StatusAwaiting:
			err = w.awaitDecision(ctx)
		case StatusSnoozed:
			err = w.snoozed(ctx)
		case StatusApproved:
			err = w.plan(ctx)
		case StatusScheduled, StatusInProgress:
			err = w.followWorkOrder(ctx)
		case StatusResolved, StatusClosed:
			return w.s, nil
		default:
			return nil, fmt.Errorf("incident in unknown status %q", w.s.Status)
		}
		if err != nil {
			return nil, err
		}
	}
}

// continueAsNew hands the state to a fresh run once pending signals and
// updates are folded in.
func (w *incident) continueAsNew(ctx workflow.Context) error {
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
				var d Decision
				if json.Unmarshal(raw, &d) == nil && w.acceptDecision(ctx, d) != nil {
					w.event(ctx, d.User, "decision-ignored", "incident was not awaiting a decision")
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

// trimHistory keeps the first event and the latest 200 in the state; the
// maintenance log has all of them.
func trimHistory(h []Event) []Event {
	if len(h) <= 201 {
		return h
	}
	return append([]Event{h[0]}, h[len(h)-200:]...)
}

func (w *incident) collect(ctx workflow.Context) error {
	if d := w.s.Policy.CollectWindow; d > 0 {
		if err := workflow.Sleep(ctx, d); err != nil {
			return err
		}
	}
	return w.transition(ctx, StatusValidating, "system", "collected",
		fmt.Sprintf("%d anomalies collected, most severe %s", w.s.Evidence.Anomalies, w.s.Evidence.Severity))
}

func (w *incident) validate(ctx workflow.Context) error {
	w.s.Round++
	if min := anomaly.Severity(w.s.Policy.MinSeverity); min.Rank() > 0 && w.s.Evidence.Severity.Rank() < min.Rank() {
		w.s.Resolution = ResolutionBelowPolicy
		return w.close(ctx, StatusClosed, "policy", "closed-below-policy",
			fmt.Sprintf("most severe anomaly is %s; the policy opens incidents from %s", w.s.Evidence.Severity, min))
	}
	var v activities.Validation
	in := activities.ValidateInput{TenantID: w.s.TenantID, AssetID: w.s.AssetID, Evidence: w.s.Evidence, Policy: w.s.Policy, Now: workflow.Now(ctx)}
	if err := workflow.ExecuteActivity(ctx, w.acts.Validate, in).Get(ctx, &v); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	w.s.Validation, w.s.Confidence = &v, v.Confidence
	p := w.s.Policy
	switch {
	case v.Confidence < p.RejectBelow:
		w.s.Resolution = ResolutionFalsePositive
		return w.close(ctx, StatusClosed, "policy", "closed-false-positive",
			fmt.Sprintf("confidence %.2f is below %.2f", v.Confidence, p.RejectBelow))
	case v.Confidence >= p.AutoApproveAt:
		w.s.Decision = &Decision{Action: ActionApprove, User: "policy:auto-approve", At: workflow.Now(ctx),
			Comment: fmt.Sprintf("confidence %.2f reaches %.2f", v.Confidence, p.AutoApproveAt)}
		return w.transition(ctx, StatusApproved, "policy", "approved", w.s.Decision.Comment)
	}
	w.s.EscalationStage = 0
	w.s.DecisionDue = workflow.Now(ctx).Add(p.ApprovalTimeout)
	if err := w.transition(ctx, StatusAwaiting, "policy", "approval-requested",
		fmt.Sprintf("confidence %.2f is between %.2f and %.2f: a person decides", v.Confidence, p.RejectBelow, p.AutoApproveAt)); err != nil {
		return err
	}
	return w.notifyEvent(ctx, fmt.Sprintf("approval-requested/%d", w.s.Round), w.s.Severity,
		fmt.Sprintf("[%s] %s: approval needed", w.s.Severity, w.s.AssetID),
		fmt.Sprintf("Incident %s on %s needs a decision (confidence %.2f).\n%s", w.s.ID, w.s.AssetID, v.Confidence, w.evidenceText()))
}

// awaitDecision waits for a decision until the current stage's deadline,
// then escalates, and after the last stage applies the policy's default.
// Acknowledging stops the escalation; the deadline still ends in the
// default so nothing waits forever.
func (w *incident) awaitDecision(ctx workflow.Context) error {
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
	if w.s.Acknowledged && w.s.EscalationStage < p.EscalationStages &&
		workflow.GetVersion(ctx, "ack-keeps-deadline", workflow.DefaultVersion, 1) > workflow.DefaultVersion {
		// Acknowledged: nobody is paged further, but the time to the
		// policy's default stays what it was, and whoever acknowledged is
		// reminded at each stage.
		w.s.EscalationStage++
		w.s.DecisionDue = workflow.Now(ctx).Add(p.ApprovalTimeout)
		left := time.Duration(p.EscalationStages-w.s.EscalationStage+1) * p.ApprovalTimeout
		w.event(ctx, "policy", "reminded", fmt.Sprintf("acknowledged by %s but still undecided: the policy will %s in %s", w.s.Assignee, p.TimeoutDecision, left))
		if err := w.record(ctx); err != nil {
			return err
		}
		return w.notifyEvent(ctx, fmt.Sprintf("reminder/%d/%d", w.s.Round, w.s.EscalationStage), w.s.Severity,
			fmt.Sprintf("[%s] %s: reminder, decision still open", w.s.Severity, w.s.AssetID),
			fmt.Sprintf("Incident %s on %s was acknowledged by %s but has no decision yet. The policy will %s at %s.\n%s",
				w.s.ID, w.s.AssetID, w.s.Assignee, p.TimeoutDecision, workflow.Now(ctx).Add(left).Format(time.RFC3339), w.evidenceText()))
	}
	if !w.s.Acknowledged && w.s.EscalationStage < p.EscalationStages {
		w.s.EscalationStage++
		w.s.DecisionDue = workflow.Now(ctx).Add(p.ApprovalTimeout)
		w.event(ctx, "policy", "escalated", fmt.Sprintf("no decision after %s: escalation stage %d of %d", p.ApprovalTimeout, w.s.EscalationStage, p.EscalationStages))
		if err := w.record(ctx); err != nil {
			return err
		}
		return w.notifyEvent(ctx, fmt.Sprintf("escalation/%d/%d", w.s.Round, w.s.EscalationStage), anomaly.Critical,
			fmt.Sprintf("[escalation %d] %s: decision overdue", w.s.EscalationStage, w.s.AssetID),
			fmt.Sprintf("Incident %s on %s has waited %s for a decision. Escalation stage %d of %d; after it the policy will %s.\n%s",
				w.s.ID, w.s.AssetID, time.Duration(w.s.EscalationStage)*p.ApprovalTimeout, w.s.EscalationStage, p.EscalationStages, p.TimeoutDecision, w.evidenceText()))
	}
	return w.decide(ctx, Decision{Action: p.TimeoutDecision, User: "policy:timeout", At: workflow.Now(ctx),
		Comment: "no decision before the last deadline"})
}

func (w *incident) decide(ctx workflow.Context, d Decision) error {
	w.s.Decision = &d
	switch d.Action {
	case ActionApprove:
		return w.transition(ctx, StatusApproved, d.User, "approved", comment("approved", d.Comment))
	case ActionReject:
		w.s.Resolution = ResolutionRejected
		return w.closeAndNotify(ctx, StatusClosed, d.User, "rejected", comment("rejected as a false alarm", d.Comment),
			fmt.Sprintf("[%s] %s: rejected, incident closed", w.s.Severity, w.s.AssetID),
			fmt.Sprintf("Incident %s on %s was rejected as a false alarm by %s.%s", w.s.ID, w.s.AssetID, d.User, commentLine(d.Comment)))
	case ActionSnooze:
		until := workflow.Now(ctx).Add(d.SnoozeFor)
		w.s.SnoozedUntil = &until
		return w.transition(ctx, StatusSnoozed, d.User, "snoozed", comment("snoozed until "+until.Format(time.RFC3339), d.Comment))
	}
	return fmt.Errorf("unexpected decision %q", d.Action)
}

func (w *incident) snoozed(ctx workflow.Context) error {
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
	return w.transition(ctx, StatusValidating, "system", "snooze-ended", "snooze over: validating again with the evidence gathered meanwhile")
}

// plan forecasts, schedules the work order and notifies. Each activity is
// idempotent, so a worker lost in the middle resumes without doubles.
func (w *incident) plan(ctx workflow.Context) error {
	var f activities.Forecast
	fin := activities.ForecastInput{TenantID: w.s.TenantID, AssetID: w.s.AssetID, Evidence: w.s.Evidence, Severity: w.s.Severity, Now: workflow.Now(ctx)}
	if err := workflow.ExecuteActivity(ctx, w.acts.Forecast, fin).Get(ctx, &f); err != nil {
		return fmt.Errorf("forecast: %w", err)
	}
	w.s.Forecast = &f
	w.event(ctx, "system", "forecast", fmt.Sprintf("%s; deadline %s, priority %s", f.Detail, f.Deadline.Format(time.RFC3339), f.Priority))

	var wo activities.WorkOrder
	sin := activities.ScheduleInput{
		TenantID: w.s.TenantID, AssetID: w.s.AssetID, IncidentID: w.s.ID,
		Title:       fmt.Sprintf("Inspect %s: %s anomaly on %s", w.s.AssetID, w.s.Severity, f.SensorID),
		Description: w.evidenceText() + "\nForecast: " + f.Detail,
		Priority:    f.Priority, Deadline: f.Deadline, Now: workflow.Now(ctx),
	}
	if err := workflow.ExecuteActivity(ctx, w.maint.ScheduleWorkOrder, sin).Get(ctx, &wo); err != nil {
		return fmt.Errorf("schedule work order: %w", err)
	}
	w.s.WorkOrder = &wo
	if err := w.transition(ctx, StatusScheduled, "system", "work-order-scheduled", wo.Summary()); err != nil {
		return err
	}
	return w.notifyEvent(ctx, "work-order-scheduled", w.s.Severity,
		fmt.Sprintf("[%s] %s: work order scheduled", w.s.Severity, w.s.AssetID),
		fmt.Sprintf("Incident %s on %s was approved by %s.\n%s\nForecast: %s\nWork order: %s",
			w.s.ID, w.s.AssetID, w.approver(), w.evidenceText(), f.Detail, wo.Summary()))
}

// approver names who approved the incident ("unknown" for an incident
// re-attached without its decision).
func (w *incident) approver() string {
	if w.s.Decision == nil {
		return "unknown"
	}
	return w.s.Decision.User
}

// followWorkOrder waits for the work order to finish, marking the incident
// cleared when anomalies stop for the policy's ClearAfter.
func (w *incident) followWorkOrder(ctx workflow.Context) error {
	seen := w.s.Evidence.Anomalies
	wait := w.s.Policy.ClearAfter
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
		var current string
		in := activities.WorkOrderStatusInput{TenantID: w.s.TenantID, WorkOrderID: w.s.WorkOrder.ID}
		if err := workflow.ExecuteActivity(ctx, w.maint.WorkOrderStatus, in).Get(ctx, &current); err != nil {
			return fmt.Errorf("work order status: %w", err)
		}
		if current != "" && current != w.s.WorkOrderStatus && current != "scheduled" {
			w.s.WorkOrderStatus = current
			w.event(ctx, "system", "work-order-"+current, fmt.Sprintf("work order %s is %s (found by polling)", w.s.WorkOrder.ID, current))
		}
	}
	if changed() {
		w.s.HandledWorkOrderStatus = w.s.WorkOrderStatus
		switch w.s.WorkOrderStatus {
		case "in_progress":
			w.s.Status = StatusInProgress
			return w.record(ctx)
		case "done":
			w.s.Resolution = ResolutionResolved
			return w.closeAndNotify(ctx, StatusResolved, "system", "resolved", "work order done",
				fmt.Sprintf("[%s] %s: resolved, work order done", w.s.Severity, w.s.AssetID),
				fmt.Sprintf("Incident %s on %s is resolved: work order %s is done.", w.s.ID, w.s.AssetID, w.s.WorkOrder.ID))
		case "cancelled":
			w.s.Resolution = ResolutionCancelled
			return w.closeAndNotify(ctx, StatusClosed, "system", "closed", "work order cancelled",
				fmt.Sprintf("[%s] %s: closed, work order cancelled", w.s.Severity, w.s.AssetID),
				fmt.Sprintf("Incident %s on %s is closed: work order %s was cancelled.", w.s.ID, w.s.AssetID, w.s.WorkOrder.ID))
		}
	}
	if !ok && w.s.Active && w.s.Evidence.Anomalies == seen {
		w.s.Active = false
		w.event(ctx, "system", "cleared", fmt.Sprintf("no anomalies for %s", w.s.Policy.ClearAfter))
		return w.record(ctx)
	}
	if w.s.Evidence.Anomalies != seen {
		return w.record(ctx)
	}
	return nil
}

func (w *incident) close(ctx workflow.Context, to Status, actor, name, detail string) error {
	now := workflow.Now(ctx)
	w.s.ClosedAt = &now
	w.s.Active = false
	return w.transition(ctx, to, actor, name, detail)
}

// closeAndNotify closes the incident and tells the tenant's channels how it
// ended (runs started before this was added close silently).
func (w *incident) closeAndNotify(ctx workflow.Context, to Status, actor, name, detail, subject, text string) error {
	if err := w.close(ctx, to, actor, name, detail); err != nil {
		return err
	}
	if workflow.GetVersion(ctx, "notify-on-close", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return nil
	}
	return w.notifyEvent(ctx, name, w.s.Severity, subject, text)
}

func commentLine(c string) string {
	if c == "" {
		return ""
	}
	return "\nComment: " + c
}

// notifyEvent sends a message to the tenant's channels once per key.
func (w *incident) notifyEvent(ctx workflow.Context, key string, sev anomaly.Severity, subject, text string) error {
	var res activities.NotifyResult
	in := activities.NotifyInput{TenantID: w.s.TenantID, IncidentID: w.s.ID, AssetID: w.s.AssetID, Key: w.s.ID + "/" + key,
		Severity: string(sev), Subject: subject, Text: text}
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
	w.event(ctx, "system", "notified", res.Summary())
	return w.record(ctx)
}

func (w *incident) evidenceText() string {
	e := w.s.Evidence
	text := fmt.Sprintf("%d anomalies from %s to %s, most severe %s.", e.Anomalies,
		e.First.Format(time.RFC3339), e.Last.Format(time.RFC3339), e.Severity)
	ids := make([]string, 0, len(e.BySensor))
	for id := range e.BySensor {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := e.BySensor[id]
		text += fmt.Sprintf("\n- %s: %d anomalies, %s, last %g at %s", id, s.Count, s.Severity, s.LastValue, s.LastTS.Format(time.RFC3339))
	}
	if n := len(e.Recent); n > 0 {
		text += "\nLatest: " + e.Recent[n-1].Reason
	}
	return text
}
