package workflows

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// ReattachState rebuilds the carried state of an open incident from its
// projection, so that a new run carries it on where it stood: an incident
// awaiting a decision still awaits one (its current escalation stage
// restarts when its deadline passed while nothing ran), a snoozed one
// sleeps until its snooze ends, an approved one is planned (scheduling is
// idempotent per incident), and one with a work order follows it, acting
// at once on a status it missed. The event saying so is in the returned
// state's history, to be recorded by the new run.
func ReattachState(o activities.Orphan, now time.Time, why string) (*IncidentState, error) {
	var sum incident.Summary
	if len(o.Summary) > 0 {
		if err := json.Unmarshal(o.Summary, &sum); err != nil {
			return nil, fmt.Errorf("incident %s: summary: %w", o.ID, err)
		}
	}
	s := &IncidentState{IncidentView: IncidentView{
		Header: o.Header(), TenantID: o.TenantID, Policy: o.Policy, Evidence: sum.Evidence, Validation: sum.Validation,
		Decision: sum.Decision, Forecast: sum.Forecast, WorkOrder: o.WorkOrder,
		EscalationStage: sum.EscalationStage, DecisionDue: sum.DecisionDue, Round: 1,
	}, Seq: o.Seq, LogSeq: o.LogSeq}
	s.UpdatedAt = now
	if s.WorkflowID == "" {
		s.WorkflowID = incident.WorkflowID(o.TenantID, o.AssetID)
	}
	switch s.Status {
	case incident.StatusCollecting, incident.StatusValidating, incident.StatusApproved:
	case incident.StatusAwaiting:
		if !s.DecisionDue.After(now) {
			s.DecisionDue = now.Add(time.Duration(s.Policy.ApprovalTimeout))
		}
	case incident.StatusSnoozed:
		until := now
		if sum.SnoozedUntil != nil && sum.SnoozedUntil.After(now) {
			until = *sum.SnoozedUntil
		}
		s.SnoozedUntil = &until
	case incident.StatusScheduled, incident.StatusInProgress:
		if s.WorkOrder == nil {
			s.Status = incident.StatusApproved // its work order is gone: plan again
			break
		}
		// The step this status stands for has been acted upon.
		s.WorkOrderStatus, s.HandledWorkOrderStatus = o.WorkOrderStatus, workorder.Scheduled
		if s.Status == incident.StatusInProgress {
			s.HandledWorkOrderStatus = workorder.InProgress
		}
	default:
		return nil, fmt.Errorf("incident %s: status %q is not open", o.ID, o.Status)
	}
	if s.Decision != nil && s.Status == incident.StatusAwaiting {
		s.Decision = nil // a decision of an earlier round
	}
	if s.Decision == nil && s.Status.PastApproval() {
		s.Decision = &incident.Decision{Action: incident.Approve, User: "unknown", At: o.OpenedAt, Comment: "approved before the workflow was lost; the decision was not recorded"}
	}
	e := incident.Event{At: now, Actor: "system", Event: incident.EventReattached, Detail: why}
	s.History = []incident.Event{e}
	s.Unlogged = []incident.Event{e}
	return s, nil
}
