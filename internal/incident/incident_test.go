package incident_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestPredicatesMatchTheirSQL checks that every SQL fragment answers as its
// Go predicate for every status and resolution (and none), on PostgreSQL.
func TestPredicatesMatchTheirSQL(t *testing.T) {
	conn, err := pgx.Connect(context.Background(), testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	resolutions := append([]incident.Resolution{""}, incident.Resolutions...)
	tests := []struct {
		name string
		sql  string
		is   func(incident.Status, incident.Resolution) bool
	}{
		{"Approved", incident.ApprovedSQL("i."), incident.Approved},
		{"RealFault", incident.RealFaultSQL("i."), incident.RealFault},
		{"FalseAlarm", incident.FalseAlarmSQL("i."), func(_ incident.Status, r incident.Resolution) bool { return r.FalseAlarm() }},
	}
	for _, tt := range tests {
		for _, s := range incident.Statuses {
			for _, r := range resolutions {
				var got bool
				q := fmt.Sprintf("SELECT %s FROM (SELECT $1::text AS status, $2::text AS resolution) i", tt.sql)
				if err := conn.QueryRow(context.Background(), q, string(s), string(r)).Scan(&got); err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if want := tt.is(s, r); got != want {
					t.Errorf("%s(%s, %q): SQL says %v, Go says %v", tt.name, s, r, got, want)
				}
			}
		}
	}
}

// TestApprovedAndRealFaultDiffer pins the one place the two definitions
// part: an incident closed because its work order was cancelled.
func TestApprovedAndRealFaultDiffer(t *testing.T) {
	for _, s := range incident.Statuses {
		for _, r := range append([]incident.Resolution{""}, incident.Resolutions...) {
			a, f := incident.Approved(s, r), incident.RealFault(s, r)
			differ := r == incident.ResolutionCancelled && !s.PastApproval()
			if (a != f) != differ {
				t.Errorf("(%s, %q): Approved %v, RealFault %v", s, r, a, f)
			}
		}
	}
}

func TestStatusPredicates(t *testing.T) {
	tests := []struct {
		s                    incident.Status
		valid, open, pastApp bool
	}{
		{incident.StatusCollecting, true, true, false},
		{incident.StatusValidating, true, true, false},
		{incident.StatusAwaiting, true, true, false},
		{incident.StatusSnoozed, true, true, false},
		{incident.StatusApproved, true, true, true},
		{incident.StatusScheduled, true, true, true},
		{incident.StatusInProgress, true, true, true},
		{incident.StatusResolved, true, false, false},
		{incident.StatusClosed, true, false, false},
		{"open", false, false, false},
		{"", false, false, false},
	}
	for _, tt := range tests {
		if tt.s.Valid() != tt.valid || tt.s.Open() != tt.open || tt.s.PastApproval() != tt.pastApp {
			t.Errorf("%q: valid %v open %v past approval %v", tt.s, tt.s.Valid(), tt.s.Open(), tt.s.PastApproval())
		}
	}
	if len(incident.Statuses) != 9 {
		t.Errorf("%d statuses", len(incident.Statuses))
	}
}

func TestDecisionProblems(t *testing.T) {
	tests := []struct {
		name string
		d    incident.Decision
		want string // the fields refused, comma-separated
	}{
		{"approve", incident.Decision{Action: incident.Approve, User: "a"}, ""},
		{"no user", incident.Decision{Action: incident.Approve}, "user"},
		{"unknown action", incident.Decision{Action: "maybe", User: "a"}, "action"},
		{"snooze without a duration", incident.Decision{Action: incident.Snooze, User: "a"}, "snooze_for"},
		{"snooze under a minute", incident.Decision{Action: incident.Snooze, User: "a", SnoozeFor: incident.Duration(59 * time.Second)}, "snooze_for"},
		{"snooze of a minute", incident.Decision{Action: incident.Snooze, User: "a", SnoozeFor: incident.Duration(time.Minute)}, ""},
		{"snooze of 30 days", incident.Decision{Action: incident.Snooze, User: "a", SnoozeFor: incident.Duration(incident.MaxSnooze)}, ""},
		{"snooze over 30 days", incident.Decision{Action: incident.Snooze, User: "a", SnoozeFor: incident.Duration(incident.MaxSnooze + time.Second)}, "snooze_for"},
		{"duration on an approval", incident.Decision{Action: incident.Approve, User: "a", SnoozeFor: incident.Duration(time.Hour)}, "snooze_for"},
		{"user at the limit in multibyte letters", incident.Decision{Action: incident.Reject, User: strings.Repeat("é", incident.MaxUser)}, ""},
		{"user one over", incident.Decision{Action: incident.Reject, User: strings.Repeat("u", incident.MaxUser+1)}, "user"},
		{"user on two lines", incident.Decision{Action: incident.Reject, User: "olga\nroot"}, "user"},
		{"comment one over", incident.Decision{Action: incident.Acknowledge, User: "a", Comment: strings.Repeat("c", incident.MaxComment+1)}, "comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range tt.d.Problems() {
				got = append(got, p.Field)
			}
			if strings.Join(got, ",") != tt.want {
				t.Errorf("problems %v, want %q", tt.d.Problems(), tt.want)
			}
			if (tt.d.Validate() == nil) != (tt.want == "") {
				t.Errorf("Validate = %v", tt.d.Validate())
			}
		})
	}
}

// TestDurationJSON: durations travel as text and read the integer
// nanoseconds of earlier versions' histories and summaries.
func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(incident.Policy{ApprovalTimeout: incident.Duration(90 * time.Minute)})
	if err != nil || !strings.Contains(string(b), `"approval_timeout":"1h30m0s"`) {
		t.Fatalf("marshal: %s, %v", b, err)
	}
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{`"2h"`, 2 * time.Hour, true},
		{`"1h30m0s"`, 90 * time.Minute, true},
		{`7200000000000`, 2 * time.Hour, true},
		{`0`, 0, true},
		{`"soon"`, 0, false},
		{`true`, 0, false},
		{`1.5`, 0, false},
	}
	for _, tt := range tests {
		var d incident.Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || tt.ok && time.Duration(d) != tt.want {
			t.Errorf("%s: %v, %v", tt.in, time.Duration(d), err)
		}
	}
	// A decision recorded by an earlier version, snooze in nanoseconds.
	var d incident.Decision
	if err := json.Unmarshal([]byte(`{"action":"snooze","user":"olga","snooze_for":3600000000000}`), &d); err != nil || time.Duration(d.SnoozeFor) != time.Hour {
		t.Errorf("old decision: %+v, %v", d, err)
	}
}

func TestWorkflowID(t *testing.T) {
	if got := incident.WorkflowID("acme", "mill-1"); got != "incident/acme/mill-1" {
		t.Errorf("WorkflowID = %q", got)
	}
}

// TestHeaderRoundTrip: a projection's header and the rest of it make the
// same projection again, so neither conversion drops a field.
func TestHeaderRoundTrip(t *testing.T) {
	closed := time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)
	wo := "wo-1"
	p := incident.Projection{
		TenantID: "acme", ID: "inc-1", AssetID: "mill-1", WorkflowID: "incident/acme/mill-1",
		Status: incident.StatusClosed, Resolution: incident.ResolutionCancelled, Severity: "major",
		Active: true, Acknowledged: true, Assignee: "olga", Confidence: 0.7, Anomalies: 4, WorkOrderID: &wo,
		Summary: json.RawMessage(`{"x":1}`), Seq: 9, OpenedAt: closed.Add(-time.Hour), UpdatedAt: closed.Add(-time.Minute), ClosedAt: &closed,
	}
	v := reflect.ValueOf(p)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("the fixture leaves %s zero: set it so the round trip checks it", v.Type().Field(i).Name)
		}
	}
	got := incident.ProjectionOf(p.TenantID, p.Header(), p.Anomalies, p.WorkOrderID, p.Summary, p.Seq)
	if !reflect.DeepEqual(got, p) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, p)
	}
}
