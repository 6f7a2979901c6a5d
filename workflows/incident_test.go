package workflows

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// incidentEnv wires the incident workflow to recorded fake activities: the
// workflow-logic tests check the decisions, not the database.
type incidentEnv struct {
	*testsuite.TestWorkflowEnvironment
	t *testing.T

	mu          sync.Mutex
	confidences []float64 // returned by successive Validate calls
	validations int
	records     []activities.RecordInput
	notified    []string
	scheduled   int
	woStatus    workorder.Status // what WorkOrderStatus reports; "" = scheduled
	recordTakes time.Duration    // workflow time each Record activity takes
	policy      incident.Policy
	// recordErr, when set, may fail a Record call (nothing is recorded).
	recordErr func(activities.RecordInput) error
	// orphan is what FindOrphan answers.
	orphan *activities.Orphan
	// displacements are what ScheduleWorkOrder reports displaced; emailed
	// the addresses and texts EmailPerson got.
	displacements []maintenance.Displacement
	emailed       []activities.EmailInput
}

// newTestEnv returns a test workflow environment that discards the SDK's
// logs.
func newTestEnv() *testsuite.TestWorkflowEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	return suite.NewTestWorkflowEnvironment()
}

// newWorkflowEnv is newTestEnv with workflow and the activity structs acts
// (typed nil pointers do) registered.
func newWorkflowEnv(workflow any, acts ...any) *testsuite.TestWorkflowEnvironment {
	e := newTestEnv()
	e.RegisterWorkflow(workflow)
	for _, a := range acts {
		e.RegisterActivity(a)
	}
	return e
}

func newIncidentEnv(t *testing.T, confidences ...float64) *incidentEnv {
	e := &incidentEnv{TestWorkflowEnvironment: newTestEnv(), t: t, confidences: confidences, policy: incident.DefaultPolicy()}
	e.RegisterWorkflow(Incident)
	var inc *activities.Incidents
	var maint *activities.Maintenance
	var notif *activities.Notifications
	e.RegisterActivity(inc)
	e.RegisterActivity(maint)
	e.RegisterActivity(notif)
	e.OnActivity(inc.LoadPolicy, mock.Anything, mock.Anything).Return(func(_ context.Context, _ string) (incident.Policy, error) { return e.policy, nil })
	e.OnActivity(inc.Validate, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ValidateInput) (incident.Validation, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		c := e.confidences[min(e.validations, len(e.confidences)-1)]
		e.validations++
		return incident.Validation{Confidence: c}, nil
	})
	e.OnActivity(inc.Forecast, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ForecastInput) (incident.Forecast, error) {
		return incident.Forecast{SensorID: "torque", Priority: "high", Deadline: in.Now.Add(24 * time.Hour), Detail: "forecast"}, nil
	})
	e.OnActivity(maint.ScheduleWorkOrder, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ScheduleInput) (activities.WorkOrder, error) {
		e.mu.Lock()
		e.scheduled++
		e.mu.Unlock()
		start := in.Now.Add(time.Hour)
		end := start.Add(2 * time.Hour)
		return activities.WorkOrder{ID: "wo-1", Created: true, TechnicianID: "tech-1", Start: &start, End: &end, Deadline: in.Deadline, Priority: in.Priority,
			Displacements: e.displacements}, nil
	})
	e.OnActivity(notif.EmailPerson, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.EmailInput) (activities.EmailResult, error) {
		e.mu.Lock()
		e.emailed = append(e.emailed, in)
		e.mu.Unlock()
		return activities.EmailResult{Key: in.Key, To: in.To, Sent: true}, nil
	})
	e.OnActivity(maint.WorkOrderStatus, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.WorkOrderStatusInput) (workorder.Status, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.woStatus == "" {
			return workorder.Scheduled, nil
		}
		return e.woStatus, nil
	})
	e.OnActivity(notif.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NotifyInput) (activities.NotifyResult, error) {
		e.mu.Lock()
		e.notified = append(e.notified, strings.TrimPrefix(in.Key, "first-run/"))
		e.mu.Unlock()
		return activities.NotifyResult{Key: in.Key}, nil
	})
	e.OnActivity(inc.Record, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return e.recordTakes }).Return(func(_ context.Context, in activities.RecordInput) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.recordErr != nil {
			if err := e.recordErr(in); err != nil {
				return err
			}
		}
		e.records = append(e.records, in)
		return nil
	})
	e.OnActivity(inc.FindOrphan, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FindOrphanInput) (*activities.Orphan, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.orphan, nil
	})
	return e
}

func anomalyAt(id, sensor string, sev anomaly.Severity, at time.Time) anomaly.Anomaly {
	return anomaly.Anomaly{ID: id, TenantID: "acme", AssetID: "mill-1", SensorID: sensor, TS: at, Value: 80, Score: 0.9, Severity: sev, Reason: "80 Nm is above the alarm limit 70", Direction: 1}
}

// signalAt sends a signal after d of workflow time.
func (e *incidentEnv) signalAt(d time.Duration, name string, arg any) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(name, arg) }, d)
}

func (e *incidentEnv) start() *IncidentState {
	e.t.Helper()
	e.signalAt(0, SignalAnomalies, []anomaly.Anomaly{anomalyAt("a1", "torque", anomaly.Major, time.Unix(0, 0))})
	e.ExecuteWorkflow(Incident, IncidentInput{TenantID: "acme", AssetID: "mill-1"})
	if !e.IsWorkflowCompleted() {
		e.t.Fatal("workflow did not complete")
	}
	if err := e.GetWorkflowError(); err != nil {
		e.t.Fatalf("workflow error: %v", err)
	}
	var s IncidentState
	if err := e.GetWorkflowResult(&s); err != nil {
		e.t.Fatal(err)
	}
	e.loggedAll(&s)
	return &s
}

func events(s *IncidentState) []string {
	out := make([]string, len(s.History))
	for i, h := range s.History {
		out[i] = h.Event
	}
	return out
}

func hasEvents(t *testing.T, s *IncidentState, want ...string) {
	t.Helper()
	got := events(s)
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	if i != len(want) {
		t.Errorf("history %v does not contain %v in order", got, want)
	}
}

func TestIncidentAutoApprovedToResolved(t *testing.T) {
	e := newIncidentEnv(t, 0.95)
	// A second batch joins, with a duplicate that must not count twice.
	e.signalAt(5*time.Second, SignalAnomalies, []anomaly.Anomaly{anomalyAt("a1", "torque", anomaly.Major, time.Unix(0, 0)), anomalyAt("a2", "temp", anomaly.Critical, time.Unix(5, 0))})
	e.signalAt(2*time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "in_progress", Actor: "tech-1"})
	e.signalAt(3*time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "other", Status: "done", Actor: "x"}) // not ours: ignored
	e.signalAt(4*time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "done", Actor: "tech-1"})
	s := e.start()

	if s.Status != incident.StatusResolved || s.Resolution != incident.ResolutionResolved || s.ClosedAt == nil || s.Active {
		t.Errorf("final state %s/%s closed=%v active=%v", s.Status, s.Resolution, s.ClosedAt, s.Active)
	}
	if s.Evidence.Anomalies != 2 || s.Severity != anomaly.Critical || len(s.Evidence.BySensor) != 2 {
		t.Errorf("evidence %+v, severity %s", s.Evidence, s.Severity)
	}
	if s.Decision == nil || s.Decision.User != "policy:auto-approve" {
		t.Errorf("decision %+v", s.Decision)
	}
	if e.scheduled != 1 || s.WorkOrder == nil || s.WorkOrder.ID != "wo-1" {
		t.Errorf("scheduled %d, work order %+v", e.scheduled, s.WorkOrder)
	}
	if len(e.notified) != 2 || !strings.HasSuffix(e.notified[0], "/work-order-scheduled") || !strings.HasSuffix(e.notified[1], "/resolved") {
		t.Errorf("notified %v", e.notified)
	}
	hasEvents(t, s, "opened", "collected", "approved", "forecast", "work-order-scheduled", "notified", "work-order-in_progress", "work-order-done", "resolved")
	// Every event reached the maintenance log exactly once, in order.
	var logged []string
	seq := 0
	for _, r := range e.records {
		for _, l := range r.Log {
			if l.Seq != seq+1 {
				t.Fatalf("log seq %d after %d", l.Seq, seq)
			}
			seq = l.Seq
			logged = append(logged, l.Event)
		}
	}
	if strings.Join(logged, ",") != strings.Join(events(s), ",") {
		t.Errorf("log %v != history %v", logged, events(s))
	}
	last := e.records[len(e.records)-1].Incident
	if last.Status != "resolved" || last.WorkOrderID == nil || *last.WorkOrderID != "wo-1" {
		t.Errorf("last projection %+v", last)
	}
	for i := 1; i < len(e.records); i++ {
		if e.records[i].Incident.Seq <= e.records[i-1].Incident.Seq {
			t.Fatalf("projection seq does not grow: %d then %d (%s, %v)", e.records[i-1].Incident.Seq, e.records[i].Incident.Seq, e.records[i].Incident.Status, e.records[i].Log)
		}
	}
}

// TestIncidentTellsDisplacedTechnicians: when the incident's work order
// displaced others, each gets a notice to the channels after the
// scheduled one, and its technician, when they have an email address, an
// email; each keyed by the displaced work order.
func TestIncidentTellsDisplacedTechnicians(t *testing.T) {
	e := newIncidentEnv(t, 0.95)
	at := time.Unix(3600, 0).UTC()
	e.displacements = []maintenance.Displacement{
		{WorkOrderID: "wo-pm", Title: "Lubricate spindle", Priority: workorder.Medium, TechnicianName: "Ada", TechnicianEmail: "ada@plant.example",
			Before: &maintenance.Slot{TechnicianID: "tech-1", Start: at, End: at.Add(time.Hour)},
			After:  &maintenance.Slot{TechnicianID: "tech-1", Start: at.Add(3 * time.Hour), End: at.Add(4 * time.Hour)}},
		{WorkOrderID: "wo-paint", Title: "Repaint guard", Priority: workorder.Low, Unassigned: "no technician is free within the horizon",
			Before: &maintenance.Slot{TechnicianID: "tech-1", Start: at.Add(time.Hour), End: at.Add(2 * time.Hour)}},
	}
	e.signalAt(4*time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "done", Actor: "tech-1"})
	s := e.start()
	if len(e.notified) != 4 || !strings.HasSuffix(e.notified[0], "/work-order-scheduled") ||
		!strings.HasSuffix(e.notified[1], "/work-order-scheduled/displaced/wo-pm") ||
		!strings.HasSuffix(e.notified[2], "/work-order-scheduled/displaced/wo-paint") || !strings.HasSuffix(e.notified[3], "/resolved") {
		t.Errorf("notified %v", e.notified)
	}
	if len(e.emailed) != 1 || e.emailed[0].To != "ada@plant.example" || !strings.HasSuffix(e.emailed[0].Key, "/displaced/wo-pm") ||
		!strings.Contains(e.emailed[0].Text, "Lubricate spindle") || !strings.Contains(e.emailed[0].Text, "booked again from 1970-01-01T04:00:00Z") {
		t.Errorf("emailed %+v", e.emailed)
	}
	hasEvents(t, s, "work-order-scheduled", "notified", "notified", "notified", "notified", "resolved")
}

func TestIncidentBelowPolicySeverityClosesAtOnce(t *testing.T) {
	e := newIncidentEnv(t, 0.95)
	e.policy.MinSeverity = "critical"
	s := e.start()
	if s.Status != incident.StatusClosed || s.Resolution != incident.ResolutionBelowPolicy || e.validations != 0 || e.scheduled != 0 {
		t.Errorf("state %s/%s, validations %d, scheduled %d", s.Status, s.Resolution, e.validations, e.scheduled)
	}
	hasEvents(t, s, "opened", "collected", "closed-below-policy")
}

func TestIncidentBelowFloorIsFalsePositive(t *testing.T) {
	e := newIncidentEnv(t, 0.1)
	s := e.start()
	if s.Status != incident.StatusClosed || s.Resolution != incident.ResolutionFalsePositive || e.scheduled != 0 || len(e.notified) != 0 {
		t.Errorf("state %s/%s, scheduled %d, notified %v", s.Status, s.Resolution, e.scheduled, e.notified)
	}
	hasEvents(t, s, "opened", "collected", "closed-false-positive")
}

func TestIncidentHumanApprovesThroughUpdate(t *testing.T) {
	e := newIncidentEnv(t, 0.6)
	var updateErr error
	var afterApprove error
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateDecide, "u1", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { updateErr = err },
			OnAccept:   func() {},
			OnComplete: func(any, error) {},
		}, incident.Decision{Action: incident.Approve, User: "olga", Comment: "bearing noise confirmed"})
	}, 10*time.Minute)
	// A second decision after the first is refused: the incident is no
	// longer awaiting one.
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateDecide, "u2", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { afterApprove = err },
			OnAccept:   func() {},
			OnComplete: func(any, error) {},
		}, incident.Decision{Action: incident.Reject, User: "sam"})
	}, 20*time.Minute)
	e.signalAt(time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "cancelled", Actor: "olga"})
	s := e.start()
	if updateErr != nil {
		t.Fatalf("approve rejected: %v", updateErr)
	}
	if afterApprove == nil || !strings.Contains(afterApprove.Error(), "not awaiting a decision") {
		t.Errorf("second decision: err = %v, want not awaiting", afterApprove)
	}
	if s.Decision.User != "olga" || s.Status != incident.StatusClosed || s.Resolution != incident.ResolutionCancelled {
		t.Errorf("decision %+v, state %s/%s", s.Decision, s.Status, s.Resolution)
	}
	if len(e.notified) != 3 || !strings.HasSuffix(e.notified[0], "/approval-requested/1") || !strings.HasSuffix(e.notified[2], "/closed") {
		t.Errorf("notified %v", e.notified)
	}
	hasEvents(t, s, "approval-requested", "notified", "approved", "work-order-scheduled", "work-order-cancelled", "closed")
}

func TestIncidentHumanRejectsThroughSignal(t *testing.T) {
	e := newIncidentEnv(t, 0.6)
	e.signalAt(time.Minute, SignalDecision, incident.Decision{Action: "explode", User: "x"}) // invalid: ignored and logged
	e.signalAt(2*time.Minute, SignalDecision, incident.Decision{Action: incident.Reject, User: "olga", Comment: "sensor was being calibrated"})
	s := e.start()
	if s.Status != incident.StatusClosed || s.Resolution != incident.ResolutionRejected || e.scheduled != 0 {
		t.Errorf("state %s/%s scheduled %d", s.Status, s.Resolution, e.scheduled)
	}
	hasEvents(t, s, "approval-requested", "decision-ignored", "rejected")
}

func TestIncidentEscalatesThenAppliesPolicy(t *testing.T) {
	e := newIncidentEnv(t, 0.6)
	e.policy.ApprovalTimeout = incident.Duration(30 * time.Minute)
	e.policy.EscalationStages = 2
	e.policy.TimeoutDecision = incident.Reject
	s := e.start()
	want := []string{"/approval-requested/1", "/escalation/1/1", "/escalation/1/2", "/rejected"}
	if len(e.notified) != len(want) {
		t.Fatalf("notified %v, want %v", e.notified, want)
	}
	for i, w := range want {
		if !strings.HasSuffix(e.notified[i], w) {
			t.Errorf("notification %d = %s, want …%s", i, e.notified[i], w)
		}
	}
	if s.Decision.User != "policy:timeout" || s.Resolution != incident.ResolutionRejected || s.EscalationStage != 2 {
		t.Errorf("decision %+v resolution %s stage %d", s.Decision, s.Resolution, s.EscalationStage)
	}
	// 30 s collecting + three stages of 30 min.
	if got := s.ClosedAt.Sub(s.OpenedAt); got != 30*time.Second+90*time.Minute {
		t.Errorf("decided after %s", got)
	}
}

// TestIncidentAcknowledgeStopsEscalation: acknowledging stops the pages
// but not the clock: the policy's default comes exactly when it would have
// without the acknowledgement, with a reminder at each stage instead of an
// escalation, and a second acknowledgement is refused.
func TestIncidentAcknowledgeStopsEscalation(t *testing.T) {
	e := newIncidentEnv(t, 0.6)
	e.policy.ApprovalTimeout = incident.Duration(30 * time.Minute)
	e.policy.EscalationStages = 2
	e.signalAt(10*time.Minute, SignalDecision, incident.Decision{Action: incident.Acknowledge, User: "olga"})
	var second error
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateDecide, "ack-2", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { second = err },
			OnAccept:   func() {},
			OnComplete: func(any, error) {},
		}, incident.Decision{Action: incident.Acknowledge, User: "piotr"})
	}, 20*time.Minute)
	e.signalAt(3*time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "done"})
	s := e.start()
	var reminders int
	for _, n := range e.notified {
		if strings.Contains(n, "/escalation/") {
			t.Errorf("escalated after acknowledge: %v", e.notified)
		}
		if strings.Contains(n, "/reminder/") {
			reminders++
		}
	}
	if reminders != 2 {
		t.Errorf("%d reminders, want one per stage (2): %v", reminders, e.notified)
	}
	if second == nil || !strings.Contains(second.Error(), "already acknowledged by olga") {
		t.Errorf("second acknowledgement: %v, want refused", second)
	}
	if !s.Acknowledged || s.Assignee != "olga" || s.Decision.User != "policy:timeout" || s.Status != incident.StatusResolved {
		t.Errorf("ack %v assignee %q decision %+v status %s", s.Acknowledged, s.Assignee, s.Decision, s.Status)
	}
	// 30 s collecting + three stages of 30 min, as without acknowledging.
	if got := s.Decision.At.Sub(s.OpenedAt); got != 30*time.Second+90*time.Minute {
		t.Errorf("default applied after %s, want 1h30m30s", got)
	}
	hasEvents(t, s, "approval-requested", "acknowledged", "reminded", "reminded", "approved", "resolved")
}

func TestIncidentSnoozeRevalidates(t *testing.T) {
	e := newIncidentEnv(t, 0.6, 0.95)
	e.signalAt(5*time.Minute, SignalDecision, incident.Decision{Action: incident.Snooze, User: "olga", SnoozeFor: incident.Duration(time.Hour)})
	e.signalAt(30*time.Minute, SignalAnomalies, []anomaly.Anomaly{anomalyAt("a9", "torque", anomaly.Critical, time.Unix(1800, 0))})
	e.signalAt(3*time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "done"})
	s := e.start()
	if e.validations != 2 || s.Round != 2 || s.Evidence.Anomalies != 2 {
		t.Errorf("validations %d round %d anomalies %d", e.validations, s.Round, s.Evidence.Anomalies)
	}
	if s.Decision.User != "policy:auto-approve" || s.Status != incident.StatusResolved {
		t.Errorf("decision %+v status %s", s.Decision, s.Status)
	}
	hasEvents(t, s, "approval-requested", "snoozed", "snooze-ended", "approved", "resolved")
}

func TestIncidentClearsAndReactivates(t *testing.T) {
	e := newIncidentEnv(t, 0.95)
	e.policy.ClearAfter = incident.Duration(15 * time.Minute)
	e.signalAt(time.Hour, SignalAnomalies, []anomaly.Anomaly{anomalyAt("a5", "torque", anomaly.Minor, time.Unix(3600, 0))})
	e.signalAt(3*time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "done"})
	s := e.start()
	hasEvents(t, s, "work-order-scheduled", "cleared", "reactivated", "cleared", "resolved")
}

func TestIncidentWorkOrderSignalsBackToBack(t *testing.T) {
	e := newIncidentEnv(t, 0.95)
	// Both arrive while the workflow is busy recording the first.
	e.signalAt(time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "in_progress"})
	e.signalAt(time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "done"})
	s := e.start()
	if s.Status != incident.StatusResolved {
		t.Fatalf("status %s after in_progress and done back to back", s.Status)
	}
	if got := s.ClosedAt.Sub(s.OpenedAt); got > 2*time.Hour {
		t.Errorf("resolved only after %s", got)
	}
}

// TestIncidentLogsEventsArrivingDuringRecord: a work-order signal handled
// while the Record activity is in flight still reaches the maintenance log.
func TestIncidentLogsEventsArrivingDuringRecord(t *testing.T) {
	e := newIncidentEnv(t, 0.95)
	e.recordTakes = time.Minute
	e.signalAt(time.Hour, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "in_progress", Actor: "key:operator"})
	// Arrives while the in_progress record is being written.
	e.signalAt(time.Hour+30*time.Second, SignalWorkOrder, WorkOrderUpdate{WorkOrderID: "wo-1", Status: "done", Actor: "key:operator"})
	s := e.start()
	if s.Status != incident.StatusResolved {
		t.Fatalf("status %s", s.Status)
	}
}

// loggedAll checks that every event in the history was written to the
// maintenance log exactly once, with increasing sequence numbers; start
// calls it for every test.
func (e *incidentEnv) loggedAll(s *IncidentState) {
	e.t.Helper()
	var logged []string
	var last int
	for _, r := range e.records {
		for _, l := range r.Log {
			if l.Seq <= last {
				e.t.Errorf("log seq %d after %d", l.Seq, last)
			}
			last = l.Seq
			logged = append(logged, l.Event)
		}
	}
	if got, want := strings.Join(logged, " "), strings.Join(events(s), " "); got != want {
		e.t.Errorf("maintenance log\n got %s\nwant %s", got, want)
	}
}

func TestIncidentPollsWorkOrderWhenSignalIsLost(t *testing.T) {
	e := newIncidentEnv(t, 0.95)
	e.policy.ClearAfter = incident.Duration(15 * time.Minute)
	// No signal ever comes; the database says done after two hours.
	e.RegisterDelayedCallback(func() {
		e.mu.Lock()
		e.woStatus = "done"
		e.mu.Unlock()
	}, 2*time.Hour)
	s := e.start()
	if s.Status != incident.StatusResolved {
		t.Fatalf("status %s", s.Status)
	}
	hasEvents(t, s, "work-order-scheduled", "cleared", "work-order-done", "resolved")
}

func TestTrimHistory(t *testing.T) {
	var h []incident.Event
	for i := range 500 {
		h = append(h, incident.Event{Event: fmt.Sprint(i)})
	}
	got := trimHistory(h)
	if len(got) != 201 || got[0].Event != "0" || got[1].Event != "300" || got[200].Event != "499" {
		t.Errorf("trimmed to %d: first %s, second %s", len(got), got[0].Event, got[1].Event)
	}
	if len(trimHistory(h[:10])) != 10 {
		t.Error("short history trimmed")
	}
}
