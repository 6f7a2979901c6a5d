package maintenance_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

func TestOpenWorkGroupsAndCollector(t *testing.T) {
	f := newFixture(t)
	st, ctx, db := f.st, f.ctx, f.db
	f.tenant("rival")
	t0 := time.Date(2025, 6, 2, 8, 0, 0, 0, time.UTC)
	closed := t0.Add(time.Hour)
	for i, inc := range []incident.Projection{
		{TenantID: "acme", ID: "i1", AssetID: "a1", Status: "awaiting_approval", Severity: "critical", UpdatedAt: t0.Add(10 * time.Minute)},
		{TenantID: "acme", ID: "i2", AssetID: "a2", Status: "awaiting_approval", Severity: "critical", UpdatedAt: t0.Add(5 * time.Minute)},
		{TenantID: "acme", ID: "i3", AssetID: "a3", Status: "awaiting_approval", Severity: "minor", UpdatedAt: t0},
		{TenantID: "acme", ID: "i4", AssetID: "a4", Status: "scheduled", Severity: "major", UpdatedAt: t0},
		{TenantID: "acme", ID: "i5", AssetID: "a1", Status: "resolved", Severity: "major", UpdatedAt: t0, ClosedAt: &closed},
		{TenantID: "rival", ID: "i6", AssetID: "a1", Status: "collecting", Severity: "warning", UpdatedAt: t0},
	} {
		inc.WorkflowID, inc.Seq, inc.OpenedAt = "incident/"+inc.TenantID+"/"+inc.AssetID, int64(i+1), t0
		if err := db.RecordIncident(ctx, inc, nil); err != nil {
			t.Fatal(err)
		}
	}
	groups, err := db.OpenIncidentGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.OpenIncidentGroup{
		{TenantID: "acme", Status: "awaiting_approval", Severity: "critical", Count: 2, OldestUpdate: t0.Add(5 * time.Minute)},
		{TenantID: "acme", Status: "awaiting_approval", Severity: "minor", Count: 1, OldestUpdate: t0},
		{TenantID: "acme", Status: "scheduled", Severity: "major", Count: 1, OldestUpdate: t0},
		{TenantID: "rival", Status: "collecting", Severity: "warning", Count: 1, OldestUpdate: t0},
	}
	if len(groups) != len(want) {
		t.Fatalf("groups = %+v, want %+v", groups, want)
	}
	for i := range want {
		g := groups[i]
		g.OldestUpdate = g.OldestUpdate.UTC()
		if g != want[i] {
			t.Errorf("group %d = %+v, want %+v", i, g, want[i])
		}
	}

	// Work orders of acme: an overdue incident one, a preventive one in
	// progress and due tomorrow, a manual one without a deadline, and a done
	// (not open) one; one overdue of rival.
	f.addAsset("acme", "a1")
	f.addAsset("rival", "a1")
	days := 30
	lube, err := st.CreatePreventiveSchedule(ctx, "acme", maintenance.PreventiveSchedule{AssetID: "a1", Title: "Lubrication", EstimatedMinutes: 30,
		Kind: maintenance.PreventiveCalendar, IntervalDays: &days, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	past, tomorrow := time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	for _, w := range []struct {
		tenant string
		wo     maintenance.WorkOrder
		status workorder.Status
	}{
		{"acme", maintenance.WorkOrder{AssetID: "a1", IncidentID: "i4", Title: "Repair", Deadline: &past}, workorder.Scheduled},
		{"acme", maintenance.WorkOrder{AssetID: "a1", PreventiveScheduleID: lube.ID, Title: "Lubrication", Deadline: &tomorrow}, workorder.InProgress},
		{"acme", maintenance.WorkOrder{AssetID: "a1", Title: "Paint the guard"}, workorder.Scheduled},
		{"acme", maintenance.WorkOrder{AssetID: "a1", IncidentID: "i5", Title: "Old repair", Deadline: &past}, workorder.Cancelled},
		{"rival", maintenance.WorkOrder{AssetID: "a1", Title: "Rival job", Deadline: &past}, workorder.Scheduled},
	} {
		w.wo.EstimatedMinutes = 60
		wo, err := st.CreateWorkOrder(ctx, w.tenant, w.wo)
		if err != nil {
			t.Fatal(err)
		}
		if w.status != workorder.Scheduled {
			if _, _, err := st.UpdateWorkOrderStatus(ctx, w.tenant, wo.ID, w.status, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}

	c := &maintenance.OpenWorkCollector{Store: st}
	at := float64(t0.Unix())
	expected := `
# HELP smartmaint_incidents_open Open incidents (not yet resolved or closed) by tenant, status and severity, from the incident projection.
# TYPE smartmaint_incidents_open gauge
smartmaint_incidents_open{severity="critical",status="awaiting_approval",tenant="acme"} 2
smartmaint_incidents_open{severity="minor",status="awaiting_approval",tenant="acme"} 1
smartmaint_incidents_open{severity="major",status="scheduled",tenant="acme"} 1
smartmaint_incidents_open{severity="warning",status="collecting",tenant="rival"} 1
# HELP smartmaint_incidents_oldest_update_timestamp_seconds Least recent update among the open incidents of a tenant in a status; time() minus it is how long the stalest one has not moved.
# TYPE smartmaint_incidents_oldest_update_timestamp_seconds gauge
smartmaint_incidents_oldest_update_timestamp_seconds{status="awaiting_approval",tenant="acme"} ` + ftoa(at) + `
smartmaint_incidents_oldest_update_timestamp_seconds{status="scheduled",tenant="acme"} ` + ftoa(at) + `
smartmaint_incidents_oldest_update_timestamp_seconds{status="collecting",tenant="rival"} ` + ftoa(at) + `
# HELP smartmaint_work_orders_open Open (scheduled or in-progress) work orders by tenant, status and source (incident, preventive, manual).
# TYPE smartmaint_work_orders_open gauge
smartmaint_work_orders_open{source="incident",status="scheduled",tenant="acme"} 1
smartmaint_work_orders_open{source="manual",status="scheduled",tenant="acme"} 1
smartmaint_work_orders_open{source="preventive",status="in_progress",tenant="acme"} 1
smartmaint_work_orders_open{source="manual",status="scheduled",tenant="rival"} 1
# HELP smartmaint_work_orders_overdue Open work orders whose deadline has passed, by tenant and source (incident, preventive, manual).
# TYPE smartmaint_work_orders_overdue gauge
smartmaint_work_orders_overdue{source="incident",tenant="acme"} 1
smartmaint_work_orders_overdue{source="manual",tenant="acme"} 0
smartmaint_work_orders_overdue{source="preventive",tenant="acme"} 0
smartmaint_work_orders_overdue{source="manual",tenant="rival"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(expected)); err != nil {
		t.Error(err)
	}

	// Within CacheFor a scrape reuses the last read, and a failed read keeps
	// the previous values.
	db.Close()
	c.CacheFor = time.Nanosecond
	if n := testutil.CollectAndCount(c, "smartmaint_incidents_open"); n != 4 {
		t.Errorf("after the database went away: %d series, want the previous 4", n)
	}
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// BenchmarkOpenWorkOrderGroups is the work-order half of one scrape: 2,000
// open work orders of 100 tenants among 52,000.
func BenchmarkOpenWorkOrderGroups(b *testing.B) {
	f := newFixture(b)
	st, ctx := f.st, f.ctx
	_, err := f.db.Pool.Exec(ctx, `
		INSERT INTO tenants (id, name) SELECT 't' || i, 't' || i FROM generate_series(0, 99) i;
		INSERT INTO assets (tenant_id, id, type) SELECT 't' || i, 'a', 'pump' FROM generate_series(0, 99) i;
		INSERT INTO work_orders (tenant_id, asset_id, title, status, estimated_minutes, deadline, incident_id)
		SELECT 't' || (i % 100), 'a', 'job',
			CASE WHEN i < 2000 THEN (ARRAY['scheduled','in_progress'])[1 + (i / 100) % 2] ELSE 'done' END,
			60, now() + (i % 7 - 3) * interval '1 day', CASE WHEN i % 3 = 0 THEN 'i' || i END
		FROM generate_series(0, 51999) i;
		ANALYZE work_orders`)
	if err != nil {
		b.Fatal(err)
	}
	var groups []maintenance.OpenWorkOrderGroup
	for b.Loop() {
		if groups, err = st.OpenWorkOrderGroups(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if len(groups) != 100*2*2 {
		b.Fatalf("%d groups", len(groups))
	}
}
