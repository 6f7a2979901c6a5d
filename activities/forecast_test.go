package activities_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// demoSeries replays the AI4I dataset as the simulator does (six assets,
// every fault, one step a second ending at end) and returns each asset's
// process_temp readings, leaving out the invalid ones ingest refuses, and the
// sensor's spec.
func demoSeries(t *testing.T, steps int, end time.Time) (map[string][]store.Point, simulate.SensorSpec) {
	t.Helper()
	path, err := dataset.AI4IPath()
	if err != nil {
		t.Skip("AI4I 2020 dataset not available:", err)
	}
	recs, err := dataset.LoadAI4I(path)
	if err != nil {
		t.Fatal(err)
	}
	r, err := simulate.NewReplay(recs, 6, "all", 1)
	if err != nil {
		t.Fatal(err)
	}
	var spec simulate.SensorSpec
	for _, s := range r.Sensors() {
		if s.ID == "process_temp" {
			spec = s
		}
	}
	out := map[string][]store.Point{}
	for i := range steps {
		st := r.Next()
		ts := end.Add(-time.Duration(steps-1-i) * time.Second)
		for _, rd := range st.Readings {
			if rd.SensorID != "process_temp" || rd.Value < *spec.MinValid || rd.Value > *spec.MaxValid {
				continue
			}
			out[rd.AssetID] = append(out[rd.AssetID], store.Point{TS: ts, Value: rd.Value})
		}
	}
	return out, spec
}

// forecastOn stores the first steps of the demo replay's process_temp of
// asset under a fresh asset id (with the simulator's limits) and runs the
// Forecast activity as the workflow would at the last reading.
func forecastOn(t *testing.T, db *store.DB, env *testsuite.TestActivityEnvironment, a *activities.Incidents, asset string, steps int, end time.Time) (incident.Forecast, []store.Point) {
	t.Helper()
	ctx := context.Background()
	series, spec := demoSeries(t, steps, end)
	id := fmt.Sprintf("%s-at-%d", asset, steps)
	if _, err := db.CreateAsset(ctx, "demo", store.Asset{ID: id, Type: "mill"}); err != nil {
		t.Fatal(err)
	}
	s, err := db.CreateSensor(ctx, "demo", store.Sensor{AssetID: id, ID: "process_temp", Unit: "K", MinValid: spec.MinValid, MaxValid: spec.MaxValid,
		WarnLow: spec.WarnLow, WarnHigh: spec.WarnHigh, AlarmLow: spec.AlarmLow, AlarmHigh: spec.AlarmHigh})
	if err != nil {
		t.Fatal(err)
	}
	pts := series[asset]
	var rows []store.Reading
	for _, p := range pts {
		rows = append(rows, store.Reading{TenantID: "demo", SensorKey: s.Key, TS: p.TS, Value: p.Value})
	}
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
	var ev incident.Evidence
	ev.Add(anomaly.Anomaly{SensorID: "process_temp", TS: end, Severity: anomaly.Critical, Direction: 1, Value: pts[len(pts)-1].Value})
	return execute[incident.Forecast](t, env, a.Forecast, activities.ForecastInput{TenantID: "demo", AssetID: id, Evidence: ev, Severity: anomaly.Critical, Now: end}), pts
}

// TestForecastOnDemoData runs the forecast on the process temperatures the
// demo's simulator sends (AI4I 2020 with injected faults). After mill-01's
// excursion the temperature is back 5 K below its 313.6 K alarm limit and
// flat: the forecast used to say the limit was reached within a minute,
// because its widening interval touched the limit although the trend pointed
// away. Now there is no forecast and the deadline comes from the severity.
// While the excursion ramps up, the forecast's time lies inside its interval.
func TestForecastOnDemoData(t *testing.T) {
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "demo")
	end := time.Now().UTC().Truncate(time.Second)
	a := &activities.Incidents{DB: db}
	env := quietEnv(a)
	const repair = 120 * time.Minute // the demo assets' default

	t.Run("after the excursion", func(t *testing.T) {
		f, pts := forecastOn(t, db, env, a, "mill-01", 340, end)
		last := pts[len(pts)-1].Value
		if f.Limit-last < 4 {
			t.Fatalf("last reading %.1f is not well below the limit %g: not the issue's case", last, f.Limit)
		}
		if f.Method != "none" || f.TimeToLimit != 0 || f.Earliest != 0 || !strings.Contains(f.Detail, "no forecast") {
			t.Errorf("forecast %+v for a flat series 5 K below its limit", f)
		}
		if got := f.Deadline.Sub(end); got != 4*time.Hour || f.Priority != "critical" {
			t.Errorf("deadline in %s, priority %s; want the critical response time of 4h", got, f.Priority)
		}
	})
	t.Run("while the excursion ramps up", func(t *testing.T) {
		f, _ := forecastOn(t, db, env, a, "mill-01", 21, end)
		if f.Method != "damped-holt" || f.TimeToLimit <= 0 || f.Earliest <= 0 || f.Earliest > f.TimeToLimit ||
			f.Latest != 0 && f.Latest < f.TimeToLimit {
			t.Errorf("forecast %+v: want a time to the limit inside its interval", f)
		}
		if d := f.Deadline.Sub(end); d < repair {
			t.Errorf("deadline in %s leaves less than the %s repair", d, repair)
		}
	})
	t.Run("every asset at every moment", func(t *testing.T) {
		for _, steps := range []int{33, 60, 120, 300, 400, 600, 900} {
			for _, asset := range []string{"mill-01", "mill-02", "mill-03", "mill-04", "mill-05", "mill-06"} {
				f, _ := forecastOn(t, db, env, a, asset, steps, end)
				if f.Method == "damped-holt" && (f.TimeToLimit <= 0 || f.Earliest > f.TimeToLimit || f.Latest != 0 && f.Latest < f.TimeToLimit) {
					t.Errorf("%s after %d steps: forecast %+v is not an ordered interval around a central time", asset, steps, f)
				}
				if d := f.Deadline.Sub(end); d < repair {
					t.Errorf("%s after %d steps: deadline in %s leaves less than the %s repair (%s)", asset, steps, d, repair, f.Detail)
				}
			}
		}
	})
}
