package activities_test

import (
	"context"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/backtest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestRunBacktestResumes: an attempt given the heartbeat details of an
// earlier one continues from its checkpoint and reports what the
// uninterrupted replay reports.
func TestRunBacktestResumes(t *testing.T) {
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "acme")
	ctx := context.Background()
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "press-1", Type: "press"}); err != nil {
		t.Fatal(err)
	}
	temp, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "press-1", ID: "temp", Unit: "C"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	step := start.Add(12 * time.Hour)
	var rows []store.Reading
	for i := range 24 * 60 {
		ts := start.Add(time.Duration(i) * time.Minute)
		v := 50 + float64(i%7)*0.1
		if !ts.Before(step) {
			v += 30
		}
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: temp.Key, TS: ts, Value: v})
	}
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
	in := activities.BacktestInput{TenantID: "acme", AssetID: "press-1", From: start, To: start.Add(24 * time.Hour)}
	a := &activities.Backtests{DB: db}
	var suite testsuite.WorkflowTestSuite
	newEnv := func() *testsuite.TestActivityEnvironment {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(a)
		return env
	}

	whole, err := newEnv().ExecuteActivity(a.RunBacktest, in)
	if err != nil {
		t.Fatal(err)
	}
	var want backtest.StoredReport
	if err := whole.Get(&want); err != nil {
		t.Fatal(err)
	}
	// A checkpoint after the step: the first alarm is already counted.
	var cp backtest.StoredCheckpoint
	if _, err := backtest.Stored(ctx, db, backtest.StoredOptions{Tenant: "acme", AssetID: "press-1", From: in.From, To: in.To, PageRows: 100,
		Checkpoint: func(c backtest.StoredCheckpoint) error {
			if cp.Cursor.IsZero() && c.Cursor.After(step.Add(time.Hour)) {
				cp = c
			}
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	if cp.FirstAlarm == nil {
		t.Fatal("no checkpoint past the first alarm")
	}
	env := newEnv()
	env.SetHeartbeatDetails(cp)
	resumed, err := env.ExecuteActivity(a.RunBacktest, in)
	if err != nil {
		t.Fatal(err)
	}
	var got backtest.StoredReport
	if err := resumed.Get(&got); err != nil {
		t.Fatal(err)
	}
	if got.Readings != want.Readings || got.Alarms != want.Alarms || got.Anomalies != want.Anomalies ||
		got.FirstAlarm == nil || !got.FirstAlarm.RaisedAt.Equal(want.FirstAlarm.RaisedAt) {
		t.Errorf("resumed: %d readings, %d alarms, %d anomalies, first %+v; whole: %d, %d, %d, %+v",
			got.Readings, got.Alarms, got.Anomalies, got.FirstAlarm, want.Readings, want.Alarms, want.Anomalies, want.FirstAlarm)
	}

	// Resuming without the heartbeat's counts would lose the alarm: the
	// checkpoint's cursor alone is past it.
	cp.FirstAlarm, cp.Alarms = nil, 0
	env = newEnv()
	env.SetHeartbeatDetails(cp)
	v, err := env.ExecuteActivity(a.RunBacktest, in)
	if err != nil {
		t.Fatal(err)
	}
	var lost backtest.StoredReport
	if err := v.Get(&lost); err != nil {
		t.Fatal(err)
	}
	if lost.FirstAlarm != nil {
		t.Errorf("the resumed attempt replayed from the start: first alarm %+v", lost.FirstAlarm)
	}
}
