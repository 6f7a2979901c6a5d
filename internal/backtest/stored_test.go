package backtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/backtest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// stepStart is the start of the seeded readings; the step comes a day in.
var (
	stepStart = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	stepAt    = stepStart.Add(24 * time.Hour)
)

// seedStep stores two days of minute readings of two sensors of press-1:
// "temp" around 50 that steps to 80 at stepAt, "flow" steady around 10.
func seedStep(t *testing.T, db *store.DB, tenant string) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.CreateAsset(ctx, tenant, store.Asset{ID: "press-1", Type: "press"}); err != nil {
		t.Fatal(err)
	}
	temp, err := db.CreateSensor(ctx, tenant, store.Sensor{AssetID: "press-1", ID: "temp", Unit: "C"})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := db.CreateSensor(ctx, tenant, store.Sensor{AssetID: "press-1", ID: "flow", Unit: "l/min"})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []store.Reading
	for ts := stepStart; ts.Before(stepStart.Add(48 * time.Hour)); ts = ts.Add(time.Minute) {
		v := 50 + rng.NormFloat64()*0.5
		if !ts.Before(stepAt) {
			v += 30
		}
		rows = append(rows,
			store.Reading{TenantID: tenant, SensorKey: temp.Key, TS: ts, Value: v},
			store.Reading{TenantID: tenant, SensorKey: flow.Key, TS: ts.Add(10 * time.Second), Value: 10 + rng.NormFloat64()*0.2})
	}
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
}

func TestStoredFindsTheStep(t *testing.T) {
	db, _ := testenv.DB(t)
	tenant := testenv.Tenant(t, db, "acme")
	seedStep(t, db, tenant)
	failure := stepAt.Add(30 * time.Hour)
	o := backtest.StoredOptions{Tenant: tenant, AssetID: "press-1", From: stepStart, To: stepStart.Add(48 * time.Hour), FailureAt: &failure, PageRows: 500}
	var cps []backtest.StoredCheckpoint
	o.Checkpoint = func(cp backtest.StoredCheckpoint) error { cps = append(cps, cp); return nil }
	rep, err := backtest.Stored(context.Background(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	var sum bytes.Buffer
	if err := rep.Summary(&sum); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d checkpoints\n%s", len(cps), sum.String())
	if rep.Readings != 2*48*60 {
		t.Errorf("readings = %d, want %d", rep.Readings, 2*48*60)
	}
	a := rep.FirstAlarm
	if a == nil || a.SensorID != "temp" || !a.Start.Equal(stepAt) || !a.RaisedAt.Equal(stepAt.Add(2*time.Minute)) {
		t.Fatalf("first alarm = %+v, want temp from %s raised at +2m", a, stepAt)
	}
	if rep.Caught == nil || !*rep.Caught || rep.LeadTimeHours == nil || *rep.LeadTimeHours != failure.Sub(stepAt.Add(2*time.Minute)).Hours() {
		t.Errorf("caught %v lead %v", rep.Caught, rep.LeadTimeHours)
	}
	if rep.ByDetector["robust-z"] == 0 || rep.Model != nil || len(rep.Sensors) != 2 {
		t.Errorf("by detector %v, model %v, sensors %v", rep.ByDetector, rep.Model, rep.Sensors)
	}
	if len(cps) < 2 {
		t.Fatalf("%d checkpoints, want several pages", len(cps))
	}
	// The JSON contract's fields, and a small report.
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dataset", "asset_id", "sensors", "from", "to", "model", "detectors", "sustain", "readings", "anomalies",
		"anomalies_by_severity", "anomalies_by_detector", "alarms", "alarms_per_day", "first_alarm", "alarm_times", "failure_at", "caught", "lead_time_hours", "chart"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	if len(b) > 64<<10 {
		t.Errorf("report is %d bytes", len(b))
	}
	for _, c := range rep.Charts() {
		var buf bytes.Buffer
		if err := c.WritePNG(&buf); err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(&buf); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
	}

	// Resumed from a checkpoint before the step, through JSON as in a
	// heartbeat, the replay reports the same.
	var mid backtest.StoredCheckpoint
	for _, cp := range cps {
		if cp.Cursor.Before(stepAt) {
			mid = cp
		}
	}
	if mid.Cursor.IsZero() {
		t.Fatal("no checkpoint before the step")
	}
	raw, _ := json.Marshal(mid)
	var resume backtest.StoredCheckpoint
	if err := json.Unmarshal(raw, &resume); err != nil {
		t.Fatal(err)
	}
	pages := 0
	o.Resume, o.Checkpoint = &resume, func(backtest.StoredCheckpoint) error { pages++; return nil }
	again, err := backtest.Stored(context.Background(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Readings != rep.Readings || again.Alarms != rep.Alarms || again.Anomalies != rep.Anomalies ||
		!again.FirstAlarm.RaisedAt.Equal(rep.FirstAlarm.RaisedAt) {
		t.Errorf("resumed: readings %d alarms %d anomalies %d first %v; uninterrupted: %d %d %d %v",
			again.Readings, again.Alarms, again.Anomalies, again.FirstAlarm, rep.Readings, rep.Alarms, rep.Anomalies, rep.FirstAlarm)
	}
	if pages >= len(cps) {
		t.Errorf("the resumed replay read %d pages, the whole one %d", pages, len(cps))
	}
}

func TestStoredUnknownSensor(t *testing.T) {
	db, _ := testenv.DB(t)
	tenant := testenv.Tenant(t, db, "acme")
	seedStep(t, db, tenant)
	_, err := backtest.Stored(context.Background(), db, backtest.StoredOptions{Tenant: tenant, AssetID: "press-1", Sensors: []string{"nope"},
		From: stepStart, To: stepAt})
	if err == nil {
		t.Fatal("no error for an unknown sensor")
	}
}

// BenchmarkStored replays a week of minute readings of ten sensors
// (100,800 readings) per iteration.
func BenchmarkStored(b *testing.B) {
	db, _ := testenv.DB(b)
	tenant := testenv.Tenant(b, db, "acme")
	ctx := context.Background()
	if _, err := db.CreateAsset(ctx, tenant, store.Asset{ID: "line-1", Type: "line"}); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	var rows []store.Reading
	for i := range 10 {
		s, err := db.CreateSensor(ctx, tenant, store.Sensor{AssetID: "line-1", ID: fmt.Sprintf("s%d", i), Unit: "u"})
		if err != nil {
			b.Fatal(err)
		}
		for ts := stepStart; ts.Before(stepStart.Add(7 * 24 * time.Hour)); ts = ts.Add(time.Minute) {
			rows = append(rows, store.Reading{TenantID: tenant, SensorKey: s.Key, TS: ts.Add(time.Duration(i) * time.Second), Value: 50 + rng.NormFloat64()})
		}
	}
	for c := range slices.Chunk(rows, 10000) {
		if err := db.WriteReadings(ctx, nil, c); err != nil {
			b.Fatal(err)
		}
	}
	o := backtest.StoredOptions{Tenant: tenant, AssetID: "line-1", From: stepStart, To: stepStart.Add(7 * 24 * time.Hour)}
	b.ResetTimer()
	for b.Loop() {
		rep, err := backtest.Stored(ctx, db, o)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Readings != int64(len(rows)) {
			b.Fatalf("%d readings, want %d", rep.Readings, len(rows))
		}
	}
	b.ReportMetric(float64(len(rows))*float64(b.N)/b.Elapsed().Seconds(), "readings/s")
}
