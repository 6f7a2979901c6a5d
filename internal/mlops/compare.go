package mlops

import (
	"fmt"
	"math"
	"slices"
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
		v.Checks = append(v.Checks,
			higherBetter(MeasurePRAUC, l.Champion.PRAUC, l.Challenger.PRAUC, tol),
			higherBetter(MeasureROCAUC, l.Champion.ROCAUC, l.Challenger.ROCAUC, tol))
	} else {
		missing = append(missing, "no confirmed fault in the window, so no labelled holdout")
	}
	if b := c.Backtest; b != nil {
		v.Basis = append(v.Basis, "backtest")
		ch, cl := b.Champion, b.Challenger
		v.Checks = append(v.Checks,
			lowerBetter("backtest_alarms_per_day", ch.AlarmsPerDay, cl.AlarmsPerDay, tol),
			lowerBetter("backtest_false_alarms", float64(ch.FalseAlarms), float64(cl.FalseAlarms), tol))
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
	v.decide()
	return v
}

// decide promotes when every check passed.
func (v *Verdict) decide() {
	v.Promote = true
	for _, ch := range v.Checks {
		v.Promote = v.Promote && ch.Pass
	}
}

// The measures of a labelled holdout, named as in a trained version's
// metrics (and, prefixed with ChampionPrefix, the champion's figures on
// the same holdout).
const (
	MeasurePRAUC    = "pr_auc"
	MeasureROCAUC   = "roc_auc"
	MeasureRMSE     = "rmse"
	MeasureCoverage = "coverage"
	// NominalCoverage is the coverage a RUL version's intervals aim at.
	NominalCoverage = "nominal_coverage"
)

// The metrics a trained version's holdout verdict is recorded in, next to
// the champion's figures (ChampionPrefix + measure).
const (
	ChampionPrefix = "champion_"
	// MetricChampionVersion is the champion the version was compared with.
	MetricChampionVersion = "champion_version"
	// MetricVerdictPromote is 1 when the version passed, 0 when it is worse
	// than that champion.
	MetricVerdictPromote = "verdict_promote"
	// MetricVerdictTolerance is the policy's tolerance the verdict used.
	MetricVerdictTolerance = "verdict_tolerance"
)

// HoldoutMeasures are the measures CompareHoldout checks, in order.
var HoldoutMeasures = []string{MeasurePRAUC, MeasureROCAUC, MeasureRMSE, MeasureCoverage}

// CompareHoldout applies the promotion rule to a trained challenger and
// the champion scored on the same labelled holdout, each given as its
// figures by measure (a version's metrics): on every measure both have,
// the challenger must not be worse than the champion beyond tol, as in
// Compare: PR AUC and ROC AUC at least the champion's − tol, RMSE at most
// the champion's × (1 + tol), and the interval coverage's distance from
// each version's NominalCoverage at most the champion's + tol. Without
// any shared measure the verdict promotes and its Note says so.
func CompareHoldout(champion, challenger map[string]float64, tol float64) Verdict {
	v := Verdict{Basis: []string{"holdout"}}
	for _, m := range HoldoutMeasures {
		ch, okCh := champion[m]
		cl, okCl := challenger[m]
		if !okCh || !okCl {
			continue
		}
		switch m {
		case MeasureRMSE:
			v.Checks = append(v.Checks, lowerBetter(m, ch, cl, tol))
		case MeasureCoverage:
			v.Checks = append(v.Checks, closerToNominal(m, ch, cl, champion[NominalCoverage], challenger[NominalCoverage], tol))
		default:
			v.Checks = append(v.Checks, higherBetter(m, ch, cl, tol))
		}
	}
	if len(v.Checks) == 0 {
		v.Note = "no measure of the holdout was taken for both versions"
	}
	v.decide()
	return v
}

// HoldoutMetrics are the figures of a holdout verdict to record in the
// challenger's metrics: the champion's (ChampionPrefix + measure), which
// champion, the verdict and its tolerance.
func HoldoutMetrics(championVersion int, champion map[string]float64, v Verdict, tol float64) map[string]float64 {
	m := map[string]float64{MetricChampionVersion: float64(championVersion), MetricVerdictTolerance: tol, MetricVerdictPromote: 0}
	if v.Promote {
		m[MetricVerdictPromote] = 1
	}
	for _, k := range append(slices.Clip(HoldoutMeasures), NominalCoverage) {
		if x, ok := champion[k]; ok {
			m[ChampionPrefix+k] = x
		}
	}
	return m
}

// RecordedVerdict is the holdout verdict recorded in a version's metrics
// (HoldoutMetrics) with its checks rebuilt by CompareHoldout, and the
// champion it was taken against; ok is false for a version without one.
func RecordedVerdict(metrics map[string]float64) (v Verdict, champion int, ok bool) {
	promote, ok := metrics[MetricVerdictPromote]
	if !ok {
		return Verdict{}, 0, false
	}
	champ := map[string]float64{}
	for k, x := range metrics {
		if name, found := strings.CutPrefix(k, ChampionPrefix); found {
			champ[name] = x
		}
	}
	v = CompareHoldout(champ, metrics, metrics[MetricVerdictTolerance])
	v.Promote = promote == 1
	return v, int(metrics[MetricChampionVersion]), true
}

// higherBetter checks a measure the challenger must not fall below the
// champion's by more than tol.
func higherBetter(measure string, champion, challenger, tol float64) Check {
	return Check{Measure: measure, Champion: champion, Challenger: challenger, Pass: challenger >= champion-tol,
		Rule: fmt.Sprintf("at least the champion's − %g", tol)}
}

// lowerBetter checks a measure the challenger must not exceed the
// champion's × (1 + tol) on.
func lowerBetter(measure string, champion, challenger, tol float64) Check {
	return Check{Measure: measure, Champion: champion, Challenger: challenger, Pass: challenger <= champion*(1+tol),
		Rule: fmt.Sprintf("at most the champion's × %g", 1+tol)}
}

// closerToNominal checks a coverage whose distance from its nominal the
// challenger must not exceed the champion's by more than tol.
func closerToNominal(measure string, champion, challenger, champNominal, challNominal, tol float64) Check {
	return Check{Measure: measure, Champion: champion, Challenger: challenger,
		Pass: math.Abs(challenger-challNominal) <= math.Abs(champion-champNominal)+tol,
		Rule: fmt.Sprintf("within the champion's distance from the nominal %g + %g", challNominal, tol)}
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
