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
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/modelkind/kindtest"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/registrytest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// modelRig is tenant plant with a registry, the binding store and the
// Incidents activities over them.
type modelRig struct {
	db  *store.DB
	reg *registry.Registry
	st  *binding.Store
	a   *activities.Incidents
	env *testsuite.TestActivityEnvironment
}

func newModelRig(t *testing.T) *modelRig {
	t.Helper()
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "plant")
	reg, _ := registrytest.New(t, db)
	r := &modelRig{db: db, reg: reg, st: &binding.Store{DB: db}}
	r.a = &activities.Incidents{DB: db, Registry: reg, Bindings: r.st}
	r.env = quietEnv(r.a)
	return r
}

// bind registers m as version 1 of name, the champion, and binds name to
// asset type typ as kind (identity features).
func (r *modelRig) bind(t *testing.T, typ string, kind modelkind.Kind, name string, m modelfile.Model, threshold *float64) registry.Version {
	t.Helper()
	ctx := context.Background()
	data, err := modelfile.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	v, err := r.reg.Create(ctx, "plant", registry.NewVersion{Name: name, Kind: modelfile.KindOf(m.Scorer), Features: m.Meta.FeatureNames,
		TrainingData: m.Meta.Dataset, CreatedBy: "test"}, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.reg.Promote(ctx, "plant", registry.Promotion{Name: name, Alias: registry.Champion, Version: v.Version, Actor: "test", Reason: "forecast test"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Put(ctx, binding.Binding{TenantID: "plant", AssetType: typ, Kind: kind, Model: name,
		Features: map[string]string{}, Threshold: threshold, UpdatedBy: "test"}); err != nil {
		t.Fatal(err)
	}
	return v
}

// asset creates an asset of typ with a sensor per feature and stores rows
// (feature vectors) as its readings, row i at times[i].
func (r *modelRig) asset(t *testing.T, id, typ string, features []string, rows [][]float64, times []time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.db.CreateAsset(ctx, "plant", store.Asset{ID: id, Type: typ}); err != nil {
		t.Fatal(err)
	}
	keys := make([]int64, len(features))
	for i, f := range features {
		s, err := r.db.CreateSensor(ctx, "plant", store.Sensor{AssetID: id, ID: f, Kind: "gauge", Unit: "1"})
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = s.Key
	}
	var out []store.Reading
	for i, row := range rows {
		for j, v := range row {
			out = append(out, store.Reading{TenantID: "plant", SensorKey: keys[j], TS: times[i], Value: v})
		}
	}
	if err := r.db.WriteReadings(ctx, nil, out); err != nil {
		t.Fatal(err)
	}
}

func (r *modelRig) forecast(t *testing.T, asset string, ev incident.Evidence, now time.Time) incident.Forecast {
	t.Helper()
	return execute[incident.Forecast](t, r.env, r.a.Forecast, activities.ForecastInput{TenantID: "plant", AssetID: asset, Evidence: ev, Severity: ev.Severity, Now: now})
}

// TestForecastWithBoundRUL: turbofans bound to a C-MAPSS RUL model
// (kindtest.RUL: trained on FD001 engines 1–20) are forecast by it. Engine
// 21, which the model never saw, reports one cycle a minute; 60 cycles
// before its failure the forecast is the model's remaining life and
// interval in minutes, measured from the age feature, with the model's
// name and version, and the deadline planned against the lower bound. A
// RUL finding in the evidence is used as it stands, aged by the minutes
// since. Without readings, or without a champion, the trend projection
// serves and says why.
func TestForecastWithBoundRUL(t *testing.T) {
	fix := kindtest.RUL(t)
	r := newModelRig(t)
	ctx := context.Background()
	v := r.bind(t, "turbofan", modelkind.RUL, "rul-turbofan", fix.Model, new(30.0))
	now := time.Now().UTC().Truncate(time.Second)
	const left = 60 // cycles before engine 21's failure
	cycles := fix.Cycles[:len(fix.Cycles)-left]
	features := fix.Model.Meta.FeatureNames
	minutes := make([]time.Time, len(cycles))
	for i := range minutes {
		minutes[i] = now.Add(-time.Duration(len(cycles)-1-i) * time.Minute)
	}
	r.asset(t, "engine-21", "turbofan", features, cycles, minutes)
	ageSensor := "age"

	var ev incident.Evidence
	ev.Add(anomaly.Anomaly{SensorID: ageSensor, TS: now, Severity: anomaly.Major, Detector: "threshold", Value: float64(len(cycles))})

	f := r.forecast(t, "engine-21", ev, now)
	t.Logf("from readings: %s; deadline in %s, priority %s", f.Detail, f.Deadline.Sub(now), f.Priority)
	est := f.Estimate
	if f.Method != incident.ForecastRUL || f.Model != "rul-turbofan" || f.ModelVersion != v.Version || est == nil || f.Fallback != "" {
		t.Fatalf("forecast %+v: want the bound RUL model's", f)
	}
	if est.Source != incident.SourceReadings || est.Unit != incident.UnitCycles || time.Duration(est.Per) != time.Minute {
		t.Errorf("estimate %+v: want scored from readings, in cycles of one minute", est)
	}
	if !(est.Lower <= est.Value && est.Value <= est.Upper) || !(est.Lower < left+30 && est.Upper > left-30) {
		t.Errorf("estimate %.1f [%.1f, %.1f] cycles, %d cycles before the failure", est.Value, est.Lower, est.Upper, left)
	}
	if time.Duration(f.Earliest) != time.Duration(est.Lower*float64(time.Minute)) {
		t.Errorf("earliest %s for a lower bound of %.2f one-minute cycles", f.Earliest, est.Lower)
	}
	for _, want := range []string{"rul-turbofan v1", "interval [", "age feature", "lower bound"} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("detail %q does not say %q", f.Detail, want)
		}
	}
	if f.Deadline.Before(now.Add(2*time.Hour)) || f.Deadline.After(now.Add(time.Duration(f.Earliest))) && f.Deadline.After(now.Add(2*time.Hour)) {
		t.Errorf("deadline in %s: want before the lower bound's %s, or the 2 h repair", f.Deadline.Sub(now), f.Earliest)
	}

	// The detector's finding of 10 minutes ago: its figures, less 10 cycles.
	found := ev
	found.Add(anomaly.Anomaly{SensorID: ageSensor, TS: now.Add(-10 * time.Minute), Severity: anomaly.Major, Detector: string(modelkind.RUL),
		Reason: fmt.Sprintf("rul model=rul-turbofan version=%d rul=50 lower=35 upper=70 threshold=30", v.Version)})
	g := r.forecast(t, "engine-21", found, now)
	t.Logf("from the finding: %s", g.Detail)
	if e := g.Estimate; e == nil || e.Source != incident.SourceFinding || e.Value != 40 || e.Lower != 25 || e.Upper != 60 || time.Duration(g.Earliest) != 25*time.Minute {
		t.Errorf("forecast from the finding %+v, estimate %+v: want 40 [25, 60] cycles of a minute", g, g.Estimate)
	}
	// A finding of another version is not this champion's.
	stale := ev
	stale.Add(anomaly.Anomaly{SensorID: ageSensor, TS: now, Severity: anomaly.Major, Detector: string(modelkind.RUL),
		Reason: "rul model=rul-turbofan version=99 rul=1 lower=0 upper=2 threshold=30"})
	if h := r.forecast(t, "engine-21", stale, now); h.Estimate == nil || h.Estimate.Source != incident.SourceReadings {
		t.Errorf("a finding of another version was used: %+v", h.Estimate)
	}

	// A turbofan without readings of the features: the trend, and why.
	r.asset(t, "engine-99", "turbofan", []string{ageSensor}, nil, nil)
	fb := r.forecast(t, "engine-99", ev, now)
	if fb.Method != incident.ForecastNone || !strings.Contains(fb.Fallback, "rul-turbofan v1 cannot forecast") || !strings.Contains(fb.Detail, "trend projection instead") {
		t.Errorf("without readings: %+v", fb)
	}

	// Without a champion: the trend, and why.
	if _, err := r.reg.RemoveAlias(ctx, "plant", "rul-turbofan", registry.Champion, "test", "forecast test"); err != nil {
		t.Fatal(err)
	}
	nc := r.forecast(t, "engine-21", ev, now)
	if nc.Method == incident.ForecastRUL || !strings.Contains(nc.Fallback, "has no champion") {
		t.Errorf("without a champion: %+v", nc)
	}
}

// TestForecastWithBoundBearingHealth: a rig bound to a bearing health
// model (kindtest.Bearing: learned from the first day of IMS 2nd_test)
// has its stored snapshots replayed through the model, and the bearing
// whose vibration trend reaches the failure level first sets the
// forecast: hours with an interval, planned against its lower bound. Early
// in the run, before any sustained alarm, there is no trend to
// extrapolate and the trend projection serves, saying so.
func TestForecastWithBoundBearingHealth(t *testing.T) {
	fix := kindtest.Bearing(t)
	r := newModelRig(t)
	v := r.bind(t, "rig", modelkind.BearingHealth, "health-rig", fix.Model, nil)
	features := fix.Model.Meta.FeatureNames
	end := len(fix.Snapshots) - 72 // twelve hours of 10-minute snapshots before the run's end
	now := time.Now().UTC().Truncate(time.Second)
	put := func(id string, n int) {
		t.Helper()
		shift := now.Sub(fix.Times[n-1])
		times := make([]time.Time, n)
		for i := range times {
			times[i] = fix.Times[i].Add(shift)
		}
		r.asset(t, id, "rig", features, fix.Snapshots[:n], times)
	}
	put("rig-late", end)
	var ev incident.Evidence
	ev.Add(anomaly.Anomaly{SensorID: "b1_rms", TS: now, Severity: anomaly.Major, Detector: string(modelkind.BearingHealth), Value: 1,
		Reason: fmt.Sprintf("bearing_health model=health-rig version=%d health=9.3 threshold=6 streak=3", v.Version)})
	f := r.forecast(t, "rig-late", ev, now)
	t.Logf("late in the run: %s; deadline in %s, priority %s", f.Detail, f.Deadline.Sub(now), f.Priority)
	if f.Method != incident.ForecastBearingHealth || f.Model != "health-rig" || f.ModelVersion != v.Version || f.Estimate == nil ||
		f.Estimate.Unit != incident.UnitHours || !(f.Estimate.Lower <= f.Estimate.Value) || f.Earliest <= 0 && !f.Reached {
		t.Fatalf("forecast %+v, estimate %+v: want the bearing model's", f, f.Estimate)
	}
	if !strings.Contains(f.Detail, "health-rig v1") || !strings.Contains(f.Detail, "RMS trend") {
		t.Errorf("detail %q", f.Detail)
	}

	put("rig-early", 20) // a few hours after the baseline: healthy
	g := r.forecast(t, "rig-early", ev, now)
	if g.Method == incident.ForecastBearingHealth || !strings.Contains(g.Fallback, "no bearing has a sustained alarm") {
		t.Errorf("early in the run: %+v", g)
	}
}
