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
