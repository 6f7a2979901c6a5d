package maintenance_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// mntShop is tenant acme with one asset and one technician, Ada (mech,
// office hours), seen from the Monday of mntMonday.
type mntShop struct {
	st    *maintenance.Store
	asset string
	ada   maintenance.Technician
	mon   time.Time
}

// newMntShop sets up a mntShop with asset in a fresh database.
func newMntShop(t *testing.T, asset string) mntShop {
	t.Helper()
	db, _ := testenv.DB(t)
	st := &maintenance.Store{DB: db}
	mntAsset(t, db, "acme", asset)
	return mntShop{st: st, asset: asset, ada: mntTechnician(t, st, "acme", "Ada", "mech"), mon: mntMonday(t)}
}

// book creates a work order on the shop's asset that needs mech, booked
// for Ada from mon+from to mon+to.
func (s mntShop) book(t *testing.T, title string, p workorder.Priority, from, to time.Duration, deadline time.Time) maintenance.WorkOrder {
	t.Helper()
	start, end := s.mon.Add(from), s.mon.Add(to)
	w, err := s.st.CreateWorkOrder(context.Background(), "acme", maintenance.WorkOrder{AssetID: s.asset, Title: title, Priority: p, RequiredSkills: []string{"mech"},
		EstimatedMinutes: int(end.Sub(start).Minutes()), TechnicianID: s.ada.ID, ScheduledStart: &start, ScheduledEnd: &end, Deadline: &deadline})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestPlanWorkOrderPreempts: a critical incident's work order that would
// queue behind a medium preventive job on the only technician takes that
// job's slot while the job has not started, and meets its deadline; the
// preventive job is booked again after it and its history says why. A
// retried plan changes nothing. Work in progress is never displaced.
func TestPlanWorkOrderPreempts(t *testing.T) {
	shop := newMntShop(t, "mill-1")
	st, ada, mon := shop.st, shop.ada, shop.mon
	ctx := context.Background()
	now := mon.Add(8 * time.Hour)
	critical := func(incident string) maintenance.WorkOrder {
		deadline := now.Add(2 * time.Hour)
		return maintenance.WorkOrder{AssetID: "mill-1", IncidentID: incident, Title: "Repair spindle", Priority: workorder.Critical,
			RequiredSkills: []string{"mech"}, EstimatedMinutes: 120, Deadline: &deadline}
	}

	// 08:00–10:00 lubrication (medium, due 12 h later), then the rest of the
	// morning taken by a low-priority job that has not started either.
	lube := shop.book(t, "Lubricate", workorder.Medium, 8*time.Hour, 10*time.Hour, now.Add(12*time.Hour))
	paint := shop.book(t, "Repaint guard", workorder.Low, 10*time.Hour, 12*time.Hour, mon.Add(5*24*time.Hour))

	first, err := st.PlanWorkOrder(ctx, "acme", critical("inc-1"), now, schedule.Options{})
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
	again, err := st.PlanWorkOrder(ctx, "acme", critical("inc-1"), now.Add(time.Minute), schedule.Options{})
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
	second, err := st.PlanWorkOrder(ctx, "acme", critical("inc-2"), now, schedule.Options{})
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
	shop := newMntShop(t, "mill-1")
	st, mon := shop.st, shop.mon
	ctx := context.Background()
	now := mon.Add(8*time.Hour + 30*time.Minute)
	lube := shop.book(t, "Lubricate", workorder.Medium, 8*time.Hour, 10*time.Hour, mon.Add(20*time.Hour))
	crit := shop.book(t, "Repair spindle", workorder.Critical, 10*time.Hour, 12*time.Hour, now.Add(2*time.Hour))

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
	shop := newMntShop(t, "mill-1")
	st, mon := shop.st, shop.mon
	ctx := context.Background()
	now := mon.Add(8 * time.Hour)
	lube := shop.book(t, "Lubricate", workorder.Medium, 8*time.Hour, 10*time.Hour, now.Add(12*time.Hour))
	incidents := []string{"inc-a", "inc-a", "inc-b", "inc-c"}
	errs := make([]error, len(incidents))
	var wg sync.WaitGroup
	for i, inc := range incidents {
		wg.Go(func() {
			deadline := now.Add(2 * time.Hour)
			_, errs[i] = st.PlanWorkOrder(ctx, "acme", maintenance.WorkOrder{AssetID: "mill-1", IncidentID: inc, Title: "Repair " + inc,
				Priority: workorder.Critical, RequiredSkills: []string{"mech"}, EstimatedMinutes: 120, Deadline: &deadline}, now, schedule.Options{})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
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
