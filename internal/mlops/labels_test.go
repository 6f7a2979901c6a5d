package mlops_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/modelkind"
)

func TestFailureLabelsAndTimeSplit(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	s := &mlops.Snapshots{}
	for m := range 10 {
		for _, a := range []string{"m1", "m2"} {
			s.Rows, s.Times, s.Assets = append(s.Rows, []float64{float64(m)}), append(s.Times, at(m)), append(s.Assets, a)
		}
	}
	failures := []mlops.Failure{{Asset: "m1", At: at(3)}, {Asset: "m1", At: at(8).Add(30 * time.Second)}, {Asset: "m2", At: at(20)}}
	for _, tc := range []struct {
		horizon time.Duration
		want    string // labelled snapshots, asset@minute
	}{
		{time.Minute, "m1@3 m1@8"},
		{2 * time.Minute, "m1@2 m1@3 m1@7 m1@8"},
		{30 * time.Second, "m1@3"},
		{15 * time.Minute, "m1@0 m1@1 m1@2 m1@3 m1@4 m1@5 m1@6 m1@7 m1@8 m2@6 m2@7 m2@8 m2@9"}, // m2@5 + 15m is the failure itself: excluded
	} {
		var got []string
		for i, y := range mlops.FailureLabels(s, failures, tc.horizon) {
			if y {
				got = append(got, fmt.Sprintf("%s@%d", s.Assets[i], int(s.Times[i].Sub(t0).Minutes())))
			}
		}
		slices.Sort(got)
		if g := fmt.Sprint(got); g != "["+tc.want+"]" {
			t.Errorf("horizon %s: labelled %s, want [%s]", tc.horizon, g, tc.want)
		}
	}
	// The holdout is the newest fifth of the time (minutes 7.2 to 9).
	if cut := s.TimeSplit(0.2); cut != 16 || !s.Times[cut].Equal(at(8)) {
		t.Errorf("time split at %d", cut)
	}
	if cut := (&mlops.Snapshots{Times: []time.Time{t0}}).TimeSplit(0.2); cut != 1 {
		t.Errorf("one snapshot: split at %d", cut)
	}
}

func TestTrainableKinds(t *testing.T) {
	for _, k := range modelkind.Kinds {
		trainable := slices.Contains(mlops.TrainableKinds, k)
		if got := mlops.RegistryKind(k); (got != "") != trainable {
			t.Errorf("%s: registry kind %q, trainable %v", k, got, trainable)
		}
	}
	for _, tc := range []struct {
		name string
		kind modelkind.Kind
		ok   bool
	}{
		{"iforest-cnc-mill", modelkind.Anomaly, true},
		{"iforest-cnc-mill", modelkind.FailureRisk, false},
		{"risk-cnc-mill", modelkind.FailureRisk, true},
		{"risk-cnc-mill", modelkind.Anomaly, true},
	} {
		if got := mlops.NameProblem(tc.name, tc.kind) == ""; got != tc.ok {
			t.Errorf("NameProblem(%s, %s) ok = %v", tc.name, tc.kind, got)
		}
	}
}

// TestFailureRuns: each asset's snapshots up to a failure since the
// previous one make a run, newest failures last; snapshots after the last
// failure and failures without snapshots make none.
func TestFailureRuns(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	s := &mlops.Snapshots{}
	for sec := range 10 {
		for _, a := range []string{"e1", "e2"} {
			s.Rows, s.Times, s.Assets = append(s.Rows, []float64{float64(sec)}), append(s.Times, at(sec)), append(s.Assets, a)
		}
	}
	failures := []mlops.Failure{
		{Asset: "e1", At: at(3)}, {Asset: "e1", At: at(7).Add(500 * time.Millisecond)},
		{Asset: "e2", At: at(-5)}, {Asset: "e2", At: at(5)},
	}
	var got []string
	for _, r := range mlops.FailureRuns(s, failures) {
		var secs []string
		for k, i := range r.Rows {
			if s.Assets[i] != r.Asset {
				t.Errorf("run of %s holds a snapshot of %s", r.Asset, s.Assets[i])
			}
			secs = append(secs, fmt.Sprintf("%v:%d", s.Rows[i][0], r.CyclesLeft(k)))
		}
		got = append(got, r.Asset+" "+fmt.Sprint(secs))
	}
	want := []string{"e1 [0:3 1:2 2:1 3:0]", "e2 [0:5 1:4 2:3 3:2 4:1 5:0]", "e1 [4:3 5:2 6:1 7:0]"}
	if !slices.Equal(got, want) {
		t.Errorf("runs %q, want %q", got, want)
	}
}
