package risk

import (
	"bytes"
	"context"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

var t0 = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

func hour(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }

func feature(t *testing.T, x []float64, name string) float64 {
	t.Helper()
	i := slices.Index(FeatureNames, name)
	if i < 0 {
		t.Fatalf("no feature %q", name)
	}
	return x[i]
}

func TestFeatureNames(t *testing.T) {
	if len(FeatureNames) != 30 || offAge != len(FeatureNames)-1 {
		t.Fatalf("%d feature names, age at %d", len(FeatureNames), offAge)
	}
	seen := map[string]bool{}
	for _, n := range FeatureNames {
		if seen[n] {
			t.Errorf("duplicate feature %q", n)
		}
		seen[n] = true
	}
}

func TestBuilder(t *testing.T) {
	b := NewBuilder([]dataset.AzureMachine{{ID: 7, Model: "model3", Age: 12}})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// Events arrive before their hours and out of order.
	must(b.Maintenance(dataset.AzureEvent{Time: hour(30), Machine: 7, Kind: "comp2"})) // at the predicted hour: unused
	must(b.Maintenance(dataset.AzureEvent{Time: hour(10), Machine: 7, Kind: "comp2"}))
	must(b.Maintenance(dataset.AzureEvent{Time: hour(29), Machine: 7, Kind: "comp1"}))
	must(b.Error(dataset.AzureEvent{Time: hour(30), Machine: 7, Kind: "error1"})) // at the predicted hour: unused
	must(b.Error(dataset.AzureEvent{Time: hour(6), Machine: 7, Kind: "error1"}))  // exactly 24 h before: counted
	must(b.Error(dataset.AzureEvent{Time: hour(5), Machine: 7, Kind: "error1"}))  // 25 h before: not
	must(b.Error(dataset.AzureEvent{Time: hour(20), Machine: 7, Kind: "error4"}))
	must(b.Error(dataset.AzureEvent{Time: hour(29), Machine: 7, Kind: "error4"}))
	var x []float64
	for h := 0; h <= 30; h++ {
		v := float64(h)
		var ready bool
		var err error
		x, ready, err = b.Telemetry(dataset.AzureTelemetry{Time: hour(h), Machine: 7, Volt: v, Rotate: 2 * v, Pressure: 100, Vibration: -v}, x)
		must(err)
		if want := h >= LongWindow-1; ready != want {
			t.Fatalf("hour %d: ready %v, want %v", h, ready, want)
		}
	}
	// Hour 30: the long window holds hours 7..30, the short one 28..30.
	for _, c := range []struct {
		name string
		want float64
	}{
		{"volt_mean_3h", 29},
		{"volt_std_3h", math.Sqrt(2.0 / 3)},
		{"volt_mean_24h", 18.5},
		{"volt_std_24h", math.Sqrt((24*24 - 1) / 12.0)},
		{"rotate_mean_24h", 37},
		{"pressure_std_24h", 0},
		{"vibration_mean_3h", -29},
		{"error1_count_24h", 1},
		{"error2_count_24h", 0},
		{"error4_count_24h", 2},
		{"comp1_hours_since_maint", 1},
		{"comp2_hours_since_maint", 20},
		{"comp3_hours_since_maint", -1},
		{"model_model3", 1},
		{"model_model1", 0},
		{"age_years", 12},
	} {
		if got := feature(t, x, c.name); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	// The hour-30 records count from hour 31 on.
	x, _, err := b.Telemetry(dataset.AzureTelemetry{Time: hour(31), Machine: 7}, x)
	must(err)
	if feature(t, x, "comp2_hours_since_maint") != 1 || feature(t, x, "error1_count_24h") != 1 {
		t.Errorf("hour 31: comp2 %v hours, error1 %v", feature(t, x, "comp2_hours_since_maint"), feature(t, x, "error1_count_24h"))
	}

	if _, _, err := b.Telemetry(dataset.AzureTelemetry{Time: hour(31), Machine: 7}, x); !errors.Is(err, ErrOutOfOrder) {
		t.Errorf("repeated hour: %v, want ErrOutOfOrder", err)
	}
	for name, err := range map[string]error{
		"unknown machine":   b.Error(dataset.AzureEvent{Time: hour(1), Machine: 8, Kind: "error1"}),
		"unknown error":     b.Error(dataset.AzureEvent{Time: hour(1), Machine: 7, Kind: "error9"}),
		"unknown component": b.Maintenance(dataset.AzureEvent{Time: hour(1), Machine: 7, Kind: "comp5"}),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestLabeler(t *testing.T) {
	l := NewLabeler([]dataset.AzureEvent{{Time: hour(100), Machine: 1, Kind: "comp1"}, {Time: hour(50), Machine: 1, Kind: "comp2"}})
	for _, c := range []struct {
		m, h int
		want bool
	}{
		{1, 75, false}, {1, 76, true}, {1, 99, true}, {1, 100, false}, {1, 26, true}, {1, 25, false}, {2, 80, false},
	} {
		if got := l.Label(c.m, hour(c.h)); got != c.want {
			t.Errorf("machine %d hour %d: %v, want %v", c.m, c.h, got, c.want)
		}
	}
}

func TestEvaluate(t *testing.T) {
	y := []bool{true, false, true, false, false, false, false, false, false, false}
	s := []float64{0.9, 0.8, 0.7, 0.1, 0.2, 0.3, 0.05, 0.0, 0.01, 0.02}
	e, err := Evaluate(y, s, 0.2, 0.75)
	if err != nil {
		t.Fatal(err)
	}
	if e.Alerts != 2 || e.Precision != 0.5 || e.Recall != 0.5 || e.ThresholdAlerts != 2 || e.Positives != 2 {
		t.Errorf("%+v", e)
	}
	if thr := TopRateThreshold(s, 0.3); thr != 0.7 {
		t.Errorf("top 30%% threshold %v, want 0.7", thr)
	}
}

// TestReplayCausal checks on the real data that an hour's vector does not
// change when every record at or after that hour is removed.
func TestReplayCausal(t *testing.T) {
	d := loadAzure(t)
	at := time.Date(2015, 1, 5, 5, 0, 0, 0, time.UTC) // machine 1's comp4 failure and repair are at 06:00
	at2 := at.Add(time.Hour)
	vectors := func(d *dataset.AzurePdM) map[time.Time][]float64 {
		out := map[time.Time][]float64{}
		err := Replay(context.Background(), d, func(h Hour) error {
			if h.Machine == 1 && (h.Time.Equal(at) || h.Time.Equal(at2)) {
				out[h.Time] = slices.Clone(h.X)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	full := vectors(d)
	for _, when := range []time.Time{at, at2} {
		cut := *d
		before := func(ev []dataset.AzureEvent) []dataset.AzureEvent {
			return slices.DeleteFunc(slices.Clone(ev), func(e dataset.AzureEvent) bool { return !e.Time.Before(when) })
		}
		cut.Errors, cut.Maintenance, cut.Failures = before(d.Errors), before(d.Maintenance), nil
		cut.Telemetry = slices.DeleteFunc(slices.Clone(d.Telemetry), func(r dataset.AzureTelemetry) bool { return r.Time.After(when) })
		got := vectors(&cut)[when]
		if !slices.Equal(got, full[when]) {
			t.Errorf("%v: vector with the future %v, without %v", when, full[when], got)
		}
	}
	if h := feature(t, full[at2], "comp4_hours_since_maint"); h < 24 {
		t.Errorf("at the failure hour comp4 was last maintained %v hours before: the repair at that hour leaked", h)
	}
}

func loadAzure(t *testing.T) *dataset.AzurePdM {
	t.Helper()
	d, err := dataset.ShippedAzurePdM()
	if err != nil {
		t.Skip(err)
	}
	return d
}

// TestTrain trains one candidate on January–February and checks the split,
// the March figures against the baselines and the model file.
func TestTrain(t *testing.T) {
	if testing.Short() {
		t.Skip("trains on 27,000 machine-hours")
	}
	d := loadAzure(t)
	cfg := Config{Candidates: DefaultCandidates()[:1]}
	r, err := Train(context.Background(), d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	// Jan 2 05:00 (first full 24 h window) to Feb 27 23:00 (label window
	// closes before March), and all of March, for 20 machines.
	if r.Train.Rows != 20*1363 || r.Test.Rows != 20*31*24 {
		t.Errorf("rows: train %d, test %d; want %d, %d", r.Train.Rows, r.Test.Rows, 20*1363, 20*31*24)
	}
	// Positives: every March hour with a failure of its machine in the
	// next 24 h, counted independently.
	marchStart, marchEnd := time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2015, 4, 1, 0, 0, 0, 0, time.UTC)
	want := 0
	for m := 1; m <= 20; m++ {
		for h := marchStart; h.Before(marchEnd); h = h.Add(time.Hour) {
			for _, f := range d.Failures {
				if f.Machine == m && f.Time.After(h) && !f.Time.After(h.Add(24*time.Hour)) {
					want++
					break
				}
			}
		}
	}
	if r.Test.Positives != want {
		t.Errorf("%d positive March hours, want %d", r.Test.Positives, want)
	}
	if r.Test.ROCAUC < 0.9 || r.Test.PRAUC < 0.5 {
		t.Errorf("March ROC AUC %.3f, PR AUC %.3f: want at least 0.9 and 0.5", r.Test.ROCAUC, r.Test.PRAUC)
	}
	for _, b := range r.Baselines {
		if b.Eval.PRAUC >= r.Test.PRAUC {
			t.Errorf("baseline %s PR AUC %.3f not below the model's %.3f", b.Name, b.Eval.PRAUC, r.Test.PRAUC)
		}
	}
	if r.Threshold <= 0 || r.Threshold >= 1 {
		t.Errorf("threshold %v outside (0, 1)", r.Threshold)
	}
	if n := r.Test.Alerts; n != int(math.Ceil(0.01*float64(r.Test.Rows))) {
		t.Errorf("%d top-1%% alerts of %d rows", n, r.Test.Rows)
	}
	b, err := modelfile.Marshal(r.Model)
	if err != nil {
		t.Fatal(err)
	}
	m, err := modelfile.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ModelFeatures(m); err != nil {
		t.Error(err)
	}
	if m.Meta.Dataset != DatasetName || m.Meta.Threshold != r.Threshold || m.Meta.Rows != r.Train.Rows {
		t.Errorf("metadata %+v", m.Meta)
	}
	x := make([]float64, len(FeatureNames))
	if a, b := m.Scorer.Score(x), r.Model.Scorer.Score(x); a != b {
		t.Errorf("reloaded model scores %v, trained %v", a, b)
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil || !bytes.Contains(buf.Bytes(), []byte("errors_24h")) {
		t.Errorf("table: %v\n%s", err, buf.String())
	}
}

// TestAblation refits the first default candidate without each group of
// features and logs the March figures. The simulator logs errors exactly
// 24 h before most failures, so the error counts carry most of the signal.
func TestAblation(t *testing.T) {
	if testing.Short() {
		t.Skip("trains five models")
	}
	d := loadAzure(t)
	tab, err := BuildTable(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	group := func(prefixes ...string) []string {
		var out []string
		for _, n := range FeatureNames {
			for _, p := range prefixes {
				if len(n) >= len(p) && n[:len(p)] == p {
					out = append(out, n)
				}
			}
		}
		return out
	}
	pr := map[string]float64{}
	for _, c := range []struct {
		name    string
		exclude []string
	}{
		{"all features", nil},
		{"no error counts", group("error")},
		{"no telemetry", group("volt", "rotate", "pressure", "vibration")},
		{"no maintenance", group("comp")},
		{"no machine model or age", group("model_", "age")},
	} {
		r, err := TrainTable(context.Background(), tab, Config{Candidates: DefaultCandidates()[:1], Exclude: c.exclude})
		if err != nil {
			t.Fatal(err)
		}
		pr[c.name] = r.Test.PRAUC
		t.Logf("%-24s March PR AUC %.3f ROC AUC %.3f precision@1%% %.3f recall@1%% %.3f; at the threshold %d alerts, precision %.3f recall %.3f",
			c.name, r.Test.PRAUC, r.Test.ROCAUC, r.Test.Precision, r.Test.Recall, r.Test.ThresholdAlerts, r.Test.ThresholdPrecision, r.Test.ThresholdRecall)
	}
	if pr["no error counts"] >= pr["all features"] {
		t.Errorf("PR AUC without error counts %.3f not below all features' %.3f", pr["no error counts"], pr["all features"])
	}
	if _, err := TrainTable(context.Background(), tab, Config{Candidates: DefaultCandidates()[:1], Exclude: []string{"nope"}}); err == nil {
		t.Error("excluding an unknown feature: no error")
	}
}
