package workflows

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// IncidentView is what the incident's query and decide update answer, and
// what the API shows of a running incident: where it stands and how it got
// there.
type IncidentView struct {
	incident.Header
	TenantID string `json:"tenant_id"`

	Policy     incident.Policy       `json:"policy"`
	Evidence   incident.Evidence     `json:"evidence"`
	Validation *incident.Validation  `json:"validation,omitempty"`
	Confidence float64               `json:"confidence"`
	Decision   *incident.Decision    `json:"decision,omitempty"`
	Forecast   *incident.Forecast    `json:"forecast,omitempty"`
	WorkOrder  *activities.WorkOrder `json:"work_order,omitempty"`
	// Notifications lists what was sent, by event.
	Notifications []activities.NotifyResult `json:"notifications,omitempty"`

	// DecisionDue is when the current escalation stage ends.
	DecisionDue     time.Time  `json:"decision_due,omitempty"`
	EscalationStage int        `json:"escalation_stage"`
	SnoozedUntil    *time.Time `json:"snoozed_until,omitempty"`
	// Round counts validation rounds (a snooze starts a new one).
	Round int `json:"round"`

	History []incident.Event `json:"history"`
}

// IncidentState is what the incident workflow carries, across
// continue-as-new too: the view, and the bookkeeping the view leaves out.
// Its JSON is flat (the view's fields and the bookkeeping side by side), as
// it has been since the first version.
type IncidentState struct {
	IncidentView

	// Seen holds recent anomaly ids so a re-sent signal is not counted twice.
	Seen []string `json:"seen,omitempty"`
	// Seq orders projection writes; LogSeq numbers log entries.
	Seq    int64 `json:"seq"`
	LogSeq int   `json:"log_seq"`
	// Unlogged are history events not yet written to the maintenance log.
	Unlogged []incident.Event `json:"unlogged,omitempty"`
	// PendingDecision and WorkOrderStatus are inputs not yet acted upon.
	PendingDecision *incident.Decision `json:"pending_decision,omitempty"`
	WorkOrderStatus workorder.Status   `json:"work_order_status,omitempty"`
	// HandledWorkOrderStatus is the work order status last acted upon.
	HandledWorkOrderStatus workorder.Status `json:"handled_work_order_status,omitempty"`
}

// seenKept is how many anomaly ids IncidentState.Seen keeps.
const seenKept = 2000

// historyKept is how many of the latest events the state keeps besides the
// first; the maintenance log has all of them.
const historyKept = 200

// trimHistory keeps the first event and the latest historyKept.
func trimHistory(h []incident.Event) []incident.Event {
	if len(h) <= historyKept+1 {
		return h
	}
	return append([]incident.Event{h[0]}, h[len(h)-historyKept:]...)
}

// event appends to the history and to the log entries still to record.
func (w *incidentRun) event(ctx workflow.Context, actor, name, detail string) {
	e := incident.Event{At: workflow.Now(ctx), Actor: actor, Event: name, Detail: detail}
	w.s.History = append(w.s.History, e)
	w.s.Unlogged = append(w.s.Unlogged, e)
	w.s.UpdatedAt = e.At
}

// projection is the state as PostgreSQL keeps it.
func (s *IncidentState) projection() incident.Projection {
	summary, _ := json.Marshal(incident.Summary{
		Evidence: s.Evidence, Validation: s.Validation, Decision: s.Decision, Forecast: s.Forecast,
		EscalationStage: s.EscalationStage, DecisionDue: s.DecisionDue, SnoozedUntil: s.SnoozedUntil,
	})
	p := incident.ProjectionOf(s.TenantID, s.Header, s.Evidence.Anomalies, nil, summary, s.Seq)
	if s.WorkOrder != nil {
		p.WorkOrderID = &s.WorkOrder.ID
	}
	return p
}

// record writes the projection and the unlogged events.
func (w *incidentRun) record(ctx workflow.Context) error {
	s := w.s
	s.Seq++
	entries := make([]store.LogEntry, len(s.Unlogged))
	for i, e := range s.Unlogged {
		s.LogSeq++
		entries[i] = store.LogEntry{Seq: s.LogSeq, At: e.At, Actor: e.Actor, Event: e.Event, Message: e.Detail}
	}
	in := activities.RecordInput{Incident: s.projection(), Log: entries}
	if err := workflow.ExecuteActivity(ctx, w.acts.Record, in).Get(ctx, nil); err != nil {
		return fmt.Errorf("record incident: %w", err)
	}
	// Signals handled while the activity ran may have added events; they
	// were not in this write and stay for the next one. (This changes no
	// command, so replays of older histories are unaffected.)
	s.Unlogged = slices.Delete(s.Unlogged, 0, len(entries))
	return nil
}

// transition moves to status with an event and records it.
func (w *incidentRun) transition(ctx workflow.Context, to incident.Status, actor, name, detail string) error {
	w.s.Status = to
	w.event(ctx, actor, name, detail)
	return w.record(ctx)
}
