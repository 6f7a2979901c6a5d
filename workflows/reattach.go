package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/anomaly"
)

// Events of a re-attached incident in its history and maintenance log.
const (
	// EventReattached: a new run carries on an open incident whose
	// workflow was gone.
	EventReattached = "reattached"
	// EventClosedOrphaned: an open incident whose workflow was gone and
	// could not be carried on was closed (ResolutionOrphaned).
	EventClosedOrphaned = "closed-orphaned"
)

// ResolutionOrphaned closes an incident whose workflow was gone while
// another incident already held its asset.
const ResolutionOrphaned = "orphaned"

// summary is the projection's summary as record writes it.
type summary struct {
	Evidence        activities.Evidence    `json:"evidence"`
	Validation      *activities.Validation `json:"validation"`
	Decision        *Decision              `json:"decision"`
	Forecast        *activities.Forecast   `json:"forecast"`
	EscalationStage int                    `json:"escalation_stage"`
	DecisionDue     time.Time              `json:"decision_due"`
	SnoozedUntil    *time.Time             `json:"snoozed_until,omitempty"`
}

// ReattachState rebuilds the carried state of an open incident from its
// projection, so that a new run carries it on where it stood: an incident
// awaiting a decision still awaits one (its current escalation stage
// restarts when its deadline passed while nothing ran), a snoozed one
// sleeps until its snooze ends, an approved one is planned (scheduling is
// idempotent per incident), and one with a work order follows it, acting
// at once on a status it missed. The event saying so is in the returned
// state's history, to be recorded by the new run.
func ReattachState(o activities.Orphan, now time.Time, why string) (*IncidentState, error) {
	var sum summary
	if len(o.Summary) > 0 {
		if err := json.Unmarshal(o.Summary, &sum); err != nil {
			return nil, fmt.Errorf("incident %s: summary: %w", o.ID, err)
		}
	}
	s := &IncidentState{
		ID: o.ID, TenantID: o.TenantID, AssetID: o.AssetID, WorkflowID: o.WorkflowID, Status: Status(o.Status),
		Severity: anomaly.Severity(o.Severity), Active: o.Active, Acknowledged: o.Acknowledged, Assignee: o.Assignee,
		OpenedAt: o.OpenedAt, UpdatedAt: now, Policy: o.Policy, Evidence: sum.Evidence, Validation: sum.Validation,
		Confidence: o.Confidence, Decision: sum.Decision, Forecast: sum.Forecast, WorkOrder: o.WorkOrder,
		EscalationStage: sum.EscalationStage, DecisionDue: sum.DecisionDue, Seq: o.Seq, LogSeq: o.LogSeq, Round: 1,
	}
	if s.WorkflowID == "" {
		s.WorkflowID = IncidentWorkflowID(o.TenantID, o.AssetID)
	}
	switch s.Status {
	case StatusCollecting, StatusValidating, StatusApproved:
	case StatusAwaiting:
		if !s.DecisionDue.After(now) {
			s.DecisionDue = now.Add(s.Policy.ApprovalTimeout)
		}
	case StatusSnoozed:
		until := now
		if sum.SnoozedUntil != nil && sum.SnoozedUntil.After(now) {
			until = *sum.SnoozedUntil
		}
		s.SnoozedUntil = &until
	case StatusScheduled, StatusInProgress:
		if s.WorkOrder == nil {
			s.Status = StatusApproved // its work order is gone: plan again
			break
		}
		s.WorkOrderStatus, s.HandledWorkOrderStatus = o.WorkOrderStatus, string(s.Status)
	default:
		return nil, fmt.Errorf("incident %s: status %q is not open", o.ID, o.Status)
	}
	if s.Decision != nil && s.Status == StatusAwaiting {
		s.Decision = nil // a decision of an earlier round
	}
	if s.Decision == nil && s.Status != StatusAwaiting && s.Status != StatusCollecting && s.Status != StatusValidating && s.Status != StatusSnoozed {
		s.Decision = &Decision{Action: ActionApprove, User: "unknown", At: o.OpenedAt, Comment: "approved before the workflow was lost; the decision was not recorded"}
	}
	e := Event{At: now, Actor: "system", Event: EventReattached, Detail: why}
	s.History = []Event{e}
	s.Unlogged = []Event{e}
	return s, nil
}
