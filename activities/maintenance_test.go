package activities_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/devsink"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// maintenanceEnv is a tenant with one asset and one technician on office
// hours (Monday to Friday, 08:00–16:00 UTC), and the Maintenance activities.
func maintenanceEnv(t *testing.T) (*store.DB, *testsuite.TestActivityEnvironment, *activities.Maintenance, maintenance.Technician) {
	t.Helper()
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "demo")
	if _, err := db.CreateAsset(ctx, "demo", store.Asset{ID: "mill-01", Type: "mill"}); err != nil {
		t.Fatal(err)
	}
	var week schedule.Week
	if err := json.Unmarshal([]byte(`{"mon":[["08:00","16:00"]],"tue":[["08:00","16:00"]],"wed":[["08:00","16:00"]],"thu":[["08:00","16:00"]],"fri":[["08:00","16:00"]]}`), &week); err != nil {
		t.Fatal(err)
	}
	tech, err := (&maintenance.Store{DB: db}).CreateTechnician(ctx, "demo", maintenance.Technician{Name: "Ada", TimeZone: "UTC", Shifts: week, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	a := &activities.Maintenance{DB: db, Store: &maintenance.Store{DB: db}}
	return db, quietEnv(a), a, tech
}

func scheduleWorkOrder(t *testing.T, env *testsuite.TestActivityEnvironment, a *activities.Maintenance, in activities.ScheduleInput) activities.WorkOrder {
	t.Helper()
	return execute[activities.WorkOrder](t, env, a.ScheduleWorkOrder, in)
}

// TestScheduleWorkOrderDeadlineLeavesTheRepair: whatever the priority, a
// deadline sooner than the repair takes (120 minutes by default) moves to
// now + 120 minutes.
func TestScheduleWorkOrderDeadlineLeavesTheRepair(t *testing.T) {
	_, env, a, _ := maintenanceEnv(t)
	now := time.Date(2030, 6, 3, 8, 0, 0, 0, time.UTC) // a Monday
	for _, p := range workorder.Priorities {
		wo := scheduleWorkOrder(t, env, a, activities.ScheduleInput{TenantID: "demo", AssetID: "mill-01", IncidentID: "inc-" + string(p),
			Title: "Repair", Priority: p, Deadline: now.Add(time.Hour), Now: now})
		if wo.Deadline.Before(now.Add(120 * time.Minute)) {
			t.Errorf("%s: deadline %s, want at least now + 120 min", p, wo.Deadline)
		}
	}
}

// TestScheduleWorkOrderPreempts: the demo's case on the only technician. A
// medium preventive job due in 12 h is booked from now; the critical
// incident's work order takes its slot, meets its deadline and the
// preventive job is booked after it. A retried activity returns the same
// work order and moves nothing.
func TestScheduleWorkOrderPreempts(t *testing.T) {
	_, env, a, tech := maintenanceEnv(t)
	ctx := context.Background()
	now := time.Date(2030, 6, 3, 8, 0, 0, 0, time.UTC)
	s, e, due := now, now.Add(2*time.Hour), now.Add(12*time.Hour)
	lube, err := a.Store.CreateWorkOrder(ctx, "demo", maintenance.WorkOrder{AssetID: "mill-01", Title: "Lubricate", Priority: workorder.Medium,
		EstimatedMinutes: 120, TechnicianID: tech.ID, ScheduledStart: &s, ScheduledEnd: &e, Deadline: &due})
	if err != nil {
		t.Fatal(err)
	}
	in := activities.ScheduleInput{TenantID: "demo", AssetID: "mill-01", IncidentID: "inc-1", Title: "Repair spindle",
		Priority: "critical", Deadline: now.Add(2 * time.Hour), Now: now}
	wo := scheduleWorkOrder(t, env, a, in)
	if !wo.Created || wo.Start == nil || !wo.Start.Equal(now) || wo.Late || !slices.Equal(wo.Displaced, []string{lube.ID}) {
		t.Fatalf("critical work order %+v: want it at 08:00, on time, ahead of the preventive job", wo)
	}
	again := scheduleWorkOrder(t, env, a, in)
	if again.Created || again.ID != wo.ID || !again.Start.Equal(*wo.Start) {
		t.Errorf("retry = %+v, want the first work order back", again)
	}
	l, err := a.Store.GetWorkOrder(ctx, "demo", lube.ID)
	if err != nil || l.ScheduledStart == nil || !l.ScheduledStart.Equal(now.Add(2*time.Hour)) || l.Late {
		t.Errorf("preventive job after the critical one: %v late=%v (%v)", l.ScheduledStart, l.Late, err)
	}
	if events, _ := a.Store.WorkOrderEvents(ctx, "demo", lube.ID); len(events) != 1 {
		t.Errorf("%d events on the displaced job, want 1", len(events))
	}
}

// TestCriticalJobPreemptsPreventive: on the only technician, Ada, the
// preventive schedule's due lubrication is booked from 08:00. A critical
// incident's work order due by 10:00 takes that slot (the preventive job is
// booked again after it), and the activity lists the displacement with
// Ada's email address — also on a retry, which moves nothing. Ada is then
// emailed (EmailPerson, through a real SMTP sink); a second email to her
// for the same displacement has the same Message-ID.
func TestCriticalJobPreemptsPreventive(t *testing.T) {
	_, env, a, tech := maintenanceEnv(t)
	ctx := context.Background()
	now := time.Date(2030, 6, 3, 8, 0, 0, 0, time.UTC) // a Monday
	tech.Email = "ada@plant.example"
	if _, err := a.Store.UpdateTechnician(ctx, "demo", tech); err != nil {
		t.Fatal(err)
	}
	days, done := 7, now.AddDate(0, 0, -8)
	ps, err := a.Store.CreatePreventiveSchedule(ctx, "demo", maintenance.PreventiveSchedule{AssetID: "mill-01", Title: "Lubricate spindle",
		Priority: workorder.Medium, EstimatedMinutes: 120, Kind: maintenance.PreventiveCalendar, IntervalDays: &days, LastDoneAt: &done, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	due, err := a.Store.DuePreventiveSchedules(ctx, "demo", now, 0)
	if err != nil || len(due) != 1 {
		t.Fatalf("due = %+v, %v", due, err)
	}
	pm := execute[activities.WorkOrder](t, env, a.RaisePreventive, activities.RaisePreventiveInput{Due: due[0], Now: now})
	if pm.Start == nil || !pm.Start.Equal(now) {
		t.Fatalf("preventive work order %+v, want Ada from 08:00", pm)
	}

	in := activities.ScheduleInput{TenantID: "demo", AssetID: "mill-01", IncidentID: "inc-1", Title: "Repair spindle",
		Priority: workorder.Critical, Deadline: now.Add(2 * time.Hour), Now: now}
	wo := scheduleWorkOrder(t, env, a, in)
	if !wo.Created || wo.TechnicianID != tech.ID || !wo.Start.Equal(now) || wo.Late {
		t.Fatalf("critical work order %+v: want Ada from 08:00, on time", wo)
	}
	check := func(wo activities.WorkOrder) {
		t.Helper()
		if len(wo.Displacements) != 1 {
			t.Fatalf("displacements %+v, want the preventive job", wo.Displacements)
		}
		d := wo.Displacements[0]
		if d.WorkOrderID != pm.ID || d.Title != ps.Title || d.TechnicianName != "Ada" || d.TechnicianEmail != tech.Email ||
			d.Before == nil || !d.Before.Start.Equal(now) || d.After == nil || d.After.Start.Before(*wo.End) {
			t.Errorf("displacement %+v (before %+v, after %+v)", d, d.Before, d.After)
		}
	}
	check(wo)
	again := scheduleWorkOrder(t, env, a, in)
	if again.Created || again.ID != wo.ID {
		t.Fatalf("retry = %+v", again)
	}
	check(again)
	if got, _ := a.Store.GetWorkOrder(ctx, "demo", pm.ID); got.ScheduledStart == nil || got.ScheduledStart.Before(*wo.End) || got.Status != workorder.Scheduled {
		t.Errorf("preventive job now %+v", got)
	}

	sink, err := devsink.Start(devsink.Options{SMTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	n := &activities.Notifications{Notifier: notify.New(nil, notify.Config{SMTP: notify.SMTPConfig{Addr: sink.SMTPAddr(), From: "smartmaint@localhost"}}, nil)}
	env.RegisterActivity(n)
	mail := activities.EmailInput{TenantID: "demo", Key: "inc-1/work-order-scheduled/displaced/" + pm.ID, To: tech.Email, Severity: "critical",
		Subject: "work order moved", Text: wo.Displacements[0].Message, IncidentID: "inc-1", WorkOrderID: pm.ID}
	for range 2 {
		if res := execute[activities.EmailResult](t, env, n.EmailPerson, mail); !res.Sent {
			t.Fatalf("email: %+v", res)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	got, err := sink.Wait(wctx, func(es []devsink.Entry) bool { return len(es) == 2 })
	if err != nil {
		t.Fatalf("sink got %+v: %v", got, err)
	}
	if !slices.Equal(got[0].To, []string{tech.Email}) || got[0].DeliveryID == "" || got[0].DeliveryID != got[1].DeliveryID ||
		!strings.Contains(got[0].Text, "displaced from 2030-06-03T08:00:00Z") {
		t.Errorf("emails %+v", got)
	}
}
