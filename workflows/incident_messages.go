package workflows

import (
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Names of the incident workflow's messages.
const (
	// SignalAnomalies carries []anomaly.Anomaly from the ingest path.
	SignalAnomalies = "anomalies"
	// SignalDecision carries an incident.Decision (the Temporal UI can
	// send it too).
	SignalDecision = "decision"
	// SignalWorkOrder carries a WorkOrderUpdate when the work order changes.
	SignalWorkOrder = "work-order"
	// UpdateDecide is the synchronous decision the API sends: it is
	// rejected when the incident is not awaiting one, and answers with the
	// IncidentView once the decision took effect.
	UpdateDecide = "decide"
	// QueryState returns the IncidentView.
	QueryState = "state"
)

// WorkOrderUpdate tells the incident its work order changed.
type WorkOrderUpdate struct {
	WorkOrderID string           `json:"work_order_id"`
	Status      workorder.Status `json:"status"`
	Actor       string           `json:"actor"`
}

// listen installs the query, signal and update handlers. Signals are folded
// into the state by goroutines; the main loop reacts to what they changed.
func (w *incidentRun) listen(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryState, func() (IncidentView, error) { return w.s.IncidentView, nil }); err != nil {
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
			var d incident.Decision
			decisions.Receive(ctx, &d)
			if err := w.acceptDecision(ctx, d); err != nil {
				w.event(ctx, d.User, incident.EventDecisionIgnored, err.Error())
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
		func(ctx workflow.Context, d incident.Decision) (IncidentView, error) {
			if err := w.acceptDecision(ctx, d); err != nil {
				return IncidentView{}, err
			}
			// Answer once the main loop has acted on the decision, so the
			// caller sees its effect.
			if err := workflow.Await(ctx, func() bool { return w.s.PendingDecision == nil }); err != nil {
				return IncidentView{}, err
			}
			return w.s.IncidentView, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, d incident.Decision) error { return w.decisionAllowed(d) }},
	)
}

// addAnomalies folds a batch of anomalies into the evidence, once each.
func (w *incidentRun) addAnomalies(ctx workflow.Context, batch []anomaly.Anomaly) {
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
		w.event(ctx, "system", incident.EventReactivated, "anomalies returned")
	}
	w.s.UpdatedAt = workflow.Now(ctx)
}

// applyWorkOrder folds a status change of the incident's work order into
// the state; updates for other work orders are ignored.
func (w *incidentRun) applyWorkOrder(ctx workflow.Context, u WorkOrderUpdate) {
	if w.s.WorkOrder == nil || u.WorkOrderID != w.s.WorkOrder.ID {
		return
	}
	w.s.WorkOrderStatus = u.Status
	w.event(ctx, u.Actor, incident.EventWorkOrder(u.Status), fmt.Sprintf("work order %s is %s", u.WorkOrderID, u.Status))
}

// decisionAllowed says whether the incident can take d now; the error is
// an application error of one of the incident.ErrType types.
func (w *incidentRun) decisionAllowed(d incident.Decision) error {
	if err := d.Validate(); err != nil {
		return temporal.NewApplicationError(err.Error(), incident.ErrTypeInvalidDecision)
	}
	if d.IncidentID != "" && d.IncidentID != w.s.ID {
		return temporal.NewApplicationError(fmt.Sprintf("incident %s is no longer running: the asset's workflow now carries incident %s", d.IncidentID, w.s.ID), incident.ErrTypeOtherIncident)
	}
	notAwaiting := temporal.NewApplicationError("incident is not awaiting a decision: it is "+string(w.s.Status), incident.ErrTypeNotAwaitingDecision)
	if d.Action == incident.Acknowledge {
		if !w.s.Status.Open() {
			return notAwaiting
		}
		if w.s.Acknowledged {
			return temporal.NewApplicationError("incident is already acknowledged by "+w.s.Assignee, incident.ErrTypeAlreadyAcknowledged)
		}
		return nil
	}
	if w.s.Status != incident.StatusAwaiting || w.s.PendingDecision != nil {
		return notAwaiting
	}
	return nil
}

// acceptDecision applies an acknowledgement at once and queues other
// decisions for the main loop.
func (w *incidentRun) acceptDecision(ctx workflow.Context, d incident.Decision) error {
	if err := w.decisionAllowed(d); err != nil {
		return err
	}
	d.At = workflow.Now(ctx)
	if d.Action == incident.Acknowledge {
		w.s.Acknowledged, w.s.Assignee = true, d.User
		w.event(ctx, d.User, incident.EventAcknowledged, withComment("acknowledged; escalation stops, reminders follow until a decision", d.Comment))
		return nil
	}
	w.s.PendingDecision = &d
	return nil
}
