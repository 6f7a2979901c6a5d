package maintenance_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

func TestPlanWorkOrder(t *testing.T) {
	f := newFixture(t, "pump-1")
	mon := f.mon
	ada := f.technician("Ada", "mech")
	now := mon.Add(7 * time.Hour)
	job := f.job("Realign coupling", workorder.Critical, 180, mon.Add(12*time.Hour))

	first, err := f.plan(job, now)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Unassigned != "" || first.WorkOrder.TechnicianID != ada.ID ||
		!first.WorkOrder.ScheduledStart.Equal(mon.Add(8*time.Hour)) || first.WorkOrder.Late {
		t.Fatalf("first = %+v", first)
	}
	// The next one queues behind it and misses the noon deadline.
	second, err := f.plan(job, now)
	if err != nil {
		t.Fatal(err)
	}
	if !second.WorkOrder.ScheduledStart.Equal(mon.Add(11*time.Hour)) || !second.WorkOrder.Late {
		t.Errorf("second = %+v, want 11:00 and late", second.WorkOrder)
	}

	// An incident's work order is planned once.
	job.IncidentID = "inc-1"
	inc, err := f.plan(job, now)
	if err != nil || !inc.Created {
		t.Fatalf("incident = %+v, %v", inc, err)
	}
	again, err := f.plan(job, now.Add(time.Hour))
	if err != nil || again.Created || again.WorkOrder.ID != inc.WorkOrder.ID || !again.WorkOrder.ScheduledStart.Equal(*inc.WorkOrder.ScheduledStart) {
		t.Errorf("retried incident = %+v, %v; want the first one back", again, err)
	}

	// Nobody with the skill: created, unassigned, with the reason.
	job.IncidentID, job.RequiredSkills = "inc-2", []string{"hydraulics"}
	none, err := f.plan(job, now)
	if err != nil || !none.Created || none.WorkOrder.TechnicianID != "" || none.Unassigned == "" {
		t.Errorf("unqualified = %+v, %v", none, err)
	}
}

func TestPlanWorkOrderConcurrently(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx, now := f.st, f.ctx, f.mon
	f.technician("Ada", "mech")
	const planners = 4
	f.concurrently(planners, func(i int) error {
		_, err := f.plan(maintenance.WorkOrder{AssetID: "pump-1", Title: fmt.Sprint("job ", i),
			RequiredSkills: []string{"mech"}, EstimatedMinutes: 60}, now)
		return err
	})
	bookings, err := st.TechnicianBookings(ctx, "acme", now, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(bookings) != planners {
		t.Fatalf("%d bookings, want %d", len(bookings), planners)
	}
	for i, b := range bookings {
		if want := now.Add(time.Duration(8+i) * time.Hour); !b.Start.Equal(want) {
			t.Errorf("booking %d starts %s, want %s (back to back from 08:00)", i, b.Start, want)
		}
	}
}

func TestAutoAssignWorkOrder(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	ada := f.technician("Ada", "mech")
	// Booked Tuesday 10:00–11:00.
	w := f.book(maintenance.WorkOrder{Title: "Fix", RequiredSkills: []string{"mech"}}, ada, 34*time.Hour, 35*time.Hour)
	got, err := st.AutoAssignWorkOrder(ctx, "acme", w.ID, mon.Add(7*time.Hour), schedule.Options{})
	if err != nil || got.TechnicianID != ada.ID || !got.ScheduledStart.Equal(mon.Add(8*time.Hour)) {
		t.Fatalf("auto-assign = %+v, %v; want Monday 08:00", got, err)
	}
	// Its own old slot does not block it: from Tuesday 10:00 it stays put.
	got, err = st.AutoAssignWorkOrder(ctx, "acme", w.ID, mon.Add(8*time.Hour), schedule.Options{})
	if err != nil || !got.ScheduledStart.Equal(mon.Add(8*time.Hour)) {
		t.Errorf("re-assign onto its own slot = %+v, %v", got.ScheduledStart, err)
	}
	hyd := f.create(maintenance.WorkOrder{Title: "Hydraulics", RequiredSkills: []string{"hyd"}, EstimatedMinutes: 60})
	if _, err := st.AutoAssignWorkOrder(ctx, "acme", hyd.ID, mon, schedule.Options{}); !errors.Is(err, maintenance.ErrUnschedulable) || !errors.Is(err, store.ErrInvalid) {
		t.Errorf("nobody qualified: err = %v, want ErrUnschedulable", err)
	}
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", w.ID, workorder.InProgress, mon.Add(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AutoAssignWorkOrder(ctx, "acme", w.ID, mon, schedule.Options{}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("started work order: err = %v, want ErrConflict", err)
	}
}

func TestReplanWorkOrders(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	ada := f.technician("Ada", "mech")
	now := mon.Add(7 * time.Hour)
	friday, noon := mon.Add(4*24*time.Hour+16*time.Hour), mon.Add(12*time.Hour)
	// Booked in the wrong order: the critical job finishes 4 h late.
	low := f.book(f.job("Repaint guard", workorder.Low, 240, friday), ada, 8*time.Hour, 12*time.Hour)
	crit := f.book(f.job("Replace seal", workorder.Critical, 240, noon), ada, 12*time.Hour, 16*time.Hour)
	backlog := f.create(maintenance.WorkOrder{Title: "Tighten bolts", Priority: workorder.Medium, RequiredSkills: []string{"mech"}, EstimatedMinutes: 60})

	dry, err := st.ReplanWorkOrders(ctx, "acme", now, schedule.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Considered != 3 || dry.WeightedLatenessBefore != 32 || dry.WeightedLatenessAfter != 0 || dry.UnassignedBefore != 1 ||
		dry.UnassignedAfter != 0 || !dry.Better || dry.Applied || len(dry.Changes) != 3 {
		t.Fatalf("dry run = %+v", dry)
	}
	if w, _ := st.GetWorkOrder(ctx, "acme", crit.ID); !w.ScheduledStart.Equal(mon.Add(12 * time.Hour)) {
		t.Fatal("the dry run changed the work order")
	}

	applied, err := st.ReplanWorkOrders(ctx, "acme", now, schedule.Options{}, true)
	if err != nil || !applied.Applied {
		t.Fatalf("apply = %+v, %v", applied, err)
	}
	// All on time; the tie is broken by weighted completion, so the short
	// medium job goes before the long low-priority one.
	want := map[string]time.Time{crit.ID: mon.Add(8 * time.Hour), backlog.ID: mon.Add(12 * time.Hour), low.ID: mon.Add(32 * time.Hour)}
	for id, start := range want {
		w, err := st.GetWorkOrder(ctx, "acme", id)
		if err != nil || w.ScheduledStart == nil || !w.ScheduledStart.Equal(start) || w.TechnicianID != ada.ID || w.Late {
			t.Errorf("%s after the re-plan: %v %v late=%v, want %s", w.Title, w.ScheduledStart, w.TechnicianID, w.Late, start)
		}
	}
	again, err := st.ReplanWorkOrders(ctx, "acme", now, schedule.Options{}, true)
	if err != nil || again.Better || again.Applied || len(again.Changes) != 0 {
		t.Errorf("second re-plan = %+v, %v; want nothing to improve", again, err)
	}
}

// BenchmarkPlanWorkOrderInputs loads what planning one work order needs from
// PostgreSQL — 50 technicians and two weeks of their bookings (three a
// working day, 1,500 in all) — and places the job with schedule.Assign.
func BenchmarkPlanWorkOrderInputs(b *testing.B) {
	f := newFixture(b, "pump-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	for i := range 50 {
		tech := f.technician(fmt.Sprintf("tech %02d", i), "mech")
		for day := range 14 {
			if d := mon.AddDate(0, 0, day).Weekday(); d == time.Saturday || d == time.Sunday {
				continue
			}
			for slot := range 3 {
				from := time.Duration(24*day+8+2*slot+i%2) * time.Hour
				f.book(maintenance.WorkOrder{Title: "booked"}, tech, from, from+90*time.Minute)
			}
		}
	}
	deadline := mon.Add(3 * 24 * time.Hour)
	job := maintenance.WorkOrder{ID: "new", RequiredSkills: []string{"mech"}, EstimatedMinutes: 180, Priority: workorder.High, Deadline: &deadline}.Job(mon)
	b.ResetTimer()
	for b.Loop() {
		techs, err := st.SchedulingTechnicians(ctx, "acme", job.Skills, mon, deadline.Add(schedule.DefaultHorizon))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := schedule.Assign(job, techs, schedule.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPlanWorkOrderPreempts: a critical incident's work order that would
// queue behind a medium preventive job on the only technician takes that
// job's slot while the job has not started, and meets its deadline; the
// preventive job is booked again after it and its history says why. A
// retried plan changes nothing. Work in progress is never displaced.
func TestPlanWorkOrderPreempts(t *testing.T) {
	f := newFixture(t, "mill-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	ada := f.technician("Ada", "mech")
	now := mon.Add(8 * time.Hour)
	critical := func(incident string) maintenance.WorkOrder {
		w := f.job("Repair spindle", workorder.Critical, 120, now.Add(2*time.Hour))
		w.IncidentID = incident
		return w
	}

	// 08:00–10:00 lubrication (medium, due 12 h later), then the rest of the
	// morning taken by a low-priority job that has not started either.
	lube := f.book(f.job("Lubricate", workorder.Medium, 0, now.Add(12*time.Hour)), ada, 8*time.Hour, 10*time.Hour)
	paint := f.book(f.job("Repaint guard", workorder.Low, 0, mon.Add(5*24*time.Hour)), ada, 10*time.Hour, 12*time.Hour)

	first, err := f.plan(critical("inc-1"), now)
	if err != nil {
		t.Fatal(err)
	}
	crit := first.WorkOrder
	if !first.Created || crit.TechnicianID != ada.ID || !crit.ScheduledStart.Equal(now) || crit.Late {
		t.Fatalf("critical work order %+v, want Ada at 08:00 on time", crit)
	}
	moved, err := st.GetWorkOrder(ctx, "acme", lube.ID)
	if err != nil {
		t.Fatal(err)
	}
	if moved.TechnicianID != ada.ID || moved.ScheduledStart == nil || moved.ScheduledStart.Before(*crit.ScheduledEnd) || moved.Late {
		t.Errorf("displaced preventive job %v–%v late=%v; want after the critical job and on time", moved.ScheduledStart, moved.ScheduledEnd, moved.Late)
	}
	if p, _ := st.GetWorkOrder(ctx, "acme", paint.ID); !p.ScheduledStart.Equal(mon.Add(10 * time.Hour)) {
		t.Errorf("the low-priority job not in the way moved to %v", p.ScheduledStart)
	}
	events, err := st.WorkOrderEvents(ctx, "acme", lube.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Event != maintenance.EventDisplaced || events[0].Details["by_work_order_id"] != crit.ID || events[0].Details["after"] == nil {
		t.Errorf("events of the displaced job: %+v", events)
	}

	// The displacement, read back for telling Ada: the same on every call.
	for range 2 {
		ds, err := st.DisplacedBy(ctx, "acme", crit.ID)
		if err != nil || len(ds) != 1 {
			t.Fatalf("displaced by the critical job: %+v, %v", ds, err)
		}
		d := ds[0]
		if d.WorkOrderID != lube.ID || d.Title != "Lubricate" || d.Priority != workorder.Medium || d.TechnicianName != "Ada" ||
			d.Before == nil || !d.Before.Start.Equal(now) || d.After == nil || !d.After.Start.Equal(*moved.ScheduledStart) {
			t.Errorf("displacement %+v (before %+v, after %+v)", d, d.Before, d.After)
		}
	}
	if ds, err := st.DisplacedBy(ctx, "acme", lube.ID); err != nil || len(ds) != 0 {
		t.Errorf("displaced by the preventive job: %+v, %v", ds, err)
	}

	// A retried activity gets the same work order; nothing moves again.
	again, err := f.plan(critical("inc-1"), now.Add(time.Minute))
	if err != nil || again.Created || again.WorkOrder.ID != crit.ID {
		t.Fatalf("retry = %+v, %v; want the first work order back", again, err)
	}
	if events, _ := st.WorkOrderEvents(ctx, "acme", lube.ID); len(events) != 1 {
		t.Errorf("%d events after the retry, want 1", len(events))
	}
	open, err := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{IncidentID: "inc-1"}, store.Page{})
	if err != nil || len(open) != 1 {
		t.Errorf("%d work orders for the incident, %v", len(open), err)
	}

	// Work in progress stays: the next critical job queues behind it, late.
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", crit.ID, workorder.InProgress, now); err != nil {
		t.Fatal(err)
	}
	second, err := f.plan(critical("inc-2"), now)
	if err != nil {
		t.Fatal(err)
	}
	if w := second.WorkOrder; w.ScheduledStart.Before(*crit.ScheduledEnd) {
		t.Errorf("second critical job at %v overlaps the one in progress until %v", w.ScheduledStart, crit.ScheduledEnd)
	}
	if w, _ := st.GetWorkOrder(ctx, "acme", crit.ID); w.Status != workorder.InProgress || !w.ScheduledStart.Equal(*crit.ScheduledStart) {
		t.Errorf("the work in progress moved: %+v", w)
	}
}

// TestReplanMovesCriticalAhead is the demo's case: a medium preventive job
// was booked from now (its slot has begun, but nobody started it), and the
// critical job that arrived later queued behind it, late. The re-plan puts
// the critical job first.
func TestReplanMovesCriticalAhead(t *testing.T) {
	f := newFixture(t, "mill-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	ada := f.technician("Ada", "mech")
	now := mon.Add(8*time.Hour + 30*time.Minute)
	lube := f.book(f.job("Lubricate", workorder.Medium, 0, mon.Add(20*time.Hour)), ada, 8*time.Hour, 10*time.Hour)
	crit := f.book(f.job("Repair spindle", workorder.Critical, 0, now.Add(2*time.Hour)), ada, 10*time.Hour, 12*time.Hour)

	r, err := st.ReplanWorkOrders(ctx, "acme", now, schedule.Options{}, true)
	if err != nil {
		t.Fatal(err)
	}
	if r.Considered != 2 || !r.Better || !r.Applied {
		t.Fatalf("re-plan = %+v; want both considered and the better plan applied", r)
	}
	c, _ := st.GetWorkOrder(ctx, "acme", crit.ID)
	l, _ := st.GetWorkOrder(ctx, "acme", lube.ID)
	if !c.ScheduledStart.Equal(now) || c.Late || l.ScheduledStart.Before(*c.ScheduledEnd) || l.Late {
		t.Errorf("critical %v late=%v, preventive %v late=%v; want the critical job first, both on time", c.ScheduledStart, c.Late, l.ScheduledStart, l.Late)
	}
	if events, _ := st.WorkOrderEvents(ctx, "acme", lube.ID); len(events) != 1 || events[0].Event != maintenance.EventReplanned {
		t.Errorf("events of the moved preventive job: %+v", events)
	}
}

// TestPlanWorkOrderPreemptsConcurrently: critical work orders planned at
// once, two of them for the same incident, all want the slot of one medium
// job. Each incident gets one work order, the bookings never overlap and the
// displaced job keeps exactly one slot.
func TestPlanWorkOrderPreemptsConcurrently(t *testing.T) {
	f := newFixture(t, "mill-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	ada := f.technician("Ada", "mech")
	now := mon.Add(8 * time.Hour)
	lube := f.book(f.job("Lubricate", workorder.Medium, 0, now.Add(12*time.Hour)), ada, 8*time.Hour, 10*time.Hour)
	incidents := []string{"inc-a", "inc-a", "inc-b", "inc-c"}
	f.concurrently(len(incidents), func(i int) error {
		w := f.job("Repair "+incidents[i], workorder.Critical, 120, now.Add(2*time.Hour))
		w.IncidentID = incidents[i]
		_, err := f.plan(w, now)
		return err
	})
	all, err := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{}, store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 4 {
		t.Fatalf("%d work orders, want the preventive one and one per incident", len(all))
	}
	bookings, err := st.TechnicianBookings(ctx, "acme", now, now.Add(30*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(bookings) != 4 {
		t.Errorf("%d bookings, want 4: %+v", len(bookings), bookings)
	}
	for i := 1; i < len(bookings); i++ {
		if bookings[i].Start.Before(bookings[i-1].End) {
			t.Errorf("bookings %d and %d overlap", i-1, i)
		}
	}
	if w, _ := st.GetWorkOrder(ctx, "acme", lube.ID); w.TechnicianID == "" || w.ScheduledStart.Equal(now) {
		t.Errorf("the medium job was not moved out of the way: %v", w.ScheduledStart)
	}
}
