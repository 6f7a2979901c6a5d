package maintenance_test

import (
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/smtptest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// TestTechniciansToldOnceEach books a work order on Ada, moves it to Bob,
// to another slot of Bob's and cancels it, repeating each call, with the
// SMTP relay down for the first sweep: every technician gets each notice
// once by email and the tenant's channel once per notice, after the retry.
func TestTechniciansToldOnceEach(t *testing.T) {
	f := newFixture(t, "mill-1")
	ada, bob := f.technician("Ada", "mech"), f.technician("Bob", "mech")
	for _, tech := range []*maintenance.Technician{&ada, &bob} {
		tech.Email = strings.ToLower(tech.Name) + "@example.com"
		var err error
		if *tech, err = f.st.UpdateTechnician(f.ctx, "acme", *tech); err != nil {
			t.Fatal(err)
		}
	}
	sink := smtptest.NewServer(t)
	if _, err := f.db.CreateChannel(f.ctx, "acme", store.Channel{Name: "ops", Kind: "email", Target: "ops@example.com",
		Enabled: true, MinSeverity: string(notify.SeverityInfo)}); err != nil {
		t.Fatal(err)
	}
	down, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	downAddr := down.Addr().String()
	down.Close() // nothing listens there: sends fail transiently
	notifier := func(addr string) *notify.Notifier {
		return notify.New(f.db, notify.Config{SMTP: notify.SMTPConfig{Addr: addr, From: "smartmaint@localhost"},
			PublicURL: "http://smartmaint.test"}, nil)
	}
	sender := &maintenance.NoticeSender{Store: f.st, Notifier: notifier(downAddr), Backoff: time.Hour}

	deadline := f.mon.Add(20 * time.Hour)
	w := f.job("Lubricate", workorder.High, 120, deadline)
	w = f.book(w, ada, 8*time.Hour, 10*time.Hour)
	for range 2 { // the same call twice: one change
		if _, err := f.st.AssignWorkOrder(f.ctx, "acme", w.ID, bob.ID, f.mon.Add(8*time.Hour), f.mon.Add(10*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, err := f.st.AssignWorkOrder(f.ctx, "acme", w.ID, bob.ID, f.mon.Add(13*time.Hour), f.mon.Add(15*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if _, _, err := f.st.UpdateWorkOrderStatus(f.ctx, "acme", w.ID, workorder.Cancelled, f.mon); err != nil {
			t.Fatal(err)
		}
	}

	now := time.Now()
	if n, err := sender.SendPending(f.ctx, now); err != nil || n != 0 {
		t.Fatalf("sweep with the relay down: %d sent, %v", n, err)
	}
	sender.Notifier = notifier(sink.Addr)
	if n, err := sender.SendPending(f.ctx, now.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("sweep within the backoff: %d sent, %v", n, err)
	}
	if n, err := sender.SendPending(f.ctx, now.Add(2*time.Hour)); err != nil || n != 5 {
		t.Fatalf("sweep after the backoff: %d sent, %v; want 5", n, err)
	}
	if n, err := sender.SendPending(f.ctx, now.Add(4*time.Hour)); err != nil || n != 0 {
		t.Fatalf("sweep again: %d sent, %v", n, err)
	}

	msgs := sink.Wait(10, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	msgs = sink.Messages()
	got := map[string][]string{}
	for _, m := range msgs {
		subject := m.Header.Get("Subject")
		for _, to := range m.To {
			got[to] = append(got[to], subject)
		}
		if body := string(m.Body); !strings.Contains(body, "http://smartmaint.test") || !strings.Contains(body, "Priority: high") ||
			!strings.Contains(body, "Deadline: ") {
			t.Errorf("%q lacks the link, priority or deadline:\n%s", subject, body)
		}
	}
	want := map[string][]string{
		"ada@example.com": {"assigned to you", "taken off your schedule"},
		"bob@example.com": {"moved to a new slot of yours", "moved to a new slot of yours", "cancelled"},
		"ops@example.com": {"assigned to you", "moved to a new slot of yours", "taken off your schedule", "moved to a new slot of yours", "cancelled"},
	}
	for to, whats := range want {
		subjects := got[to]
		if len(subjects) != len(whats) {
			t.Errorf("%s got %d messages %q, want %d", to, len(subjects), subjects, len(whats))
			continue
		}
		for _, what := range whats {
			i := slices.IndexFunc(subjects, func(s string) bool { return strings.Contains(s, what) })
			if i < 0 {
				t.Errorf("%s: no %q among %q", to, what, subjects)
				continue
			}
			subjects = slices.Delete(subjects, i, i+1)
		}
	}
	if len(msgs) != 10 {
		t.Errorf("%d messages, want 10", len(msgs))
	}
}

// TestPlannersWriteNoticesOnce: the incident's planning (retried), an
// auto-assignment (repeated) and a re-plan each leave one notice per
// technician and change; a displaced technician who keeps the work at a
// later slot is told by the incident (its displaced notice), not here.
func TestPlannersWriteNoticesOnce(t *testing.T) {
	f := newFixture(t, "mill-1")
	ada := f.technician("Ada", "mech")
	f.technician("Bob", "elec")
	now := f.mon.Add(8 * time.Hour)
	pending := func() []string {
		t.Helper()
		ps, err := f.st.PendingNotices(f.ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.WorkOrderID+" "+p.Notice.Notice+" "+p.Notice.TechnicianName)
		}
		return out
	}
	lube := f.book(f.job("Lubricate", workorder.Medium, 0, now.Add(12*time.Hour)), ada, 8*time.Hour, 10*time.Hour)
	critical := f.job("Repair spindle", workorder.Critical, 120, now.Add(2*time.Hour))
	critical.IncidentID = "inc-1"
	var crit maintenance.WorkOrder
	for i := range 2 { // a retried activity
		p, err := f.plan(critical, now.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		crit = p.WorkOrder
	}
	want := []string{lube.ID + " assigned Ada", crit.ID + " assigned Ada"}
	if got := pending(); !slices.Equal(got, want) {
		t.Fatalf("after planning: %q, want %q", got, want)
	}

	inspect := f.create(f.job("Inspect", workorder.Low, 60, f.mon.Add(5*24*time.Hour)))
	for range 2 {
		if _, err := f.st.AutoAssignWorkOrder(f.ctx, "acme", inspect.ID, now, schedule.Options{}); err != nil {
			t.Fatal(err)
		}
	}
	want = append(want, inspect.ID+" assigned Ada")
	if got := pending(); !slices.Equal(got, want) {
		t.Fatalf("after auto-assigning: %q, want %q", got, want)
	}

	// Put off to Friday by hand: the re-plan brings it forward again.
	friday := f.mon.Add(4*24*time.Hour + 8*time.Hour)
	if _, err := f.st.AssignWorkOrder(f.ctx, "acme", inspect.ID, ada.ID, friday, friday.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	want = append(want, inspect.ID+" reassigned Ada")
	r, err := f.st.ReplanWorkOrders(f.ctx, "acme", now, schedule.Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Applied || len(r.Changes) == 0 {
		t.Fatalf("re-plan %+v, want it to move Friday's inspection", r)
	}
	for _, c := range r.Changes {
		want = append(want, c.WorkOrderID+" reassigned Ada")
	}
	if got := pending(); !slices.Equal(got, want) {
		t.Fatalf("after re-planning (%d changes, applied %v): %q, want %q", len(r.Changes), r.Applied, got, want)
	}
}

// TestDisplacementWithoutIncident: work that is not an incident's has no
// workflow to tell the technician it displaced, so the outbox does.
func TestDisplacementWithoutIncident(t *testing.T) {
	f := newFixture(t, "mill-1")
	ada := f.technician("Ada", "mech")
	now := f.mon.Add(8 * time.Hour)
	lube := f.book(f.job("Lubricate", workorder.Medium, 0, now.Add(12*time.Hour)), ada, 8*time.Hour, 10*time.Hour)
	p, err := f.plan(f.job("Replace belt", workorder.Critical, 120, now.Add(2*time.Hour)), now)
	if err != nil || len(p.Displaced) != 1 {
		t.Fatalf("plan = %+v, %v; want it to displace the lubrication", p, err)
	}
	ps, err := f.st.PendingNotices(f.ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range ps {
		got = append(got, n.WorkOrderID+" "+n.Notice.Notice)
	}
	want := []string{lube.ID + " assigned", lube.ID + " reassigned", p.WorkOrder.ID + " assigned"}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("notices %q, want %q", got, want)
	}
}
