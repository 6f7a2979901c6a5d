package maintenance_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// fixture is what the package's tests start from: a fresh database with
// tenant acme and its assets, the maintenance store on it, and helpers that
// add tenants, assets, technicians and work orders, failing the test on any
// error.
type fixture struct {
	t   testing.TB
	ctx context.Context
	db  *store.DB
	st  *maintenance.Store
	// mon is a Monday, 00:00 UTC, far enough ahead to be in the future:
	// the week the tests book work in.
	mon time.Time
	// asset is the first asset newFixture made, where work orders go
	// unless they name another.
	asset string
}

// newFixture sets up a fixture in a fresh database: tenant acme with the
// given assets (pumps).
func newFixture(t testing.TB, assets ...string) *fixture {
	t.Helper()
	db, _ := testenv.DB(t)
	f := &fixture{t: t, ctx: context.Background(), db: db, st: &maintenance.Store{DB: db},
		mon: time.Date(2030, 6, 3, 0, 0, 0, 0, time.UTC)}
	if f.mon.Weekday() != time.Monday {
		t.Fatalf("%s is a %s", f.mon, f.mon.Weekday())
	}
	f.tenant("acme")
	for _, id := range assets {
		f.addAsset("acme", id)
	}
	if len(assets) > 0 {
		f.asset = assets[0]
	}
	return f
}

// tenant makes sure tenant id exists.
func (f *fixture) tenant(id string) {
	f.t.Helper()
	testenv.Tenant(f.t, f.db, id)
}

// addAsset creates the pump id in tenant, making sure the tenant exists.
func (f *fixture) addAsset(tenant, id string) {
	f.t.Helper()
	f.tenant(tenant)
	if _, err := f.db.CreateAsset(f.ctx, tenant, store.Asset{ID: id, Type: "pump"}); err != nil {
		f.t.Fatal(err)
	}
}

// officeHours is 08:00–16:00, Monday to Friday.
const officeHours = `{"mon":[["08:00","16:00"]],"tue":[["08:00","16:00"]],"wed":[["08:00","16:00"]],"thu":[["08:00","16:00"]],"fri":[["08:00","16:00"]]}`

// week parses a weekly calendar written as JSON.
func (f *fixture) week(js string) schedule.Week {
	f.t.Helper()
	var w schedule.Week
	if err := json.Unmarshal([]byte(js), &w); err != nil {
		f.t.Fatal(err)
	}
	return w
}

// technician creates an active technician of acme with office hours in UTC.
func (f *fixture) technician(name string, skills ...string) maintenance.Technician {
	f.t.Helper()
	return f.technicianOf("acme", name, skills...)
}

// technicianOf is technician in another tenant.
func (f *fixture) technicianOf(tenant, name string, skills ...string) maintenance.Technician {
	f.t.Helper()
	tech, err := f.st.CreateTechnician(f.ctx, tenant, maintenance.Technician{
		Name: name, Skills: skills, TimeZone: "UTC", Shifts: f.week(officeHours), Active: true,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return tech
}

// create inserts the work order w of acme, on f.asset unless w names its
// asset.
func (f *fixture) create(w maintenance.WorkOrder) maintenance.WorkOrder {
	f.t.Helper()
	if w.AssetID == "" {
		w.AssetID = f.asset
	}
	out, err := f.st.CreateWorkOrder(f.ctx, "acme", w)
	if err != nil {
		f.t.Fatal(err)
	}
	return out
}

// book creates w booked for tech from f.mon+from to f.mon+to; without an
// estimate, w takes the slot's length.
func (f *fixture) book(w maintenance.WorkOrder, tech maintenance.Technician, from, to time.Duration) maintenance.WorkOrder {
	f.t.Helper()
	start, end := f.mon.Add(from), f.mon.Add(to)
	w.TechnicianID, w.ScheduledStart, w.ScheduledEnd = tech.ID, &start, &end
	if w.EstimatedMinutes == 0 {
		w.EstimatedMinutes = int((to - from) / time.Minute)
	}
	return f.create(w)
}

// job is a work order on f.asset that needs mech, takes minutes and is due
// by deadline.
func (f *fixture) job(title string, p workorder.Priority, minutes int, deadline time.Time) maintenance.WorkOrder {
	return maintenance.WorkOrder{AssetID: f.asset, Title: title, Priority: p, RequiredSkills: []string{"mech"},
		EstimatedMinutes: minutes, Deadline: &deadline}
}

// plan is PlanWorkOrder of w in acme at now, with the default options.
func (f *fixture) plan(w maintenance.WorkOrder, now time.Time) (maintenance.PlannedWorkOrder, error) {
	return f.st.PlanWorkOrder(f.ctx, "acme", w, now, schedule.Options{})
}

// concurrently calls fn(0), …, fn(n-1) at once, each in its own goroutine,
// and fails the test with what they returned when any of them failed.
func (f *fixture) concurrently(n int, fn func(i int) error) {
	f.t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		f.t.Fatal(err)
	}
}
