package mlops

import (
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/registry"
)

func TestWatchBand(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	prev := AlarmRate{Version: 1, From: t0, To: t0.Add(10 * time.Hour), Alarms: 19, Assets: 2, Hours: 10}
	for _, tc := range []struct {
		name string
		w    WatchPolicy
		prev AlarmRate
		want Band
	}{
		{"ratio of the previous rate, one alarm more", WatchPolicy{Ratio: 3}, prev, Band{Max: 3, Source: BandPrevious}},
		{"default ratio", WatchPolicy{}, prev, Band{Max: 3, Source: BandPrevious}},
		{"a silent predecessor still gives a band", WatchPolicy{Ratio: 2}, AlarmRate{Assets: 4, Hours: 5}, Band{Max: 0.1, Source: BandPrevious}},
		{"no assets before: nothing passes", WatchPolicy{Ratio: 2}, AlarmRate{Hours: 5}, Band{Max: 0, Source: BandPrevious}},
		{"the policy's band wins", WatchPolicy{Ratio: 3, Band: &[2]float64{0.5, 4}}, prev, Band{Min: 0.5, Max: 4, Source: BandPolicy}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.w.WatchBand(tc.prev)
			if got.Source != tc.want.Source || got.Min != tc.want.Min || diff(got.Max, tc.want.Max) > 1e-12 {
				t.Errorf("band %+v, want %+v", got, tc.want)
			}
		})
	}
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

func TestWatchJudge(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	w := WatchPolicy{For: 10 * time.Minute, Every: 5 * time.Minute, Duration: time.Hour, Ratio: 3}
	band := Band{Min: 1, Max: 20, Source: BandPolicy}
	// sample is a check of the five minutes ending at minute m with n
	// alarms on one asset (1 alarm in 5 minutes is 12 per hour, in band).
	sample := func(m, n int) AlarmRate {
		to := t0.Add(time.Duration(m) * time.Minute)
		return AlarmRate{Version: 2, From: to.Add(-5 * time.Minute), To: to, Alarms: n, Assets: 1, Hours: 5.0 / 60}
	}
	type step struct {
		rate     AlarmRate
		verdict  string
		rollback bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"in band throughout", []step{{sample(5, 1), WatchInBand, false}, {sample(10, 1), WatchInBand, false}, {sample(15, 1), WatchInBand, false}}},
		{"above the band for the whole of For", []step{{sample(5, 12), WatchOutHigh, false}, {sample(10, 12), WatchOutHigh, true}}},
		{"back in band resets the spell", []step{{sample(5, 12), WatchOutHigh, false}, {sample(10, 1), WatchInBand, false}, {sample(15, 12), WatchOutHigh, false}, {sample(20, 12), WatchOutHigh, true}}},
		{"too quiet for long enough", []step{{sample(5, 0), WatchOutLow, false}, {sample(10, 0), WatchOutLow, true}}},
		{"a period without assets changes nothing", []step{{sample(5, 12), WatchOutHigh, false}, {AlarmRate{Version: 2, From: t0.Add(5 * time.Minute), To: t0.Add(10 * time.Minute), Hours: 5.0 / 60}, WatchNoAssets, false}, {sample(15, 12), WatchOutHigh, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s WatchState
			for i, st := range tc.steps {
				d := w.Judge(&s, band, st.rate)
				if d.Verdict != st.verdict || d.Rollback != st.rollback {
					t.Fatalf("step %d: %+v, want %s rollback %v", i, d, st.verdict, st.rollback)
				}
				if d.Rollback && (RollbackReasonOf(registry.AutomaticRollbackPrefix+d.Explanation) != d.Reason || !strings.Contains(d.Explanation, "v2 raised") || !strings.Contains(d.Explanation, "outside the band [1, 20] (policy) since 2026-12-01T00:")) {
					t.Errorf("step %d: explanation %q reason %q", i, d.Explanation, d.Reason)
				}
			}
			if s.Checks != len(tc.steps) {
				t.Errorf("checks %d, want %d", s.Checks, len(tc.steps))
			}
		})
	}
}

func TestRollbackReasonOf(t *testing.T) {
	for in, want := range map[string]string{
		registry.AutomaticRollbackPrefix + "alarm rate above the band: v2 raised 9 alarms": RollbackAlarmRateHigh,
		"alarm rate below the band: v2 raised 0 alarms":                                    RollbackAlarmRateLow,
		registry.AutomaticRollbackPrefix + "the operator said so":                          RollbackOther,
	} {
		if got := RollbackReasonOf(in); got != want {
			t.Errorf("RollbackReasonOf(%q) = %q, want %q", in, got, want)
		}
	}
}
