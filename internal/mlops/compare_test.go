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

func TestCompareHoldout(t *testing.T) {
	risk := func(pr, roc float64) map[string]float64 { return map[string]float64{MeasurePRAUC: pr, MeasureROCAUC: roc} }
	rul := func(rmse, cov float64) map[string]float64 {
		return map[string]float64{MeasureRMSE: rmse, MeasureCoverage: cov, NominalCoverage: 0.8}
	}
	for _, tc := range []struct {
		name                 string
		champion, challenger map[string]float64
		promote              bool
		failed               string
	}{
		{"pr auc within the tolerance", risk(0.70, 0.95), risk(0.69, 0.95), true, ""},
		{"pr auc worse", risk(0.70, 0.95), risk(0.60, 0.95), false, "pr_auc"},
		{"roc auc worse", risk(0.70, 0.95), risk(0.75, 0.90), false, "roc_auc"},
		{"both better", risk(0.50, 0.90), risk(0.70, 0.96), true, ""},
		{"rmse within the tolerance", rul(20, 0.8), rul(20.3, 0.8), true, ""},
		{"rmse worse", rul(20, 0.8), rul(25, 0.8), false, "rmse"},
		{"rmse better", rul(25, 0.8), rul(20, 0.8), true, ""},
		{"coverage farther from the nominal", rul(20, 0.78), rul(20, 0.60), false, "coverage"},
		{"coverage over the nominal counts as far", rul(20, 0.80), rul(20, 0.95), false, "coverage"},
		{"coverage closer to the nominal", rul(20, 0.60), rul(20, 0.75), true, ""},
		{"a measure the champion lacks is not checked", map[string]float64{MeasureRMSE: 20}, rul(20, 0.1), true, ""},
		{"no shared measure", risk(0.7, 0.9), rul(20, 0.8), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := CompareHoldout(tc.champion, tc.challenger, 0.02)
			if v.Promote != tc.promote || !slices.Equal(v.Basis, []string{"holdout"}) {
				t.Fatalf("verdict %+v", v)
			}
			if f := v.Failed(); (tc.failed == "") != (f == "") || !strings.Contains(f, tc.failed) {
				t.Errorf("failed %q, want %q", f, tc.failed)
			}
			// The recorded verdict rebuilds the same checks.
			m := HoldoutMetrics(3, tc.champion, v, 0.02)
			for k, x := range tc.challenger {
				m[k] = x
			}
			got, champ, ok := RecordedVerdict(m)
			if !ok || champ != 3 || got.Promote != v.Promote || got.Failed() != v.Failed() || len(got.Checks) != len(v.Checks) {
				t.Errorf("recorded %+v (champion %d, %v), want %+v", got, champ, ok, v)
			}
		})
	}
	if _, _, ok := RecordedVerdict(map[string]float64{MeasurePRAUC: 0.7, "champion_pr_auc": 0.8}); ok {
		t.Error("a version without a verdict has one")
	}
}
