package simulate

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestReplayWithoutFaultsIsTheDataset(t *testing.T) {
	recs := testRecords(t)
	r, err := NewReplay(recs, 4, "none", 1)
	if err != nil {
		t.Fatal(err)
	}
	wantIDs := []string{"mill-01", "mill-02", "mill-03", "mill-04"}
	for i, a := range r.Assets() {
		if a.ID != wantIDs[i] || a.Offset != i*2500 {
			t.Errorf("asset %d = %+v, want %s at offset %d", i, a, wantIDs[i], i*2500)
		}
	}
	for step := range 3 {
		st := r.Next()
		if st.Index != step || len(st.Readings) != 4*numSensors || st.Dropped != 0 {
			t.Fatalf("step %d: index %d, %d readings, %d dropped", step, st.Index, len(st.Readings), st.Dropped)
		}
		for _, rd := range st.Readings[:numSensors] {
			if rd.AssetID != "mill-01" || rd.Fault != "" {
				t.Errorf("reading %+v", rd)
			}
		}
		rec := recs[2500+step]
		got := st.Readings[numSensors : 2*numSensors]
		want := []float64{rec.AirTempK, rec.ProcessTemp, rec.RPM, rec.TorqueNm, rec.ToolWearMin}
		for i := range got {
			if got[i].Value != want[i] || got[i].SensorID != r.Sensors()[i].ID || got[i].Unit != r.Sensors()[i].Unit {
				t.Errorf("step %d mill-02 %s = %+v, want %g", step, r.Sensors()[i].ID, got[i], want[i])
			}
		}
	}
}

func TestReplayIsDeterministic(t *testing.T) {
	recs := testRecords(t)
	run := func(seed uint64) []Step {
		r, err := NewReplay(recs, 6, "all", seed)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]Step, 2000)
		for i := range out {
			out[i] = r.Next()
		}
		return out
	}
	a, b, c := run(1), run(1), run(2)
	if !reflect.DeepEqual(a, b) {
		t.Error("two replays with seed 1 differ")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("replays with seeds 1 and 2 are identical; spikes and dropouts should differ")
	}
	count := map[string]int{}
	for _, st := range a {
		for _, rd := range st.Readings {
			count[rd.Fault]++
		}
		count[FaultDropout] += st.Dropped
	}
	for _, k := range FaultKinds {
		if count[k] == 0 {
			t.Errorf("no %s readings in 2000 steps: %v", k, count)
		}
	}
	// Invalid readings come at steps 10, 55, 100, …
	if want := (2000 - 10 + 44) / 45; count[FaultInvalid] != want {
		t.Errorf("%d invalid readings, want %d", count[FaultInvalid], want)
	}
}

func TestReplayEpisodeEvents(t *testing.T) {
	r, err := NewReplay(testRecords(t), 3, FaultEpisode, 1)
	if err != nil {
		t.Fatal(err)
	}
	alarm := *r.Sensors()[Torque].AlarmHigh
	var events []string
	past := 0
	for range 40 {
		st := r.Next()
		for _, e := range st.Started {
			events = append(events, fmt.Sprintf("%d start %s %s", st.Index, e.AssetID, e.Fault))
		}
		for _, e := range st.Ended {
			events = append(events, fmt.Sprintf("%d end %s %s", st.Index, e.AssetID, e.Fault))
		}
		for _, rd := range st.Readings {
			if rd.SensorID == "torque" && rd.Value > alarm {
				if rd.AssetID != "mill-01" {
					t.Errorf("step %d: %s torque %g past the alarm", st.Index, rd.AssetID, rd.Value)
				}
				past++
			}
		}
	}
	want := []string{"20 start mill-01 episode", "32 end mill-01 episode"}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events = %q, want %q", events, want)
	}
	if past < 10 {
		t.Errorf("torque past the alarm in %d readings, want at least 10 of the 12-step episode", past)
	}
}

func TestNewReplayErrors(t *testing.T) {
	recs := testRecords(t)[:10]
	for _, tt := range []struct {
		n      int
		faults string
	}{{0, "all"}, {1000, "all"}, {3, "smoke"}} {
		if _, err := NewReplay(recs, tt.n, tt.faults, 1); err == nil {
			t.Errorf("NewReplay(n=%d, faults=%q) succeeded", tt.n, tt.faults)
		}
	}
	if _, err := NewReplay(nil, 3, "all", 1); err == nil {
		t.Error("NewReplay without records succeeded")
	}
}

func TestSensorThresholds(t *testing.T) {
	recs := testRecords(t)
	specs := Sensors(recs)
	for _, s := range specs {
		if s.Counter {
			continue
		}
		lo, wl, wh, hi := *s.AlarmLow, *s.WarnLow, *s.WarnHigh, *s.AlarmHigh
		if !(*s.MinValid < lo && lo < wl && wl < wh && wh < hi && hi < *s.MaxValid) {
			t.Errorf("%s: thresholds out of order: valid [%g, %g], alarm %g/%g, warn %g/%g", s.ID, *s.MinValid, *s.MaxValid, lo, hi, wl, wh)
		}
		beyondAlarm, beyondWarn := 0, 0
		for _, r := range recs {
			v := s.Value(r)
			if v < lo || v > hi {
				beyondAlarm++
			}
			if v < wl || v > wh {
				beyondWarn++
			}
		}
		// 0.1% and 1% on each side, give or take ties at the threshold.
		if beyondAlarm > 25 || beyondWarn < 100 || beyondWarn > 250 {
			t.Errorf("%s: %d records beyond the alarm and %d beyond the warning thresholds of 10000", s.ID, beyondAlarm, beyondWarn)
		}
	}
	if tw := specs[ToolWear]; *tw.WarnHigh != 200 || *tw.AlarmHigh != 240 || tw.AlarmLow != nil {
		t.Errorf("tool wear thresholds %+v, want the AI4I failure window 200/240 min", tw)
	}
}

// TestSimulatorDocMatchesSensors keeps the table in docs/SIMULATOR.md in
// step with the thresholds derived from the dataset.
func TestSimulatorDocMatchesSensors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/SIMULATOR.md")
	if err != nil {
		t.Fatal(err)
	}
	f := func(p *float64) string {
		if p == nil {
			return "–"
		}
		return fmt.Sprint(*p)
	}
	for _, s := range Sensors(testRecords(t)) {
		row := fmt.Sprintf("| `%s` | %s | %s – %s | %s | %s | %s | %s |", s.ID, s.Unit, f(s.MinValid), f(s.MaxValid), f(s.AlarmLow), f(s.WarnLow), f(s.WarnHigh), f(s.AlarmHigh))
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/SIMULATOR.md lacks the row\n%s", row)
		}
	}
}

// BenchmarkReplayNext measures generating one step of six machines with
// every fault enabled.
func BenchmarkReplayNext(b *testing.B) {
	r, err := NewReplay(testRecords(b), 6, "all", 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		r.Next()
	}
	b.ReportMetric(float64(b.N*6*numSensors)/b.Elapsed().Seconds(), "readings/s")
}
