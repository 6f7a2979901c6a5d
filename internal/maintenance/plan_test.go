package maintenance_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

func TestPlanWorkOrder(t *testing.T) {
	db, _ := testenv.DB(t)
	st := &maintenance.Store{DB: db}
	ctx := context.Background()
	mntAsset(t, db, "acme", "pump-1")
	ada := mntTechnician(t, st, "acme", "Ada", "mech")
	now := mntMonday(t).Add(7 * time.Hour)
	deadline := mntMonday(t).Add(12 * time.Hour)
	job := maintenance.WorkOrder{AssetID: "pump-1", Title: "Realign coupling", RequiredSkills: []string{"mech"}, EstimatedMinutes: 180,
		Priority: workorder.Critical, Deadline: &deadline}

	first, err := st.PlanWorkOrder(ctx, "acme", job, now, schedule.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Created || first.Unassigned != "" || first.WorkOrder.TechnicianID != ada.ID ||
		!first.WorkOrder.ScheduledStart.Equal(mntMonday(t).Add(8*time.Hour)) || first.WorkOrder.Late {
		t.Fatalf("first = %+v", first)
	}
	// The next one queues behind it and misses the noon deadline.
	second, err := st.PlanWorkOrder(ctx, "acme", job, now, schedule.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !second.WorkOrder.ScheduledStart.Equal(mntMonday(t).Add(11*time.Hour)) || !second.WorkOrder.Late {
		t.Errorf("second = %+v, want 11:00 and late", second.WorkOrder)
	}

	// An incident's work order is planned once.
	job.IncidentID = "inc-1"
	inc, err := st.PlanWorkOrder(ctx, "acme", job, now, schedule.Options{})
	if err != nil || !inc.Created {
		t.Fatalf("incident = %+v, %v", inc, err)
	}
	again, err := st.PlanWorkOrder(ctx, "acme", job, now.Add(time.Hour), schedule.Options{})
	if err != nil || again.Created || again.WorkOrder.ID != inc.WorkOrder.ID || !again.WorkOrder.ScheduledStart.Equal(*inc.WorkOrder.ScheduledStart) {
		t.Errorf("retried incident = %+v, %v; want the first one back", again, err)
	}

	// Nobody with the skill: created, unassigned, with the reason.
	job.IncidentID, job.RequiredSkills = "inc-2", []string{"hydraulics"}
	none, err := st.PlanWorkOrder(ctx, "acme", job, now, schedule.Options{})
	if err != nil || !none.Created || none.WorkOrder.TechnicianID != "" || none.Unassigned == "" {
		t.Errorf("unqualified = %+v, %v", none, err)
	}
}

func TestPlanWorkOrderConcurrently(t *testing.T) {
	db, _ := testenv.DB(t)
	st := &maintenance.Store{DB: db}
	ctx := context.Background()
	mntAsset(t, db, "acme", "pump-1")
	mntTechnician(t, st, "acme", "Ada", "mech")
	now := mntMonday(t)
	const planners = 4
	var wg sync.WaitGroup
	errs := make([]error, planners)
	for i := range planners {
		wg.Go(func() {
			_, errs[i] = st.PlanWorkOrder(ctx, "acme", maintenance.WorkOrder{AssetID: "pump-1", Title: fmt.Sprint("job ", i),
				RequiredSkills: []string{"mech"}, EstimatedMinutes: 60}, now, schedule.Options{})
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
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
	db, _ := testenv.DB(t)
	st := &maintenance.Store{DB: db}
	ctx := context.Background()
	mntAsset(t, db, "acme", "pump-1")
	ada := mntTechnician(t, st, "acme", "Ada", "mech")
	mon := mntMonday(t)
	tue10, tue11 := mon.Add(34*time.Hour), mon.Add(35*time.Hour)
	w, err := st.CreateWorkOrder(ctx, "acme", maintenance.WorkOrder{AssetID: "pump-1", Title: "Fix", RequiredSkills: []string{"mech"},
		EstimatedMinutes: 60, TechnicianID: ada.ID, ScheduledStart: &tue10, ScheduledEnd: &tue11})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.AutoAssignWorkOrder(ctx, "acme", w.ID, mon.Add(7*time.Hour), schedule.Options{})
	if err != nil || got.TechnicianID != ada.ID || !got.ScheduledStart.Equal(mon.Add(8*time.Hour)) {
		t.Fatalf("auto-assign = %+v, %v; want Monday 08:00", got, err)
	}
	// Its own old slot does not block it: from Tuesday 10:00 it stays put.
	got, err = st.AutoAssignWorkOrder(ctx, "acme", w.ID, mon.Add(8*time.Hour), schedule.Options{})
	if err != nil || !got.ScheduledStart.Equal(mon.Add(8*time.Hour)) {
		t.Errorf("re-assign onto its own slot = %+v, %v", got.ScheduledStart, err)
	}
	hyd, err := st.CreateWorkOrder(ctx, "acme", maintenance.WorkOrder{AssetID: "pump-1", Title: "Hydraulics", RequiredSkills: []string{"hyd"}, EstimatedMinutes: 60})
	if err != nil {
		t.Fatal(err)
	}
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
	db, _ := testenv.DB(t)
	st := &maintenance.Store{DB: db}
	ctx := context.Background()
	mntAsset(t, db, "acme", "pump-1")
	ada := mntTechnician(t, st, "acme", "Ada", "mech")
	mon := mntMonday(t)
	now := mon.Add(7 * time.Hour)
	create := func(title string, p workorder.Priority, minutes int, deadline *time.Time, from, to time.Duration) maintenance.WorkOrder {
		t.Helper()
		w := maintenance.WorkOrder{AssetID: "pump-1", Title: title, Priority: p, RequiredSkills: []string{"mech"}, EstimatedMinutes: minutes, Deadline: deadline}
		if to > from {
			s, e := mon.Add(from), mon.Add(to)
			w.TechnicianID, w.ScheduledStart, w.ScheduledEnd = ada.ID, &s, &e
		}
		out, err := st.CreateWorkOrder(ctx, "acme", w)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	friday, noon := mon.Add(4*24*time.Hour+16*time.Hour), mon.Add(12*time.Hour)
	// Booked in the wrong order: the critical job finishes 4 h late.
	low := create("Repaint guard", workorder.Low, 240, &friday, 8*time.Hour, 12*time.Hour)
	crit := create("Replace seal", workorder.Critical, 240, &noon, 12*time.Hour, 16*time.Hour)
	backlog := create("Tighten bolts", workorder.Medium, 60, nil, 0, 0)

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
	db, _ := testenv.DB(b)
	st := &maintenance.Store{DB: db}
	ctx := context.Background()
	mntAsset(b, db, "acme", "pump-1")
	mon := mntMonday(b)
	for i := range 50 {
		tech := mntTechnician(b, st, "acme", fmt.Sprintf("tech %02d", i), "mech")
		for day := range 14 {
			if d := mon.AddDate(0, 0, day).Weekday(); d == time.Saturday || d == time.Sunday {
				continue
			}
			for slot := range 3 {
				s := mon.AddDate(0, 0, day).Add(time.Duration(8+2*slot+i%2) * time.Hour)
				e := s.Add(90 * time.Minute)
				if _, err := st.CreateWorkOrder(ctx, "acme", maintenance.WorkOrder{AssetID: "pump-1", Title: "booked", EstimatedMinutes: 90,
					TechnicianID: tech.ID, ScheduledStart: &s, ScheduledEnd: &e}); err != nil {
					b.Fatal(err)
				}
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
