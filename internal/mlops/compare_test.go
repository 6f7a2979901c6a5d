package mlops

import (
	"slices"
	"strings"
	"testing"
)

func TestCompare(t *testing.T) {
	labelled := func(champ, chall float64) *Labelled {
		return &Labelled{Positives: 40, Negatives: 400, Champion: LabelledScores{PRAUC: champ, ROCAUC: 0.9}, Challenger: LabelledScores{PRAUC: chall, ROCAUC: 0.9}}
	}
	bt := func(champAlarms, challAlarms, champLead, challLead float64, failures int) *Backtest {
		return &Backtest{Assets: 6, Failures: failures,
			Champion:   BacktestScores{AlarmsPerDay: champAlarms, FalseAlarms: int(champAlarms), Caught: failures, MeanLeadHours: champLead},
			Challenger: BacktestScores{AlarmsPerDay: challAlarms, FalseAlarms: int(challAlarms), Caught: failures, MeanLeadHours: challLead}}
	}
	for _, tc := range []struct {
		name    string
		c       Comparison
		promote bool
		basis   []string
		failed  string
		note    string
	}{
		{"calibration alone, better", Comparison{Improvement: 0.04}, true, []string{"calibration"}, "", "the calibration rule alone decides"},
		{"calibration alone, below the margin", Comparison{Improvement: 0.005}, false, []string{"calibration"}, "calibration_improvement", "alone decides"},
		{"labels agree", Comparison{Improvement: 0.04, Labelled: labelled(0.60, 0.59)}, true, []string{"calibration", "labels"}, "", "no backtest"},
		{"labels disagree beyond the tolerance", Comparison{Improvement: 0.04, Labelled: labelled(0.60, 0.50)}, false, []string{"calibration", "labels"}, "pr_auc", "no backtest"},
		{"backtest: fewer alarms, same lead", Comparison{Improvement: 0.04, Labelled: labelled(0.6, 0.6), Backtest: bt(40, 3, 10, 10, 2)}, true, []string{"calibration", "labels", "backtest"}, "", ""},
		{"backtest: more alarms", Comparison{Improvement: 0.04, Backtest: bt(10, 20, 0, 0, 0)}, false, []string{"calibration", "backtest"}, "backtest_alarms_per_day", "no labelled holdout"},
		{"backtest: later warnings", Comparison{Improvement: 0.04, Backtest: bt(10, 5, 10, 5, 1)}, false, []string{"calibration", "backtest"}, "backtest_mean_lead_hours", ""},
		{"backtest without failures skips lead times", Comparison{Improvement: 0.04, Backtest: bt(10, 10.1, 10, 0, 0)}, true, []string{"calibration", "backtest"}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := Compare(tc.c, 0.01, 0.02)
			if v.Promote != tc.promote || !slices.Equal(v.Basis, tc.basis) || !strings.Contains(v.Note, tc.note) {
				t.Fatalf("verdict %+v", v)
			}
			if f := v.Failed(); (tc.failed == "") != (f == "") || !strings.Contains(f, tc.failed) {
				t.Errorf("failed %q, want %q", f, tc.failed)
			}
			if m := tc.c.Metrics(); tc.c.Backtest != nil && m["challenger_backtest_alarms_per_day"] != tc.c.Backtest.Challenger.AlarmsPerDay {
				t.Errorf("metrics %v", m)
			}
		})
	}
}
