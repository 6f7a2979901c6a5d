package mlops

import (
	"fmt"
	"strings"
	"time"
)

// LabelledScores is how well a version separates confirmed faults from
// normal operation on the labelled holdout.
type LabelledScores struct {
	PRAUC  float64 `json:"pr_auc"`
	ROCAUC float64 `json:"roc_auc"`
}

// Labelled is the evaluation on the labelled holdout: the holdout's normal
// snapshots as negatives and the snapshots taken while an asset had a
// confirmed fault (incident.RealFault) in the training window as
// positives, which the challenger was never trained on.
type Labelled struct {
	Positives  int            `json:"positives"`
	Negatives  int            `json:"negatives"`
	Champion   LabelledScores `json:"champion"`
	Challenger LabelledScores `json:"challenger"`
}

// BacktestScores is what a version would have done over the backtest
// window: sustained alarms (internal/backtest's stored replay), the ones
// on assets that had no confirmed fault in the window (false alarms),
// the failures caught before they were confirmed, and the mean lead time
// of those.
type BacktestScores struct {
	Alarms        int     `json:"alarms"`
	AlarmsPerDay  float64 `json:"alarms_per_day"`
	FalseAlarms   int     `json:"false_alarms"`
	Caught        int     `json:"caught"`
	MeanLeadHours float64 `json:"mean_lead_hours"`
}

// Backtest is the replay of both versions over the same window of stored
// readings of the model's assets.
type Backtest struct {
	From       time.Time      `json:"from"`
	To         time.Time      `json:"to"`
	Assets     int            `json:"assets"`
	Readings   int64          `json:"readings"`
	Failures   int            `json:"failures"`
	Champion   BacktestScores `json:"champion"`
	Challenger BacktestScores `json:"challenger"`
}

// Comparison is every measure of a challenger against the champion that
// could be taken: the calibration improvement always, the labelled holdout
// when the window had confirmed faults, the backtest when the policy asks
// for one and readings exist.
type Comparison struct {
	Improvement float64   `json:"improvement"`
	Labelled    *Labelled `json:"labelled,omitempty"`
	Backtest    *Backtest `json:"backtest,omitempty"`
}

// Check is one measure of a comparison and whether the challenger passed.
type Check struct {
	Measure    string  `json:"measure"`
	Champion   float64 `json:"champion"`
	Challenger float64 `json:"challenger"`
	Pass       bool    `json:"pass"`
	Rule       string  `json:"rule"`
}

// Verdict is the promotion rule's answer.
type Verdict struct {
	Promote bool `json:"promote"`
	// Basis lists the evidence used: "calibration", then "labels" and
	// "backtest" when available; Note says what was missing.
	Basis  []string `json:"basis"`
	Note   string   `json:"note,omitempty"`
	Checks []Check  `json:"checks"`
}

// Compare applies the promotion rule. The challenger must beat the
// champion's calibration score by margin (and by more than nothing), as
// without labels; and, on every other measure available, it must not be
// worse than the champion beyond tol: PR AUC and ROC AUC at least the
// champion's − tol; alarms per day and false alarms at most the champion's
// × (1 + tol); failures caught at least the champion's, and their mean
// lead time at least the champion's × (1 − tol).
func Compare(c Comparison, margin, tol float64) Verdict {
	v := Verdict{Basis: []string{"calibration"}}
	v.Checks = append(v.Checks, Check{Measure: "calibration_improvement", Challenger: c.Improvement,
		Pass: c.Improvement >= margin && c.Improvement > 0, Rule: fmt.Sprintf("at least the margin %g and above 0", margin)})
	var missing []string
	if l := c.Labelled; l != nil {
		v.Basis = append(v.Basis, "labels")
		atLeast := fmt.Sprintf("at least the champion's − %g", tol)
		v.Checks = append(v.Checks,
			Check{Measure: "pr_auc", Champion: l.Champion.PRAUC, Challenger: l.Challenger.PRAUC, Pass: l.Challenger.PRAUC >= l.Champion.PRAUC-tol, Rule: atLeast},
			Check{Measure: "roc_auc", Champion: l.Champion.ROCAUC, Challenger: l.Challenger.ROCAUC, Pass: l.Challenger.ROCAUC >= l.Champion.ROCAUC-tol, Rule: atLeast})
	} else {
		missing = append(missing, "no confirmed fault in the window, so no labelled holdout")
	}
	if b := c.Backtest; b != nil {
		v.Basis = append(v.Basis, "backtest")
		atMost := fmt.Sprintf("at most the champion's × %g", 1+tol)
		ch, cl := b.Champion, b.Challenger
		v.Checks = append(v.Checks,
			Check{Measure: "backtest_alarms_per_day", Champion: ch.AlarmsPerDay, Challenger: cl.AlarmsPerDay, Pass: cl.AlarmsPerDay <= ch.AlarmsPerDay*(1+tol), Rule: atMost},
			Check{Measure: "backtest_false_alarms", Champion: float64(ch.FalseAlarms), Challenger: float64(cl.FalseAlarms), Pass: float64(cl.FalseAlarms) <= float64(ch.FalseAlarms)*(1+tol), Rule: atMost})
		if b.Failures > 0 {
			v.Checks = append(v.Checks,
				Check{Measure: "backtest_caught", Champion: float64(ch.Caught), Challenger: float64(cl.Caught), Pass: cl.Caught >= ch.Caught, Rule: "at least the champion's"},
				Check{Measure: "backtest_mean_lead_hours", Champion: ch.MeanLeadHours, Challenger: cl.MeanLeadHours, Pass: cl.MeanLeadHours >= ch.MeanLeadHours*(1-tol),
					Rule: fmt.Sprintf("at least the champion's × %g", 1-tol)})
		}
	} else {
		missing = append(missing, "no backtest")
	}
	if len(missing) > 0 {
		v.Note = strings.Join(missing, "; ")
		if c.Labelled == nil && c.Backtest == nil {
			v.Note += ": the calibration rule alone decides"
		}
	}
	v.Promote = true
	for _, ch := range v.Checks {
		v.Promote = v.Promote && ch.Pass
	}
	return v
}

// Failed lists the checks the challenger failed, for the outcome's reason.
func (v Verdict) Failed() string {
	var out []string
	for _, c := range v.Checks {
		if !c.Pass {
			out = append(out, fmt.Sprintf("%s %.4g against %.4g (%s)", c.Measure, c.Challenger, c.Champion, c.Rule))
		}
	}
	return strings.Join(out, "; ")
}

// Metrics flattens the comparison for the retrain record and the
// version's metrics.
func (c Comparison) Metrics() map[string]float64 {
	m := map[string]float64{}
	if l := c.Labelled; l != nil {
		m["labelled_positives"], m["labelled_negatives"] = float64(l.Positives), float64(l.Negatives)
		m["champion_pr_auc"], m["challenger_pr_auc"] = l.Champion.PRAUC, l.Challenger.PRAUC
		m["champion_roc_auc"], m["challenger_roc_auc"] = l.Champion.ROCAUC, l.Challenger.ROCAUC
	}
	if b := c.Backtest; b != nil {
		m["backtest_assets"], m["backtest_readings"], m["backtest_failures"] = float64(b.Assets), float64(b.Readings), float64(b.Failures)
		for who, s := range map[string]BacktestScores{"champion": b.Champion, "challenger": b.Challenger} {
			m[who+"_backtest_alarms"], m[who+"_backtest_alarms_per_day"] = float64(s.Alarms), s.AlarmsPerDay
			m[who+"_backtest_false_alarms"], m[who+"_backtest_caught"] = float64(s.FalseAlarms), float64(s.Caught)
			m[who+"_backtest_mean_lead_hours"] = s.MeanLeadHours
		}
	}
	return m
}
