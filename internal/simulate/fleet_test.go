package simulate

import (
	"slices"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/modelkind/kindtest"
)

func TestParseFleets(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
		err  bool
	}{
		{"", []string{MillingFleet}, false},
		{"all", Fleets, false},
		{"turbofan-engine, bearing-rig", []string{EngineFleet, BearingFleet}, false},
		{"milling-machine,robots", nil, true},
	} {
		got, err := parseFleets(c.in)
		if (err != nil) != c.err {
			t.Fatalf("%q: error %v", c.in, err)
		}
		for _, f := range c.want {
			if !got[f] {
				t.Errorf("%q: %s missing from %v", c.in, f, got)
			}
		}
		if len(got) != len(c.want) {
			t.Errorf("%q: got %v, want %v", c.in, got, c.want)
		}
	}
}

// readingVector gathers one asset's readings of a step as a vector in the
// order of names.
func readingVector(t *testing.T, rs []Reading, asset string, names []string) []float64 {
	t.Helper()
	x := make([]float64, len(names))
	n := 0
	for _, r := range rs {
		if r.AssetID != asset {
			continue
		}
		i := slices.Index(names, r.SensorID)
		if i < 0 {
			t.Fatalf("%s sends %q, not a feature", asset, r.SensorID)
		}
		x[i] = r.Value
		n++
	}
	if n != len(names) {
		t.Fatalf("%s sent %d of %d features", asset, n, len(names))
	}
	return x
}

// TestEngineFleet checks the engines start Lead + k·Stagger cycles before
// the end of their test records with their history fed to the feature
// builder, send the RUL model's features as sensors, and start again
// after their last cycle.
func TestEngineFleet(t *testing.T) {
	path, err := dataset.CMAPSSPath("test_FD001.txt")
	if err != nil {
		t.Skip(err)
	}
	test, err := dataset.LoadCMAPSSEngines(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := newEngineFleet(EngineOptions{Engines: test, Units: []int{31, 34, 1}, Lead: 10, Stagger: 5})
	if err != nil {
		t.Fatal(err)
	}
	names := rul.FeatureNames()
	as := f.assets()
	if len(as) != 3 || as[0].ID != "engine-31" || as[0].Body["type"] != EngineType || len(as[0].Sensors) != len(names) {
		t.Fatalf("assets %+v", as)
	}
	for i, s := range as[0].Sensors {
		want := detect.FeatureSensorKind
		if s.ID == "age" {
			want = "counter"
		}
		if s.ID != names[i] || s.Kind != want || s.Unit == "" || s.AlarmHigh != nil {
			t.Errorf("sensor %d: %+v", i, s)
		}
	}
	unit := func(u int) dataset.CMAPSSEngine {
		return test[slices.IndexFunc(test, func(e dataset.CMAPSSEngine) bool { return e.Unit == u })]
	}
	// Engine 31 starts 10 cycles before its end, 34 fifteen; engine 1 (31
	// cycles) twenty.
	starts := []int{len(unit(31).Cycles) - 10, len(unit(34).Cycles) - 15, len(unit(1).Cycles) - 20}
	builders := make([]*rul.Builder, 3)
	for k, u := range []int{31, 34, 1} {
		builders[k], _ = rul.NewBuilder(rul.Config{})
		for _, c := range unit(u).Cycles[:starts[k]] {
			builders[k].Update(&c.Sensors)
		}
	}
	for step := range 12 {
		rs := f.next()
		for k, u := range []int{31, 34, 1} {
			cycles := unit(u).Cycles
			i := starts[k] + step
			if i >= len(cycles) { // overhauled: again from the start cycle
				i = starts[k] + (i - len(cycles))
				if i == starts[k] {
					builders[k].Reset()
					for _, c := range cycles[:starts[k]] {
						builders[k].Update(&c.Sensors)
					}
				}
			}
			want := builders[k].Update(&cycles[i].Sensors)
			if got := readingVector(t, rs, as[k].ID, names); !slices.Equal(got, want) {
				t.Fatalf("step %d, %s: features differ from the builder's at cycle %d", step, as[k].ID, cycles[i].Cycle)
			}
		}
	}
}

// TestEnginesReachTheirEnd replays the default fleet against a RUL model
// trained on other engines (kindtest.RUL: the first 20 FD001 training
// engines) and checks each engine's interval falls under the dev
// threshold of 30 cycles before its record ends, the first within two
// minutes of ticks.
func TestEnginesReachTheirEnd(t *testing.T) {
	m := kindtest.RUL(t).Model
	f, err := newEngineFleet(EngineOptions{})
	if err != nil {
		t.Skip(err)
	}
	p := m.Scorer.(interface {
		Predict([]float64) (float64, float64, float64)
	})
	first := make([]int, len(f.engines))
	for step := 1; slices.Contains(first, 0) && step <= 400; step++ {
		rs := f.next()
		for k, e := range f.engines {
			if first[k] > 0 {
				continue
			}
			if e.pos == e.start+1 && step > 1 {
				t.Fatalf("%s ran out of its record (%d cycles from %d) without an RUL under 30", e.id, len(e.rec.Cycles), e.start)
			}
			if _, lower, _ := p.Predict(readingVector(t, rs, e.id, m.Meta.FeatureNames)); lower < 30 {
				first[k] = step
			}
		}
	}
	t.Logf("ticks to an RUL lower bound under 30 cycles, engine by engine: %v", first)
	if first[0] > 120 {
		t.Errorf("the first engine took %d ticks", first[0])
	}
}

func TestBearingFleet(t *testing.T) {
	times, snaps, err := LoadIMSRun()
	if err != nil {
		t.Skip(err)
	}
	if len(snaps) != 984 || len(snaps[0]) != IMSBearings || !slices.IsSortedFunc(times, func(a, b time.Time) int { return a.Compare(b) }) {
		t.Fatalf("%d snapshots of %d bearings", len(snaps), len(snaps[0]))
	}
	f, err := newBearingFleet(BearingOptions{Times: times, Snapshots: snaps, Start: 981})
	if err != nil {
		t.Fatal(err)
	}
	as := f.assets()
	if len(as) != 1 || as[0].ID != BearingRigID || as[0].Body["type"] != BearingType || len(as[0].Sensors) != 12 || as[0].Sensors[0].ID != "b1_rms" {
		t.Fatalf("assets %+v", as)
	}
	for step, want := range []int{981, 982, 983, 981} {
		rs := f.next()
		if len(rs) != 12 || rs[1].SensorID != "b1_kurtosis" || rs[1].Value != snaps[want][0].Kurtosis || rs[11].Value != snaps[want][3].CrestFactor {
			t.Fatalf("step %d: want snapshot %d, got %+v", step, want, rs)
		}
	}
	if _, err := newBearingFleet(BearingOptions{Times: times, Snapshots: snaps, Start: 984}); err == nil {
		t.Error("start past the run accepted")
	}
}
