package maintenance_test

import (
	"errors"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
)

func TestTechnicianCRUD(t *testing.T) {
	f := newFixture(t)
	st, ctx := f.st, f.ctx
	f.tenant("other")

	in := maintenance.Technician{
		Name: "Ada", Email: "ada@example.com", Skills: []string{"mech", "elec"}, TimeZone: "Europe/Berlin",
		Shifts:     f.week(`{"mon":[["06:00","14:00"]],"sat":[["22:00","06:00"]]}`),
		Exceptions: []schedule.Absence{{From: schedule.Date{Year: 2025, Month: 8, Day: 1}, To: schedule.Date{Year: 2025, Month: 8, Day: 14}, Reason: "leave"}},
		Active:     true,
	}
	ada, err := st.CreateTechnician(ctx, "acme", in)
	if err != nil {
		t.Fatal(err)
	}
	if ada.ID == "" || ada.TimeZone != "Europe/Berlin" || len(ada.Shifts[time.Saturday]) != 1 || !ada.Shifts[time.Saturday][0].Overnight() ||
		len(ada.Exceptions) != 1 || ada.Exceptions[0].Reason != "leave" {
		t.Fatalf("created %+v", ada)
	}
	bob := f.technician("Bob", "mech")
	f.technicianOf("other", "Eve", "mech")

	got, err := st.GetTechnician(ctx, "acme", ada.ID)
	if err != nil || got.Shifts[time.Monday][0] != ada.Shifts[time.Monday][0] || got.Exceptions[0].To != ada.Exceptions[0].To {
		t.Errorf("get = %+v, %v", got, err)
	}
	for _, id := range []string{"not-a-uuid", "3f1c0d52-0000-4000-8000-000000000000"} {
		if _, err := st.GetTechnician(ctx, "acme", id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("get %q: err = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := st.GetTechnician(ctx, "other", ada.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other tenant sees Ada: err = %v", err)
	}

	elec, err := st.ListTechnicians(ctx, "acme", maintenance.TechnicianFilter{Skill: "elec"}, store.Page{})
	if err != nil || len(elec) != 1 || elec[0].ID != ada.ID {
		t.Errorf("list elec = %+v, %v", elec, err)
	}
	page1, err := st.ListTechnicians(ctx, "acme", maintenance.TechnicianFilter{}, store.Page{Limit: 1})
	if err != nil || len(page1) != 1 || page1[0].Name != "Ada" {
		t.Fatalf("page 1 = %+v, %v", page1, err)
	}
	page2, err := st.ListTechnicians(ctx, "acme", maintenance.TechnicianFilter{}, store.Page{Limit: 1, After: page1[0].ID})
	if err != nil || len(page2) != 1 || page2[0].Name != "Bob" {
		t.Errorf("page 2 = %+v, %v", page2, err)
	}

	bob.Active, bob.Skills = false, []string{"mech", "hyd"}
	if got, err := st.UpdateTechnician(ctx, "acme", bob); err != nil || got.Active || len(got.Skills) != 2 || !got.UpdatedAt.After(bob.UpdatedAt) {
		t.Errorf("update = %+v, %v", got, err)
	}
	active, _ := st.ListTechnicians(ctx, "acme", maintenance.TechnicianFilter{ActiveOnly: true}, store.Page{})
	if len(active) != 1 || active[0].ID != ada.ID {
		t.Errorf("active technicians = %+v", active)
	}
	if _, err := st.CreateTechnician(ctx, "acme", maintenance.Technician{Name: ""}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("nameless technician: err = %v, want ErrInvalid", err)
	}

	if err := st.DeleteTechnician(ctx, "acme", bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteTechnician(ctx, "acme", bob.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

func TestDeleteTechnicianWithWorkOrders(t *testing.T) {
	f := newFixture(t, "pump-1")
	tech := f.technician("Ada", "mech")
	f.book(maintenance.WorkOrder{Title: "Fix"}, tech, 8*time.Hour, 9*time.Hour)
	if err := f.st.DeleteTechnician(f.ctx, "acme", tech.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("delete technician with work orders: err = %v, want ErrConflict", err)
	}
}

func TestSchedulingTechnicians(t *testing.T) {
	f := newFixture(t, "pump-1")
	st, ctx, mon := f.st, f.ctx, f.mon
	ada := f.technician("Ada", "mech", "elec")
	bob := f.technician("Bob", "mech")
	idle := f.technician("Idle", "mech", "elec")
	idle.Active = false
	if _, err := st.UpdateTechnician(ctx, "acme", idle); err != nil {
		t.Fatal(err)
	}
	job := maintenance.WorkOrder{Title: "Job"}
	f.book(job, ada, 8*time.Hour, 10*time.Hour)
	f.book(job, ada, 30*24*time.Hour, 31*24*time.Hour) // outside the window
	f.book(job, bob, 9*time.Hour, 12*time.Hour)

	techs, err := st.SchedulingTechnicians(ctx, "acme", []string{"elec"}, mon, mon.Add(14*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(techs) != 1 || techs[0].ID != ada.ID || len(techs[0].Bookings) != 1 || techs[0].Location.String() != "UTC" ||
		len(techs[0].Week[time.Monday]) != 1 {
		t.Fatalf("elec technicians = %+v", techs)
	}
	all, err := st.SchedulingTechnicians(ctx, "acme", nil, mon, mon.Add(14*24*time.Hour))
	if err != nil || len(all) != 2 {
		t.Fatalf("all = %+v, %v", all, err)
	}
	a, err := schedule.Assign(schedule.Job{ID: "j", Skills: []string{"mech"}, Duration: 2 * time.Hour, EarliestStart: mon}, all, schedule.Options{})
	if err != nil || a.TechnicianID != ada.ID || !a.Start.Equal(mon.Add(10*time.Hour)) {
		t.Errorf("assignment over stored calendars = %+v, %v (Ada is free from 10:00, Bob from 12:00)", a, err)
	}
}
