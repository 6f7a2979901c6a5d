package report_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// t0 is a Monday; fixtures place their data relative to it.
var t0 = time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func ptr[T any](v T) *T { return &v }

// fixture writes report inputs straight into a test database.
type fixture struct {
	t      testing.TB
	db     *store.DB
	tenant string
	ctx    context.Context
}

func newFixture(t testing.TB, db *store.DB, tenant string) *fixture {
	testenv.Tenant(t, db, tenant)
	return &fixture{t: t, db: db, tenant: tenant, ctx: context.Background()}
}

func (f *fixture) exec(sql string, args ...any) {
	f.t.Helper()
	if _, err := f.db.Pool.Exec(f.ctx, sql, args...); err != nil {
		f.t.Fatalf("%s: %v", strings.Fields(sql)[0:3], err)
	}
}

// asset creates an asset as if it had been created at created.
func (f *fixture) asset(id string, created time.Time) {
	f.t.Helper()
	if _, err := f.db.CreateAsset(f.ctx, f.tenant, store.Asset{ID: id, Type: "mill", Name: strings.ToUpper(id)}); err != nil {
		f.t.Fatal(err)
	}
	f.exec(`UPDATE assets SET created_at = $3 WHERE tenant_id = $1 AND id = $2`, f.tenant, id, created)
}

func (f *fixture) sensor(asset, id, unit string, warnHigh, alarmHigh *float64) store.Sensor {
	f.t.Helper()
	s, err := f.db.CreateSensor(f.ctx, f.tenant, store.Sensor{AssetID: asset, ID: id, Unit: unit, WarnHigh: warnHigh, AlarmHigh: alarmHigh})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// readings stores values at start, start+step, … with their rollup.
func (f *fixture) readings(s store.Sensor, start time.Time, step time.Duration, values ...float64) {
	f.t.Helper()
	rows := make([]store.Reading, len(values))
	for i, v := range values {
		rows[i] = store.Reading{TenantID: f.tenant, SensorKey: s.Key, TS: start.Add(time.Duration(i) * step), Value: v}
	}
	if err := f.db.WriteReadings(f.ctx, nil, rows); err != nil {
		f.t.Fatal(err)
	}
}

// incident is what the fixture needs of an incident.
type incidentRow struct {
	asset      string
	status     incident.Status
	resolution incident.Resolution
	opened     time.Time
	closed     *time.Time
	workOrder  string
	summary    map[string]any
	log        []store.LogEntry
}

func (f *fixture) incident(in incidentRow) string {
	f.t.Helper()
	id := uuid.NewString()
	f.incidentWithID(id, in)
	return id
}

// incidentWithID records in under a chosen id (for work orders made first).
func (f *fixture) incidentWithID(id string, in incidentRow) {
	f.t.Helper()
	summary, _ := json.Marshal(in.summary)
	inc := incident.Projection{
		TenantID: f.tenant, ID: id, AssetID: in.asset, WorkflowID: "incident/" + f.tenant + "/" + in.asset, Status: in.status,
		Resolution: in.resolution, Severity: "major", Active: in.closed == nil, Summary: summary, Seq: 1,
		OpenedAt: in.opened, UpdatedAt: in.opened, ClosedAt: in.closed,
	}
	if in.workOrder != "" {
		inc.WorkOrderID = &in.workOrder
	}
	if err := f.db.RecordIncident(f.ctx, inc, in.log); err != nil {
		f.t.Fatal(err)
	}
}

// workOrder is what the fixture needs of a work order.
type workOrder struct {
	asset, incident, status, preventive     string
	created                                 time.Time
	started, completed, cancelled, deadline *time.Time
	late                                    bool
}

func (f *fixture) workOrder(w workOrder) string {
	f.t.Helper()
	id := uuid.NewString()
	var incident, preventive *string
	if w.incident != "" {
		incident = &w.incident
	}
	if w.preventive != "" {
		preventive = &w.preventive
	}
	f.exec(`
		INSERT INTO work_orders (tenant_id, id, asset_id, incident_id, preventive_schedule_id, title, status, estimated_minutes, deadline, late,
			started_at, completed_at, cancelled_at, created_at)
		VALUES ($1, $2, $3, $4, $5, 'fix it', $6, 60, $7, $8, $9, $10, $11, $12)`,
		f.tenant, id, w.asset, incident, preventive, w.status, w.deadline, w.late, w.started, w.completed, w.cancelled, w.created)
	return id
}

func (f *fixture) anomaly(asset, sensor string, ts time.Time, value float64, severity string) {
	f.exec(`
		INSERT INTO anomalies (id, tenant_id, asset_id, sensor_id, ts, value, score, severity, detector, reason, dispatched_at)
		VALUES ($1, $2, $3, $4, $5, $6, 1, $7, 'threshold', 'test', now())`,
		uuid.NewString(), f.tenant, asset, sensor, ts, value, severity)
}

// modelVersion registers version v of model name, created at.
func (f *fixture) modelVersion(name string, v int, at time.Time, metrics map[string]float64) {
	f.exec(`INSERT INTO models (tenant_id, name, latest_version) VALUES ($1, $2, $3)
		ON CONFLICT (tenant_id, name) DO UPDATE SET latest_version = excluded.latest_version`, f.tenant, name, v)
	f.exec(`
		INSERT INTO model_versions (tenant_id, name, version, kind, metrics, artifact_key, artifact_uri, artifact_size, artifact_sha256, created_by, created_at)
		VALUES ($1, $2, $3, 'iforest', $4, $5, 'file:///models', 10, $6, 'test', $7)`,
		f.tenant, name, v, metrics, fmt.Sprintf("%s/%d", name, v), strings.Repeat("ab", 32), at)
}

func (f *fixture) aliasMove(name, alias string, from, to int, at time.Time) {
	var fromV *int
	if from > 0 {
		fromV = &from
	}
	f.exec(`INSERT INTO model_alias_events (tenant_id, name, alias, from_version, to_version, actor, reason, at)
		VALUES ($1, $2, $3, $4, $5, 'test', 'better', $6)`, f.tenant, name, alias, fromV, to, at)
}

// plant is the report fixture of TestCompute: two assets of acme over the
// two weeks from t0, with incidents, work orders, readings, anomalies and
// model versions whose KPIs docs/REPORTS.md's definitions fix exactly.
// Data outside the window, of an asset created after it and of another
// tenant must not count.
func plant(t testing.TB, db *store.DB) {
	f := newFixture(t, db, "acme")
	f.asset("mill-1", t0.Add(-30*day))
	f.asset("pump-2", t0.Add(7*day))
	f.asset("new-3", t0.Add(20*day))
	torque := f.sensor("mill-1", "torque", "Nm", ptr(60.0), ptr(70.0))
	speed := f.sensor("mill-1", "speed", "rpm", nil, ptr(57.0))
	temp := f.sensor("pump-2", "temp", "K", nil, nil)

	// torque: 40…49 every hour of the window, plus one reading before it
	// and one at its end that must not count.
	values := make([]float64, 14*24)
	for i := range values {
		values[i] = 40 + float64(i%10)
	}
	f.readings(torque, t0, time.Hour, values...)
	f.readings(torque, t0.Add(-time.Hour), time.Minute, 100)
	f.readings(torque, t0.Add(14*day), time.Minute, 100)
	// speed rises for five hours before the forecast of incident i4.
	trend := make([]float64, 300)
	for i := range trend {
		trend[i] = 40 + 0.05*float64(i) + 0.1*float64(i%3)
	}
	forecastAt := t0.Add(8*day + 30*time.Minute)
	f.readings(speed, forecastAt.Add(-299*time.Minute), time.Minute, trend...)
	f.readings(temp, t0.Add(8*day), time.Hour, 300, 310)

	wo1 := f.workOrder(workOrder{asset: "mill-1", status: "done", created: t0.Add(day),
		started: ptr(t0.Add(day + 2*time.Hour)), completed: ptr(t0.Add(day + 5*time.Hour)), deadline: ptr(t0.Add(day + 4*time.Hour))})
	wo2 := f.workOrder(workOrder{asset: "mill-1", status: "done", created: t0.Add(8 * day),
		started: ptr(t0.Add(8*day + time.Hour)), completed: ptr(t0.Add(8*day + 2*time.Hour)), deadline: ptr(t0.Add(9 * day))})
	f.workOrder(workOrder{asset: "mill-1", status: "done", created: t0.Add(day), // overlaps wo1
		started: ptr(t0.Add(day + 4*time.Hour)), completed: ptr(t0.Add(day + 6*time.Hour))})
	f.workOrder(workOrder{asset: "mill-1", status: "scheduled", created: t0.Add(5 * day), deadline: ptr(t0.Add(6 * day))})
	f.workOrder(workOrder{asset: "mill-1", status: "in_progress", created: t0.Add(12 * day), started: ptr(t0.Add(13 * day)), deadline: ptr(t0.Add(20 * day))})
	f.workOrder(workOrder{asset: "mill-1", status: "done", created: t0.Add(-5 * day), started: ptr(t0.Add(-5 * day)), completed: ptr(t0.Add(-4 * day))})
	wo7 := f.workOrder(workOrder{asset: "mill-1", status: "cancelled", created: t0.Add(2 * day), cancelled: ptr(t0.Add(3 * day))})
	f.workOrder(workOrder{asset: "mill-1", status: "scheduled", created: t0.Add(6 * day), deadline: ptr(t0.Add(30 * day)), late: true})
	wo10 := f.workOrder(workOrder{asset: "pump-2", status: "scheduled", created: t0.Add(8 * day), deadline: ptr(t0.Add(9 * day))})
	// Preventive work on pump-2: one done on time (an hour of downtime, not
	// a repair), one overdue.
	days := 7
	lube, err := (&maintenance.Store{DB: f.db}).CreatePreventiveSchedule(f.ctx, f.tenant, maintenance.PreventiveSchedule{AssetID: "pump-2", Title: "Lubrication",
		EstimatedMinutes: 60, Kind: maintenance.PreventiveCalendar, IntervalDays: &days, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	f.workOrder(workOrder{asset: "pump-2", preventive: lube.ID, status: "done", created: t0.Add(9 * day),
		started: ptr(t0.Add(10 * day)), completed: ptr(t0.Add(10*day + time.Hour)), deadline: ptr(t0.Add(11 * day))})
	f.workOrder(workOrder{asset: "pump-2", preventive: lube.ID, status: "scheduled", created: t0.Add(11 * day), deadline: ptr(t0.Add(12 * day))})

	i1 := f.incident(incidentRow{asset: "mill-1", status: "resolved", resolution: "resolved", opened: t0.Add(day), closed: ptr(t0.Add(2 * day)), workOrder: wo1})
	f.incident(incidentRow{asset: "mill-1", status: "closed", resolution: "rejected", opened: t0.Add(2 * day), closed: ptr(t0.Add(2*day + time.Hour))})
	f.incident(incidentRow{asset: "mill-1", status: "closed", resolution: "false_positive", opened: t0.Add(3 * day), closed: ptr(t0.Add(3*day + time.Minute))})
	i4 := f.incident(incidentRow{asset: "mill-1", status: "resolved", resolution: "resolved", opened: t0.Add(8 * day), closed: ptr(t0.Add(8*day + 3*time.Hour)), workOrder: wo2,
		summary: map[string]any{"forecast": map[string]any{"sensor_id": "speed", "limit": 57, "method": "damped-holt"}},
		log:     []store.LogEntry{{Seq: 1, At: forecastAt, Actor: "system", Event: "forecast"}}})
	f.incident(incidentRow{asset: "mill-1", status: "closed", resolution: "below_policy", opened: t0.Add(9 * day), closed: ptr(t0.Add(9 * day))})
	i7 := f.incident(incidentRow{asset: "mill-1", status: "closed", resolution: "cancelled", opened: t0.Add(10 * day), closed: ptr(t0.Add(11 * day)), workOrder: wo7})
	f.incident(incidentRow{asset: "mill-1", status: "resolved", resolution: "resolved", opened: t0.Add(-day), closed: ptr(t0.Add(-day / 2))})
	p1 := f.incident(incidentRow{asset: "pump-2", status: "scheduled", opened: t0.Add(8 * day), workOrder: wo10})
	f.incident(incidentRow{asset: "pump-2", status: "closed", resolution: "rejected", opened: t0.Add(9 * day), closed: ptr(t0.Add(9*day + time.Hour))})
	f.incident(incidentRow{asset: "new-3", status: "closed", resolution: "rejected", opened: t0.Add(13 * day), closed: ptr(t0.Add(13 * day))})
	for wo, inc := range map[string]string{wo1: i1, wo2: i4, wo7: i7, wo10: p1} {
		f.exec(`UPDATE work_orders SET incident_id = $2 WHERE id = $1`, wo, inc)
	}

	f.anomaly("mill-1", "torque", t0.Add(day), 65, "major")
	f.anomaly("mill-1", "torque", t0.Add(day+time.Minute), 72, "critical")
	f.anomaly("mill-1", "torque", t0.Add(-time.Minute), 72, "critical")
	f.anomaly("pump-2", "temp", t0.Add(8*day), 310, "warning")

	f.modelVersion("iforest-mill", 1, t0.Add(-10*day), map[string]float64{"roc_auc_failures": 0.8, "anomaly_rate": 0.03})
	f.modelVersion("iforest-mill", 2, t0.Add(5*day), map[string]float64{"roc_auc_failures": 0.85, "anomaly_rate": 0.035})
	f.modelVersion("iforest-mill", 3, t0.Add(20*day), map[string]float64{"roc_auc_failures": 0.9})
	f.aliasMove("iforest-mill", "champion", 0, 1, t0.Add(-10*day))
	f.aliasMove("iforest-mill", "champion", 1, 2, t0.Add(5*day+time.Hour))
	f.aliasMove("iforest-mill", "champion", 2, 3, t0.Add(20*day))

	rival := newFixture(t, db, "rival")
	rival.asset("mill-1", t0.Add(-30*day))
	rival.incident(incidentRow{asset: "mill-1", status: "closed", resolution: "rejected", opened: t0.Add(day), closed: ptr(t0.Add(day))})
	rival.workOrder(workOrder{asset: "mill-1", status: "scheduled", created: t0.Add(day), deadline: ptr(t0.Add(2 * day))})
}
