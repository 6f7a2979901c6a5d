package maintenance_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// TestPreventiveWorkOrders: due schedules are found by date and by meter,
// raise one work order each however often they are asked, and the
// completed work order moves the schedule on.
func TestPreventiveWorkOrders(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx, db := f.st, f.ctx, f.db
	hours, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "pump-1", ID: "hours", Unit: "h"})
	if err != nil {
		t.Fatal(err)
	}
	ada := f.technician("Ada", "mech")
	now := f.mon.Add(7 * time.Hour)
	create := func(tenant string, p maintenance.PreventiveSchedule) maintenance.PreventiveSchedule {
		t.Helper()
		p.AssetID, p.EstimatedMinutes = "pump-1", 60
		if p.MeterInterval == nil {
			p.Kind = maintenance.PreventiveCalendar
		} else {
			p.Kind, p.SensorID = maintenance.PreventiveMeter, "hours"
		}
		out, err := st.CreatePreventiveSchedule(ctx, tenant, p)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	monthly, quarterly, rarely := 30, 90, 5000.0
	every, last := 500.0, 1200.0

	lube := create("acme", maintenance.PreventiveSchedule{Title: "A lubrication", IntervalDays: &monthly, LastDoneAt: at(-29 * 24 * time.Hour),
		RequiredSkills: []string{"mech"}, Checklist: []string{"Grease DE", "Grease NDE"}, Active: true, Priority: workorder.High})
	create("acme", maintenance.PreventiveSchedule{Title: "B inspection", IntervalDays: &quarterly, LastDoneAt: at(-10 * 24 * time.Hour), Active: true})
	seal := create("acme", maintenance.PreventiveSchedule{Title: "C seal", MeterInterval: &every, LastMeterReading: &last, Active: true,
		RequiredSkills: []string{"mech"}})
	create("acme", maintenance.PreventiveSchedule{Title: "D overhaul", MeterInterval: &rarely, Active: true})
	create("acme", maintenance.PreventiveSchedule{Title: "E paused", IntervalDays: &monthly, LastDoneAt: at(-90 * 24 * time.Hour), Active: false})
	f.addAsset("rival", "pump-1")
	create("rival", maintenance.PreventiveSchedule{Title: "R overdue", IntervalDays: &monthly, LastDoneAt: at(-90 * 24 * time.Hour), Active: true})
	// 48 running hours over the last 47 hours: 1700 h is reached in about
	// 11.75 hours.
	if err := db.WriteReadings(ctx, nil, []store.Reading{
		{TenantID: "acme", SensorKey: hours.Key, TS: now.Add(-48 * time.Hour), Value: 1640},
		{TenantID: "acme", SensorKey: hours.Key, TS: now.Add(-time.Hour), Value: 1688},
	}); err != nil {
		t.Fatal(err)
	}

	titles := func(due []maintenance.DuePreventive) string {
		var out []string
		for _, d := range due {
			out = append(out, d.Schedule.Title)
		}
		return strings.Join(out, ", ")
	}
	due, err := st.DuePreventiveSchedules(ctx, "acme", now, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if got := titles(due); got != "A lubrication, C seal" {
		t.Fatalf("due = %q, want A lubrication, C seal", got)
	}
	if !due[0].Deadline.Equal(now.Add(24*time.Hour)) || !strings.Contains(due[0].Reason, "every 30 days") {
		t.Errorf("A due %s (%s), want %s", due[0].Deadline, due[0].Reason, now.Add(24*time.Hour))
	}
	m := due[1].Meter
	eta := now.Add(-time.Hour).Add(time.Duration(12 / (48.0 / 47) * float64(time.Hour)))
	if m == nil || m.Value != 1688 || m.Unit != "h" || due[1].Deadline.Sub(eta).Abs() > time.Second || !strings.Contains(due[1].Reason, "due at 1700 h") {
		t.Errorf("C due %s (%s, meter %+v), want about %s", due[1].Deadline, due[1].Reason, m, eta)
	}
	if due, _ := st.DuePreventiveSchedules(ctx, "acme", now, 0); len(due) != 0 {
		t.Errorf("without lead time %q are due", titles(due))
	}

	// Raised once, however often and however concurrently.
	job := due[0].WorkOrder()
	results := make([]maintenance.PlannedWorkOrder, 4)
	f.concurrently(len(results), func(i int) (err error) {
		results[i], err = f.plan(job, now)
		return err
	})
	created := 0
	for _, r := range results {
		if r.Created {
			created++
		}
		if r.WorkOrder.ID != results[0].WorkOrder.ID {
			t.Errorf("two work orders for one schedule: %s and %s", r.WorkOrder.ID, results[0].WorkOrder.ID)
		}
	}
	wo := results[0].WorkOrder
	if created != 1 || wo.PreventiveScheduleID != lube.ID || wo.TechnicianID != ada.ID || wo.Priority != workorder.High ||
		len(wo.Checklist) != 2 || wo.Checklist[1].Text != "Grease NDE" || !wo.Deadline.Equal(due[0].Deadline) ||
		!strings.Contains(wo.Description, "Preventive maintenance (calendar: every 30 days") {
		t.Fatalf("%d created; work order %+v", created, wo)
	}
	if due, _ := st.DuePreventiveSchedules(ctx, "acme", now, 72*time.Hour); titles(due) != "C seal" {
		t.Errorf("with A's work order open, due = %q", titles(due))
	}

	// Done: the schedule counts from the completion.
	finish := func(id string, when time.Time) {
		t.Helper()
		if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", id, workorder.InProgress, when.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		w, _ := st.GetWorkOrder(ctx, "acme", id)
		var all []maintenance.ChecklistUpdate
		for i := range w.Checklist {
			all = append(all, maintenance.ChecklistUpdate{Index: i, Done: true})
		}
		if _, err := st.UpdateChecklist(ctx, "acme", id, all, "ada", when); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", id, workorder.Done, when); err != nil {
			t.Fatal(err)
		}
	}
	finish(wo.ID, now.Add(3*time.Hour))
	lube, _ = st.GetPreventiveSchedule(ctx, "acme", lube.ID)
	if lube.LastDoneAt == nil || !lube.LastDoneAt.Equal(now.Add(3*time.Hour)) || !lube.NextDueAt.Equal(now.Add(3*time.Hour).AddDate(0, 0, 30)) {
		t.Errorf("after the work order: last done %v, next due %v", lube.LastDoneAt, lube.NextDueAt)
	}
	sealWO, err := f.plan(due[1].WorkOrder(), now)
	if err != nil || !sealWO.Created {
		t.Fatalf("seal work order %+v, %v", sealWO, err)
	}
	finish(sealWO.WorkOrder.ID, now)
	seal, _ = st.GetPreventiveSchedule(ctx, "acme", seal.ID)
	if seal.LastMeterReading == nil || *seal.LastMeterReading != 1688 || *seal.NextDueReading != 2188 {
		t.Errorf("after the seal work order: last reading %s, next due %g; want 1688 and 2188", orNil(seal.LastMeterReading), *seal.NextDueReading)
	}
	if due, _ := st.DuePreventiveSchedules(ctx, "acme", now.Add(4*time.Hour), 72*time.Hour); len(due) != 0 {
		t.Errorf("after both were done, due = %q", titles(due))
	}
	// A cancelled work order leaves the schedule due; the next one is raised.
	again, err := f.plan(due[0].WorkOrder(), now)
	if err != nil || !again.Created || again.WorkOrder.ID == wo.ID {
		t.Fatalf("after done, raise again = %+v, %v", again, err)
	}
	if _, _, err := st.UpdateWorkOrderStatus(ctx, "acme", again.WorkOrder.ID, workorder.Cancelled, now); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.GetPreventiveSchedule(ctx, "acme", lube.ID); !l.LastDoneAt.Equal(*lube.LastDoneAt) {
		t.Errorf("a cancelled work order moved last_done_at to %v", l.LastDoneAt)
	}
}

func orNil(v *float64) string {
	if v == nil {
		return "nil"
	}
	return fmt.Sprint(*v)
}

// BenchmarkDuePreventiveSchedules: one tenant with 200 assets, each with a
// running-hours meter read hourly for a week (33,600 readings), a meter
// schedule and five calendar schedules (1,200 schedules); about a quarter
// are due.
func BenchmarkDuePreventiveSchedules(b *testing.B) {
	f := newFixture(b)
	st, ctx, db := f.st, f.ctx, f.db
	now := time.Now().UTC().Truncate(time.Hour)
	var rows []store.Reading
	due := 0
	for a := range 200 {
		asset := fmt.Sprintf("pump-%03d", a)
		f.addAsset("acme", asset)
		meter, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: asset, ID: "hours", Unit: "h"})
		if err != nil {
			b.Fatal(err)
		}
		for h := range 168 {
			rows = append(rows, store.Reading{TenantID: "acme", SensorKey: meter.Key, TS: now.Add(-time.Duration(h) * time.Hour), Value: float64(5000 - h)})
		}
		// The meter gains 1 h an hour and reaches the due reading in 48, 96,
		// 144 or 192 hours: due within the 72 h lead for a%4 == 0.
		every, last := float64(548+(a%4)*48), 4500.0
		if a%4 == 0 {
			due++
		}
		if _, err := st.CreatePreventiveSchedule(ctx, "acme", maintenance.PreventiveSchedule{AssetID: asset, Title: "seal", EstimatedMinutes: 60,
			Kind: maintenance.PreventiveMeter, SensorID: "hours", MeterInterval: &every, LastMeterReading: &last, Active: true}); err != nil {
			b.Fatal(err)
		}
		for c := range 5 {
			days := 30
			done := now.Add(-time.Duration(20+c*3) * 24 * time.Hour) // due in 10, 7, 4, 1 and -2 days
			if c >= 3 {
				due++
			}
			if _, err := st.CreatePreventiveSchedule(ctx, "acme", maintenance.PreventiveSchedule{AssetID: asset, Title: fmt.Sprintf("cal-%d", c), EstimatedMinutes: 30,
				Kind: maintenance.PreventiveCalendar, IntervalDays: &days, LastDoneAt: &done, Active: true}); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := st.DuePreventiveSchedules(ctx, "acme", now, 72*time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != due {
			b.Fatalf("%d due, want %d", len(got), due)
		}
	}
	b.ReportMetric(1200*float64(b.N)/b.Elapsed().Seconds(), "schedules/s")
}

func TestPreventiveSchedules(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx := f.st, f.ctx
	if _, err := f.db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "pump-1", ID: "hours", Unit: "h"}); err != nil {
		t.Fatal(err)
	}
	days := 90
	cal, err := st.CreatePreventiveSchedule(ctx, "acme", maintenance.PreventiveSchedule{
		AssetID: "pump-1", Title: "Quarterly lubrication", EstimatedMinutes: 45, Kind: maintenance.PreventiveCalendar, IntervalDays: &days,
		Checklist: []string{"Grease DE bearing", "Grease NDE bearing"}, Parts: []maintenance.Part{{PartNumber: "GREASE-EP2", Quantity: 0.2, Unit: "kg"}},
		Active: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cal.NextDueAt == nil || !cal.NextDueAt.Equal(cal.CreatedAt.AddDate(0, 0, 90)) || len(cal.Checklist) != 2 || cal.Priority != workorder.Medium {
		t.Errorf("calendar schedule = %+v", cal)
	}
	every, last := 500.0, 1200.0
	meter, err := st.CreatePreventiveSchedule(ctx, "acme", maintenance.PreventiveSchedule{
		AssetID: "pump-1", Title: "Seal inspection", EstimatedMinutes: 60, Kind: maintenance.PreventiveMeter, SensorID: "hours",
		MeterInterval: &every, LastMeterReading: &last, Active: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if meter.NextDueReading == nil || *meter.NextDueReading != 1700 || meter.NextDueAt != nil {
		t.Errorf("meter schedule = %+v", meter)
	}
	for name, bad := range map[string]maintenance.PreventiveSchedule{
		"calendar without interval": {AssetID: "pump-1", Title: "x", EstimatedMinutes: 1, Kind: maintenance.PreventiveCalendar},
		"meter with interval days":  {AssetID: "pump-1", Title: "x", EstimatedMinutes: 1, Kind: maintenance.PreventiveMeter, SensorID: "hours", MeterInterval: &every, IntervalDays: &days},
		"unknown kind":              {AssetID: "pump-1", Title: "x", EstimatedMinutes: 1, Kind: "whenever"},
	} {
		if _, err := st.CreatePreventiveSchedule(ctx, "acme", bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := st.CreatePreventiveSchedule(ctx, "acme", maintenance.PreventiveSchedule{AssetID: "pump-1", Title: "x", EstimatedMinutes: 1,
		Kind: maintenance.PreventiveMeter, SensorID: "nope", MeterInterval: &every}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown sensor: err = %v, want ErrNotFound", err)
	}

	done := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	cal.LastDoneAt = &done
	updated, err := st.UpdatePreventiveSchedule(ctx, "acme", cal)
	if err != nil || !updated.NextDueAt.Equal(time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("after service = %+v, %v", updated.NextDueAt, err)
	}
	list, err := st.ListPreventiveSchedules(ctx, "acme", "pump-1")
	if err != nil || len(list) != 2 || list[0].Title != "Quarterly lubrication" {
		t.Errorf("list = %+v, %v", list, err)
	}
	if err := st.DeletePreventiveSchedule(ctx, "acme", meter.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetPreventiveSchedule(ctx, "acme", meter.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted: err = %v", err)
	}
}
