package maintenance_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

func TestWorkOrderLifecycle(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx := f.st, f.ctx
	tech := f.technician("Ada", "mech")
	start := f.mon.Add(9 * time.Hour)
	deadline := start.Add(time.Hour)
	wo := f.book(maintenance.WorkOrder{
		Title: "Replace bearing", Description: "DE bearing is noisy", Priority: workorder.High,
		RequiredSkills: []string{"mech"}, EstimatedMinutes: 120, Deadline: &deadline, Late: true,
		Checklist: []maintenance.ChecklistItem{{Text: "Lock out"}, {Text: "Swap bearing"}},
		Parts:     []maintenance.Part{{PartNumber: "6205-2RS", Quantity: 2}},
	}, tech, 9*time.Hour, 11*time.Hour)
	if wo.Status != workorder.Scheduled || wo.TechnicianID != tech.ID || !wo.ScheduledStart.Equal(start) || !wo.Late ||
		len(wo.Checklist) != 2 || wo.Parts[0].PartNumber != "6205-2RS" || wo.IncidentID != "" || wo.SignOff != nil {
		t.Fatalf("created %+v", wo)
	}
	now := start

	// Forbidden transitions are conflicts that name the allowed ones.
	_, _, err := st.UpdateWorkOrderStatus(ctx, "acme", wo.ID, workorder.Done, now)
	var te *maintenance.TransitionError
	if !errors.As(err, &te) || !errors.Is(err, store.ErrConflict) || te.From != workorder.Scheduled {
		t.Fatalf("scheduled → done: err = %v, want a TransitionError", err)
	}
	if _, err := st.SignOffWorkOrder(ctx, "acme", wo.ID, maintenance.SignOff{By: "Sue"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("sign off before done: err = %v, want ErrConflict", err)
	}

	got, changed, err := st.UpdateWorkOrderStatus(ctx, "acme", wo.ID, workorder.InProgress, now)
	if err != nil || !changed || got.Status != workorder.InProgress || got.StartedAt == nil || !got.StartedAt.Equal(now) {
		t.Fatalf("→ in_progress = %+v, %v, %v", got, changed, err)
	}
	if _, changed, err := st.UpdateWorkOrderStatus(ctx, "acme", wo.ID, workorder.InProgress, now.Add(time.Minute)); err != nil || changed {
		t.Errorf("repeated → in_progress: changed %v, err %v; want a no-op", changed, err)
	}
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", wo.ID, workorder.Done, now); !errors.As(err, &te) || te.Reason == "" {
		t.Errorf("done with an open checklist: err = %v, want a TransitionError with a reason", err)
	}

	if _, err := st.UpdateChecklist(ctx, "acme", wo.ID, []maintenance.ChecklistUpdate{{Index: 2, Done: true}}, "ada", now); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("checklist index out of range: err = %v, want ErrInvalid", err)
	}
	got, err = st.UpdateChecklist(ctx, "acme", wo.ID, []maintenance.ChecklistUpdate{{Index: 0, Done: true}, {Index: 1, Done: true}}, "ada", now)
	if err != nil || !got.Checklist[0].Done || got.Checklist[1].DoneBy != "ada" || got.Checklist[1].DoneAt == nil {
		t.Fatalf("checklist = %+v, %v", got.Checklist, err)
	}
	got, err = st.UpdateChecklist(ctx, "acme", wo.ID, []maintenance.ChecklistUpdate{{Index: 1, Done: false}}, "ada", now)
	if err != nil || got.Checklist[1].Done || got.Checklist[1].DoneBy != "" || !got.Checklist[0].Done {
		t.Fatalf("uncheck = %+v, %v", got.Checklist, err)
	}
	if _, err := st.UpdateChecklist(ctx, "acme", wo.ID, []maintenance.ChecklistUpdate{{Index: 1, Done: true}}, "ada", now); err != nil {
		t.Fatal(err)
	}

	got, changed, err = st.UpdateWorkOrderStatus(ctx, "acme", wo.ID, workorder.Done, now.Add(time.Hour))
	if err != nil || !changed || got.CompletedAt == nil {
		t.Fatalf("→ done = %+v, %v", got, err)
	}
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", wo.ID, workorder.Cancelled, now); !errors.As(err, &te) || te.From != workorder.Done {
		t.Errorf("done → cancelled: err = %v, want a TransitionError", err)
	}
	if _, err := st.UpdateChecklist(ctx, "acme", wo.ID, []maintenance.ChecklistUpdate{{Index: 0, Done: false}}, "ada", now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("checklist after done: err = %v, want ErrConflict", err)
	}
	got, err = st.SignOffWorkOrder(ctx, "acme", wo.ID, maintenance.SignOff{By: "Sue", Note: "Vibration back to normal"})
	if err != nil || got.SignOff == nil || got.SignOff.By != "Sue" || got.SignOff.Note == "" || got.SignOff.At.IsZero() {
		t.Fatalf("sign off = %+v, %v", got.SignOff, err)
	}
	if _, err := st.SignOffWorkOrder(ctx, "acme", wo.ID, maintenance.SignOff{By: "Tom"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second sign off: err = %v, want ErrConflict", err)
	}
	if again, err := st.GetWorkOrder(ctx, "acme", wo.ID); err != nil || again.SignOff.By != "Sue" || again.Status != workorder.Done {
		t.Errorf("stored = %+v, %v", again, err)
	}

	// Missing, malformed or foreign ids are not found.
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", "nope", workorder.Done, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("malformed id: err = %v", err)
	}
	f.tenant("other")
	if _, err := st.GetWorkOrder(ctx, "other", wo.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other tenant: err = %v, want ErrNotFound", err)
	}
}

func TestWorkOrderCancelFreesTheSlot(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx := f.st, f.ctx
	tech := f.technician("Ada", "mech")
	first := f.book(maintenance.WorkOrder{Title: "A"}, tech, 9*time.Hour, 11*time.Hour)
	overlapStart := f.mon.Add(10 * time.Hour)
	overlapEnd := overlapStart.Add(time.Hour)
	second := maintenance.WorkOrder{AssetID: "pump-1", Title: "B", EstimatedMinutes: 60, TechnicianID: tech.ID, ScheduledStart: &overlapStart, ScheduledEnd: &overlapEnd}
	if _, err := st.CreateWorkOrder(ctx, "acme", second); !errors.Is(err, maintenance.ErrSlotTaken) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("double booking: err = %v, want ErrSlotTaken", err)
	}
	// Back to back is fine.
	f.book(maintenance.WorkOrder{Title: "C"}, tech, 11*time.Hour, 12*time.Hour)
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", first.ID, workorder.Cancelled, *first.ScheduledStart); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateWorkOrder(ctx, "acme", second); err != nil {
		t.Errorf("booking the cancelled slot: %v", err)
	}
	// Reassigning onto a taken slot is refused too.
	other := f.create(maintenance.WorkOrder{Title: "D", EstimatedMinutes: 60})
	if _, err := st.AssignWorkOrder(ctx, "acme", other.ID, tech.ID, overlapStart, overlapEnd); !errors.Is(err, maintenance.ErrSlotTaken) {
		t.Errorf("assign onto a taken slot: err = %v, want ErrSlotTaken", err)
	}
	free := f.mon.Add(13 * time.Hour)
	got, err := st.AssignWorkOrder(ctx, "acme", other.ID, tech.ID, free, free.Add(time.Hour))
	if err != nil || got.TechnicianID != tech.ID || !got.ScheduledStart.Equal(free) {
		t.Errorf("assign = %+v, %v", got, err)
	}
}

func TestCreateWorkOrderForIncidentIsIdempotent(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx := f.st, f.ctx
	wo := maintenance.WorkOrder{AssetID: "pump-1", IncidentID: "incident/acme/pump-1/1", Title: "Investigate", EstimatedMinutes: 30}

	const callers = 8
	ids := make([]string, callers)
	created := make([]bool, callers)
	f.concurrently(callers, func(i int) (err error) {
		var w maintenance.WorkOrder
		w, created[i], err = st.CreateWorkOrderForIncident(ctx, "acme", wo)
		ids[i] = w.ID
		return err
	})
	n := 0
	for i := range callers {
		if ids[i] != ids[0] {
			t.Errorf("caller %d got work order %s, caller 0 got %s", i, ids[i], ids[0])
		}
		if created[i] {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d callers created the work order, want exactly 1", n)
	}
	list, err := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{IncidentID: wo.IncidentID}, store.Page{})
	if err != nil || len(list) != 1 {
		t.Errorf("work orders of the incident = %d, %v", len(list), err)
	}
	if _, _, err := st.CreateWorkOrderForIncident(ctx, "acme", maintenance.WorkOrder{AssetID: "pump-1", Title: "x", EstimatedMinutes: 1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no incident id: err = %v, want ErrInvalid", err)
	}
	if _, _, err := st.CreateWorkOrderForIncident(ctx, "acme", maintenance.WorkOrder{AssetID: "missing", IncidentID: "i2", Title: "x", EstimatedMinutes: 1}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown asset: err = %v, want ErrNotFound", err)
	}
}

func TestListWorkOrdersAndBookings(t *testing.T) {
	f := newFixture(t, "pump-1", "fan-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	ada := f.technician("Ada", "mech")
	var ids []string
	for i, asset := range []string{"pump-1", "fan-1", "pump-1"} {
		from := time.Duration(8+2*i) * time.Hour
		ids = append(ids, f.book(maintenance.WorkOrder{AssetID: asset, Title: fmt.Sprint("job ", i)}, ada, from, from+time.Hour).ID)
	}
	// The first overruns: still in progress at 11:30, past its 09:00 end.
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", ids[0], workorder.InProgress, mon.Add(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", ids[1], workorder.Cancelled, mon); err != nil {
		t.Fatal(err)
	}

	pumps, err := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{AssetID: "pump-1"}, store.Page{})
	if err != nil || len(pumps) != 2 || pumps[0].ID != ids[2] {
		t.Errorf("pump work orders = %d (first %v), %v; want 2, newest first", len(pumps), pumps, err)
	}
	cancelled, _ := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{Status: workorder.Cancelled}, store.Page{})
	if len(cancelled) != 1 || cancelled[0].ID != ids[1] {
		t.Errorf("cancelled = %+v", cancelled)
	}
	mine, _ := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{TechnicianID: ada.ID}, store.Page{})
	if len(mine) != 3 {
		t.Errorf("Ada's work orders = %d, want 3", len(mine))
	}
	page1, _ := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{}, store.Page{Limit: 2})
	page2, _ := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{}, store.Page{Limit: 2, After: page1[1].ID})
	if len(page1) != 2 || len(page2) != 1 || page2[0].ID != ids[0] {
		t.Errorf("pages = %d + %d (last %v)", len(page1), len(page2), page2)
	}
	if _, err := st.ListWorkOrders(ctx, "acme", maintenance.WorkOrderFilter{TechnicianID: "bob"}, store.Page{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("malformed technician filter: err = %v, want ErrInvalid", err)
	}

	at := mon.Add(11*time.Hour + 30*time.Minute)
	bookings, err := st.TechnicianBookings(ctx, "acme", at, at.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(bookings) != 2 || bookings[0].WorkOrderID != ids[0] || !bookings[0].End.Equal(at) || bookings[1].WorkOrderID != ids[2] {
		t.Errorf("bookings from 11:30 = %+v; want the overrunning job until 11:30 and job 2", bookings)
	}
}
