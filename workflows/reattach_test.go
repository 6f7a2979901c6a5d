package workflows

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
)

func orphanAwaiting(t *testing.T, due time.Time) activities.Orphan {
	t.Helper()
	var ev incident.Evidence
	ev.Add(anomalyAt("old-1", "torque", anomaly.Major, time.Unix(0, 0)))
	sum, err := json.Marshal(map[string]any{"evidence": ev, "escalation_stage": 1, "decision_due": due})
	if err != nil {
		t.Fatal(err)
	}
	return activities.Orphan{Projection: incident.Projection{
		TenantID: "acme", ID: "old-incident", AssetID: "mill-1", WorkflowID: incident.WorkflowID("acme", "mill-1"),
		Status: incident.StatusAwaiting, Severity: anomaly.Major, Active: true, Confidence: 0.6,
		Summary: sum, Seq: 7, OpenedAt: time.Unix(0, 0).UTC(),
	}, LogSeq: 5, Policy: incident.DefaultPolicy()}
}

func TestReattachState(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		edit       func(*activities.Orphan)
		wantStatus incident.Status
		check      func(t *testing.T, s *IncidentState)
	}{
		{"awaiting with a deadline still ahead keeps it", func(o *activities.Orphan) {}, incident.StatusAwaiting, func(t *testing.T, s *IncidentState) {
			if !s.DecisionDue.Equal(now.Add(10*time.Minute)) || s.EscalationStage != 1 {
				t.Errorf("due %s stage %d", s.DecisionDue, s.EscalationStage)
			}
		}},
		{"awaiting past its deadline restarts the stage", func(o *activities.Orphan) {
			*o = orphanAwaiting(t, now.Add(-time.Hour))
		}, incident.StatusAwaiting, func(t *testing.T, s *IncidentState) {
			if !s.DecisionDue.Equal(now.Add(30 * time.Minute)) {
				t.Errorf("due %s, want now + approval timeout", s.DecisionDue)
			}
		}},
		{"scheduled follows its work order and sees it done", func(o *activities.Orphan) {
			o.Status = incident.StatusScheduled
			o.WorkOrder = &activities.WorkOrder{ID: "wo-9"}
			o.WorkOrderStatus = "done"
		}, incident.StatusScheduled, func(t *testing.T, s *IncidentState) {
			if s.WorkOrderStatus != "done" || s.HandledWorkOrderStatus != "scheduled" {
				t.Errorf("work order %q handled %q", s.WorkOrderStatus, s.HandledWorkOrderStatus)
			}
		}},
		{"scheduled without its work order is planned again", func(o *activities.Orphan) {
			o.Status = incident.StatusScheduled
		}, incident.StatusApproved, nil},
		{"approved without its decision names an unknown approver", func(o *activities.Orphan) {
			o.Status = incident.StatusApproved
		}, incident.StatusApproved, func(t *testing.T, s *IncidentState) {
			if s.Decision == nil || s.Decision.Action != incident.Approve {
				t.Errorf("decision %+v", s.Decision)
			}
		}},
		{"snoozed without an end wakes now", func(o *activities.Orphan) {
			o.Status = incident.StatusSnoozed
		}, incident.StatusSnoozed, func(t *testing.T, s *IncidentState) {
			if s.SnoozedUntil == nil || !s.SnoozedUntil.Equal(now) {
				t.Errorf("snoozed until %v", s.SnoozedUntil)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := orphanAwaiting(t, now.Add(10*time.Minute))
			tt.edit(&o)
			s, err := ReattachState(o, now, "test")
			if err != nil {
				t.Fatal(err)
			}
			if s.Status != tt.wantStatus || s.ID != "old-incident" || s.Seq != 7 || s.LogSeq != 5 || s.Evidence.Anomalies != 1 {
				t.Errorf("status %s id %s seq %d logseq %d anomalies %d", s.Status, s.ID, s.Seq, s.LogSeq, s.Evidence.Anomalies)
			}
			if len(s.Unlogged) != 1 || s.Unlogged[0].Event != incident.EventReattached {
				t.Errorf("unlogged %v", s.Unlogged)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
	closed := orphanAwaiting(t, now)
	closed.Status = incident.StatusResolved
	if _, err := ReattachState(closed, now, "test"); err == nil {
		t.Error("a resolved incident was re-attached")
	}
}

// TestIncidentAdoptsOrphan: a new run whose opening write meets the asset's
// open incident (its workflow was lost) carries that incident on: the
// decision reaches it, and the maintenance log continues its numbering.
func TestIncidentAdoptsOrphan(t *testing.T) {
	e := newIncidentEnv(t, 0.6)
	o := orphanAwaiting(t, time.Unix(0, 0).Add(time.Hour))
	e.orphan = &o
	e.recordErr = func(in activities.RecordInput) error {
		if in.Incident.ID != o.ID {
			return temporal.NewNonRetryableApplicationError("another open incident", activities.ErrTypeConflict, nil)
		}
		return nil
	}
	var wrong error
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateDecide, "u0", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { wrong = err }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, incident.Decision{IncidentID: "someone-else", Action: incident.Approve, User: "olga"})
	}, 5*time.Minute)
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateDecide, "u1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("decision for the adopted incident refused: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, incident.Decision{IncidentID: o.ID, Action: incident.Reject, User: "olga"})
	}, 10*time.Minute)
	s := e.start()
	if s.ID != o.ID || s.Status != incident.StatusClosed || s.Resolution != incident.ResolutionRejected {
		t.Fatalf("incident %s %s/%s, want the adopted one rejected", s.ID, s.Status, s.Resolution)
	}
	if wrong == nil || !strings.Contains(wrong.Error(), "no longer running") {
		t.Errorf("decision for another incident: %v, want refused", wrong)
	}
	if s.Evidence.Anomalies != 2 {
		t.Errorf("anomalies %d, want the orphan's and the new run's", s.Evidence.Anomalies)
	}
	if first := e.records[0].Log[0]; first.Seq != o.LogSeq+1 || first.Event != incident.EventReattached {
		t.Errorf("first log entry %+v, want seq %d %s", first, o.LogSeq+1, incident.EventReattached)
	}
	for _, r := range e.records {
		if r.Incident.Seq <= o.Seq {
			t.Errorf("projection seq %d does not move past the stored %d", r.Incident.Seq, o.Seq)
		}
	}
}

// TestIncidentConflictWithoutOrphanFails: a conflict that no open incident
// explains is not retried forever: the run fails.
func TestIncidentConflictWithoutOrphanFails(t *testing.T) {
	e := newIncidentEnv(t, 0.6)
	e.recordErr = func(activities.RecordInput) error {
		return temporal.NewNonRetryableApplicationError("constraint", activities.ErrTypeConflict, nil)
	}
	e.signalAt(0, SignalAnomalies, []anomaly.Anomaly{anomalyAt("a1", "torque", anomaly.Major, time.Unix(0, 0))})
	e.ExecuteWorkflow(Incident, IncidentInput{TenantID: "acme", AssetID: "mill-1"})
	if !e.IsWorkflowCompleted() || e.GetWorkflowError() == nil {
		t.Fatalf("completed %v error %v, want a failed run", e.IsWorkflowCompleted(), e.GetWorkflowError())
	}
}

// TestIncidentReattachedRecordsAtOnce: a run started by the reconciler
// writes its re-attachment before waiting, and takes a decision.
func TestIncidentReattachedRecordsAtOnce(t *testing.T) {
	e := newIncidentEnv(t, 0.6)
	o := orphanAwaiting(t, time.Now().Add(time.Hour))
	st, err := ReattachState(o, time.Now(), "re-attached at start-up")
	if err != nil {
		t.Fatal(err)
	}
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateDecide, "u1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("decision refused: %v", err) }, OnAccept: func() {}, OnComplete: func(any, error) {},
		}, incident.Decision{IncidentID: o.ID, Action: incident.Reject, User: "olga"})
	}, time.Minute)
	e.ExecuteWorkflow(Incident, IncidentInput{TenantID: "acme", AssetID: "mill-1", State: st, Reattach: true})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(e.records) < 2 || e.records[0].Log[0].Event != incident.EventReattached || e.records[0].Incident.Status != incident.StatusAwaiting {
		t.Fatalf("records %+v", e.records)
	}
	if last := e.records[len(e.records)-1]; last.Incident.Resolution != incident.ResolutionRejected {
		t.Errorf("last record %+v", last.Incident)
	}
}
