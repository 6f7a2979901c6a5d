package mlops_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/registrytest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func normal(rng *rand.Rand, n int, mean, sd float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + sd*rng.NormFloat64()
	}
	slices.Sort(out)
	return out
}

func TestCheckDrift(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	ref := mlops.Reference{"a": normal(rng, 1000, 0, 1), "b": normal(rng, 1000, 10, 2), "c": normal(rng, 1000, 5, 1)}
	names := []string{"a", "b", "c", "asset.variant=L"}
	p := mlops.DefaultDriftPolicy()
	tests := []struct {
		name    string
		current map[string][]float64
		status  string
		drifted []string
	}{
		{"same distribution", map[string][]float64{"a": normal(rng, 500, 0, 1), "b": normal(rng, 500, 10, 2), "c": normal(rng, 500, 5, 1)}, mlops.StatusOK, nil},
		{"one feature shifted", map[string][]float64{"a": normal(rng, 500, 1, 1), "b": normal(rng, 500, 10, 2), "c": normal(rng, 500, 5, 1)}, mlops.StatusOK, []string{"a"}},
		{"two shifted", map[string][]float64{"a": normal(rng, 500, 1, 1), "b": normal(rng, 500, 13, 2), "c": normal(rng, 500, 5, 1)}, mlops.StatusDrift, []string{"a", "b"}},
		{"too few values", map[string][]float64{"a": normal(rng, 50, 1, 1), "b": normal(rng, 50, 13, 2), "c": normal(rng, 500, 8, 1)}, mlops.StatusInsufficientData, []string{"c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := p.CheckDrift(names, ref, tt.current)
			if err != nil {
				t.Fatal(err)
			}
			var drifted []string
			for _, f := range res.Features {
				if f.Drifted {
					drifted = append(drifted, f.Name)
				}
			}
			if res.Status != tt.status || !slices.Equal(drifted, tt.drifted) || res.Drifted != (tt.status == mlops.StatusDrift) {
				t.Errorf("status %q drifted %v, want %q %v (%+v)", res.Status, drifted, tt.status, tt.drifted, res.Features)
			}
			if len(res.Features) != 3 {
				t.Errorf("%d features reported; the metadata feature has no reference and is not monitored", len(res.Features))
			}
		})
	}
	if res, _ := p.CheckDrift(names, mlops.Reference{}, nil); res.Status != mlops.StatusNoReference {
		t.Errorf("without a reference: %q", res.Status)
	}
}

func TestEvaluateAndReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([][]float64, 2000)
	for i := range rows {
		rows[i] = []float64{rng.NormFloat64(), 5 + rng.NormFloat64()}
	}
	p := mlops.BootstrapParams
	m, ref, err := mlops.Train(rows, []string{"x", "y"}, p, "synthetic")
	if err != nil {
		t.Fatal(err)
	}
	if len(ref["x"]) != mlops.ReferenceSize || !slices.IsSorted(ref["y"]) {
		t.Errorf("reference sizes %d, %d", len(ref["x"]), len(ref["y"]))
	}
	same := make([][]float64, 1000)
	shifted := make([][]float64, 1000)
	for i := range same {
		same[i] = []float64{rng.NormFloat64(), 5 + rng.NormFloat64()}
		shifted[i] = []float64{2 + rng.NormFloat64(), 5 + rng.NormFloat64()}
	}
	e1, e2 := mlops.Evaluate(m, same, p.Contamination), mlops.Evaluate(m, shifted, p.Contamination)
	if e1.CalibrationError > 0.01 || e2.AnomalyRate < 0.2 || e2.Score >= e1.Score {
		t.Errorf("same distribution %+v, shifted %+v", e1, e2)
	}
	if c := mlops.Contamination(m); c != p.Contamination {
		t.Errorf("contamination %v", c)
	}
}

// rig is a database with a tenant, machines of one type and a registry.
type rig struct {
	db  *store.DB
	reg *registry.Registry
	st  *mlops.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	reg, _ := registrytest.New(t, db)
	return &rig{db: db, reg: reg, st: &mlops.Store{DB: db}}
}

func TestBootstrapAndRecords(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	v, promoted, err := mlops.Bootstrap(ctx, r.reg, r.st, "acme")
	if err != nil || !promoted {
		t.Fatalf("bootstrap: %v %v", promoted, err)
	}
	if v.Name != "iforest-milling-machine" || v.Kind != mlops.Kind || !slices.Equal(v.Features, []string{"air_temp", "process_temp", "speed", "torque", "tool_wear"}) ||
		v.Metrics["roc_auc_failures"] < 0.6 {
		t.Errorf("bootstrapped %+v", v)
	}
	ref, err := r.st.Reference(ctx, "acme", v.Name, v.Version)
	if err != nil || len(ref) != 5 || len(ref["torque"]) != mlops.ReferenceSize {
		t.Fatalf("reference: %d features, %v", len(ref), err)
	}
	mon, err := r.st.Monitored(ctx, "iforest-")
	if err != nil || !slices.Equal(mon, []mlops.ModelRef{{TenantID: "acme", Name: v.Name}}) {
		t.Errorf("monitored %v %v", mon, err)
	}

	// Policy: defaults, then the model's own.
	def := mlops.Policy{Drift: mlops.DefaultDriftPolicy(), MinImprovement: 0.01, ApprovalTimeout: 24 * time.Hour}
	if p, err := r.st.Policy(ctx, "acme", v.Name, def); err != nil || p.Overridden || p.MinImprovement != 0.01 {
		t.Errorf("default policy %+v %v", p, err)
	}
	psi, timeout := 0.3, 2*time.Hour
	if err := r.st.SetPolicy(ctx, "acme", v.Name, mlops.PolicyOverride{RequireApproval: true, ApprovalTimeout: &timeout, PSIThreshold: &psi}, "ana"); err != nil {
		t.Fatal(err)
	}
	p, err := r.st.Policy(ctx, "acme", v.Name, def)
	if err != nil || !p.Overridden || !p.RequireApproval || p.ApprovalTimeout != timeout || p.Drift.PSIThreshold != 0.3 || p.Drift.KSPValue != 0.01 || p.MinImprovement != 0.01 {
		t.Errorf("policy %+v %v", p, err)
	}
	// The promotion settings round-trip; unset ones keep the defaults.
	days, every := 7, time.Second
	promo := mlops.PromotionOverride{BacktestDays: &days, WatchBand: &[2]float64{0, 2}, WatchEvery: &every}
	if err := r.st.SetPolicy(ctx, "acme", v.Name, mlops.PolicyOverride{Promotion: promo}, "ana"); err != nil {
		t.Fatal(err)
	}
	def.Watch, def.Tolerance = mlops.DefaultWatchPolicy(), 0.02
	p, err = r.st.Policy(ctx, "acme", v.Name, def)
	if err != nil || p.BacktestDays != 7 || p.Tolerance != 0.02 || p.Watch.Band == nil || p.Watch.Band[1] != 2 || p.Watch.Every != time.Second || p.Watch.For != 30*time.Minute {
		t.Errorf("promotion policy %+v %v", p, err)
	}
	if err := r.st.SetPolicy(ctx, "acme", "no-such-model", mlops.PolicyOverride{}, "ana"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("policy of an unknown model: %v", err)
	}
	if err := r.st.SetPolicy(ctx, "rival", v.Name, mlops.PolicyOverride{}, "eve"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("policy of another tenant's model: %v", err)
	}

	// Drift checks: one row per run, newest first, tenant-scoped reads.
	for i, run := range []string{"run-1", "run-2", "run-2"} {
		c, err := r.st.RecordDrift(ctx, mlops.DriftCheck{TenantID: "acme", Name: v.Name, Version: 1, Status: mlops.StatusOK,
			WindowFrom: time.Unix(0, 0), WindowTo: time.Unix(3600, 0), RunID: run, Features: []mlops.FeatureDrift{{Name: "torque", PSI: float64(i)}}})
		if err != nil || c.ID == 0 {
			t.Fatal(err)
		}
	}
	if err := r.st.SetDriftRetrain(ctx, "acme", v.Name, "run-2", "retrain/acme/x"); err != nil {
		t.Fatal(err)
	}
	checks, err := r.st.DriftChecks(ctx, "acme", v.Name, 10)
	if err != nil || len(checks) != 2 || checks[0].RunID != "run-2" || checks[0].Features[0].PSI != 1 || checks[0].RetrainWorkflow != "retrain/acme/x" {
		t.Fatalf("checks %+v %v", checks, err)
	}
	if other, err := r.st.DriftChecks(ctx, "rival", v.Name, 10); err != nil || len(other) != 0 {
		t.Errorf("another tenant sees %d checks (%v)", len(other), err)
	}
	latest, err := r.st.LatestDrift(ctx)
	if err != nil || len(latest) != 1 || latest[0].RunID != "run-2" {
		t.Errorf("latest %+v %v", latest, err)
	}

	// Retrain outcomes: recording again replaces.
	rec := mlops.Retrain{TenantID: "acme", Name: v.Name, WorkflowID: "retrain/acme/x", RunID: "r1", Trigger: "api", RequestedBy: "ana",
		Outcome: mlops.OutcomeKept, Reason: "not better", ChampionVersion: 1, StartedAt: time.Now()}
	for range 2 {
		if err := r.st.RecordRetrain(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := r.st.Retrains(ctx, "acme", v.Name, 10)
	if err != nil || len(rs) != 1 || rs[0].Outcome != mlops.OutcomeKept || rs[0].ChallengerVersion != 0 {
		t.Errorf("retrains %+v %v", rs, err)
	}
}

func TestSnapshotsAndRecentValues(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	keys := map[string]int64{}
	for _, asset := range []string{"m1", "m2"} {
		meta := map[string]any{"variant": "L"}
		if asset == "m2" {
			meta["variant"] = "H"
		}
		if _, err := r.db.CreateAsset(ctx, "acme", store.Asset{ID: asset, Type: "mill", Metadata: meta}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"torque", "speed", "other"} {
			sn, err := r.db.CreateSensor(ctx, "acme", store.Sensor{AssetID: asset, ID: s, Unit: "u"})
			if err != nil {
				t.Fatal(err)
			}
			keys[asset+"/"+s] = sn.Key
		}
	}
	if _, err := r.db.CreateAsset(ctx, "acme", store.Asset{ID: "p1", Type: "pump"}); err != nil {
		t.Fatal(err)
	}
	ps, err := r.db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "p1", ID: "torque", Unit: "u"})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	var rows []store.Reading
	add := func(asset, sensor string, at time.Duration, v float64) {
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: keys[asset+"/"+sensor], TS: t0.Add(at), Value: v})
	}
	for i := range 10 {
		at := time.Duration(i) * time.Second
		add("m1", "torque", at, float64(i))
		add("m1", "speed", at+300*time.Millisecond, float64(100+i)) // same bucket
		if i != 4 {
			add("m2", "torque", at, float64(-i)) // m2 misses torque at step 4
		}
		add("m2", "speed", at, float64(-100-i))
		add("m1", "other", at, 1e6)
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: ps.Key, TS: t0.Add(at), Value: 999})
	}
	if err := r.db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}

	names := []string{"torque", "asset.variant=L", "speed"}
	snap, err := mlops.LoadSnapshots(ctx, r.db, "acme", "mill", names, t0, t0.Add(time.Minute), time.Second, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Rows) != 19 {
		t.Fatalf("%d snapshots, want 19 (10 of m1, 9 of m2)", len(snap.Rows))
	}
	for i, row := range snap.Rows {
		step := snap.Times[i].Sub(t0) / time.Second
		want := []float64{float64(step), 1, float64(100 + step)}
		if snap.Assets[i] == "m2" {
			want = []float64{-float64(step), 0, -float64(100 + step)}
		}
		if !slices.Equal(row, want) {
			t.Errorf("row %d (%s at +%ds) = %v, want %v", i, snap.Assets[i], step, row, want)
		}
		if i > 0 && snap.Times[i].Before(snap.Times[i-1]) {
			t.Errorf("rows not oldest first")
		}
	}
	// The newest: limit keeps the end of the window.
	if snap, err := mlops.LoadSnapshots(ctx, r.db, "acme", "mill", names, t0, t0.Add(time.Minute), time.Second, 4); err != nil || len(snap.Rows) != 4 || snap.Times[3] != t0.Add(9*time.Second) {
		t.Errorf("limited: %+v %v", snap, err)
	}
	train, test := snap.Split(0.2)
	if len(train) != 16 || len(test) != 3 {
		t.Errorf("split %d/%d", len(train), len(test))
	}

	// Confirmed faults are left out, from a bucket before the incident
	// opened until it closed (or the window's end while open); a rejected
	// alarm is not.
	closed := t0.Add(6 * time.Second)
	for _, inc := range []incident.Projection{
		{ID: "m1-fault", AssetID: "m1", Status: "resolved", Resolution: "resolved", OpenedAt: t0.Add(3 * time.Second), ClosedAt: &closed},
		{ID: "m2-alarm", AssetID: "m2", Status: "closed", Resolution: "rejected", OpenedAt: t0, ClosedAt: &closed},
		{ID: "m2-fault", AssetID: "m2", Status: "scheduled", OpenedAt: t0.Add(8 * time.Second)},
	} {
		inc.TenantID, inc.WorkflowID, inc.Severity, inc.Seq, inc.UpdatedAt = "acme", "incident/acme/"+inc.AssetID, "major", 1, inc.OpenedAt
		if err := r.db.RecordIncident(ctx, inc, nil); err != nil {
			t.Fatal(err)
		}
	}
	snap, err = mlops.LoadSnapshots(ctx, r.db, "acme", "mill", names, t0, t0.Add(time.Minute), time.Second, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for i := range snap.Rows {
		kept = append(kept, fmt.Sprintf("%s+%d", snap.Assets[i], snap.Times[i].Sub(t0)/time.Second))
	}
	want := "m2+0 m1+0 m2+1 m1+1 m2+2 m2+3 m2+5 m2+6 m1+6 m1+7 m1+8 m1+9"
	if got := strings.Join(kept, " "); got != want {
		t.Errorf("snapshots outside confirmed faults:\n got %s\nwant %s", got, want)
	}

	vals, err := mlops.RecentValues(ctx, r.db, "acme", "mill", []string{"torque", "speed"}, t0, t0.Add(time.Minute), 6)
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != 2 || len(vals["torque"]) != 6 || len(vals["speed"]) != 6 || slices.Contains(vals["torque"], 999) {
		t.Errorf("recent values %v", vals)
	}
	if got := fmt.Sprint(mlops.SensorFeatures(names)); got != "[torque speed]" {
		t.Errorf("sensor features %s", got)
	}
}
