package mlops

import (
	"fmt"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/registry"
)

// Defaults of the evaluation: the days of stored readings replayed, and
// how much worse than the champion a challenger may be on each measure.
const (
	DefaultBacktestDays = 14
	DefaultTolerance    = 0.02
)

// WatchPolicy says how a newly promoted champion is watched (workflow
// ModelWatch): every Every its live alarm rate — anomalies attributed to
// that version per hour and per asset bound to the model — is compared
// with a band, and a rate that stays outside the band for For rolls the
// champion back to the previous one. The watch ends after Duration.
//
// The band is Band when set (alarms per hour per asset); otherwise it is
// [0, Ratio × the previous champion's rate] over the same length of time
// before the promotion, counting one alarm more than it had so that a
// silent predecessor still gives a band.
type WatchPolicy struct {
	// Band is [min, max] alarms per hour per asset; nil derives it from
	// the previous champion with Ratio.
	Band *[2]float64 `json:"band,omitempty"`
	// Ratio is how many times the previous champion's rate the new one
	// may reach when Band is nil.
	Ratio    float64       `json:"ratio"`
	For      time.Duration `json:"for"`
	Duration time.Duration `json:"duration"`
	Every    time.Duration `json:"every"`
	// Disabled switches the watch off for the model.
	Disabled bool `json:"disabled,omitempty"`
}

// DefaultWatchPolicy watches a promotion for 24 hours, every 5 minutes, and
// rolls back after 30 minutes above 3× the previous champion's alarm rate.
func DefaultWatchPolicy() WatchPolicy {
	return WatchPolicy{Ratio: 3, For: 30 * time.Minute, Duration: 24 * time.Hour, Every: 5 * time.Minute}
}

// OrDefaults fills the zero fields of w from DefaultWatchPolicy.
func (w WatchPolicy) OrDefaults() WatchPolicy {
	d := DefaultWatchPolicy()
	if w.Ratio <= 0 {
		w.Ratio = d.Ratio
	}
	if w.For <= 0 {
		w.For = d.For
	}
	if w.Duration <= 0 {
		w.Duration = d.Duration
	}
	if w.Every <= 0 {
		w.Every = d.Every
	}
	return w
}

// AlarmRate is what a version raised over a period: Alarms anomalies
// attributed to it on Assets assets over Hours hours.
type AlarmRate struct {
	Version int       `json:"version"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	Alarms  int       `json:"alarms"`
	Assets  int       `json:"assets"`
	Hours   float64   `json:"hours"`
}

// PerAssetHour is the rate in alarms per hour per asset; 0 without assets
// or time.
func (r AlarmRate) PerAssetHour() float64 {
	if r.Assets == 0 || r.Hours <= 0 {
		return 0
	}
	return float64(r.Alarms) / r.Hours / float64(r.Assets)
}

// Band is the alarm rate a watched version must stay within, in alarms
// per hour per asset, and where it came from.
type Band struct {
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Source string  `json:"source"`
}

// Band sources.
const (
	BandPolicy   = "policy"
	BandPrevious = "previous_champion"
)

// WatchBand returns the band of a watch: the policy's own, or Ratio times
// the previous champion's rate (with one alarm more than it had).
func (w WatchPolicy) WatchBand(previous AlarmRate) Band {
	if w.Band != nil {
		return Band{Min: w.Band[0], Max: w.Band[1], Source: BandPolicy}
	}
	w = w.OrDefaults()
	smoothed := previous
	smoothed.Alarms++
	return Band{Max: w.Ratio * smoothed.PerAssetHour(), Source: BandPrevious}
}

// Watch verdicts.
const (
	WatchInBand   = "in_band"
	WatchOutHigh  = "above_band"
	WatchOutLow   = "below_band"
	WatchNoAssets = "no_assets"
)

// Rollback reasons, the label of smartmaint_model_rollbacks_total.
const (
	RollbackAlarmRateHigh = "alarm_rate_high"
	RollbackAlarmRateLow  = "alarm_rate_low"
	RollbackOther         = "other"
)

// rollbackTexts start the explanation of each rollback reason, so the
// reason can be read back from the alias history (RollbackReasonOf).
var rollbackTexts = map[string]string{
	RollbackAlarmRateHigh: "alarm rate above the band",
	RollbackAlarmRateLow:  "alarm rate below the band",
}

// RollbackReasonOf returns the reason label of an automatic rollback from
// its explanation (with or without registry.AutomaticRollbackPrefix):
// RollbackOther when it names none.
func RollbackReasonOf(explanation string) string {
	explanation = strings.TrimPrefix(explanation, registry.AutomaticRollbackPrefix)
	for label, text := range rollbackTexts {
		if strings.HasPrefix(explanation, text+": ") {
			return label
		}
	}
	return RollbackOther
}

// WatchState is what a watch carries from one check to the next.
type WatchState struct {
	// OutSince is when the rate first left the band without coming back;
	// nil while in band.
	OutSince *time.Time `json:"out_since,omitempty"`
	// Checks counts the checks made.
	Checks int `json:"checks"`
}

// WatchDecision is the outcome of one check.
type WatchDecision struct {
	Verdict string `json:"verdict"`
	// Rollback is set when the rate has been out of band for the policy's
	// For; Reason is the metric label and Explanation the sentence for
	// the alias history and the notification.
	Rollback    bool   `json:"rollback"`
	Reason      string `json:"reason,omitempty"`
	Explanation string `json:"explanation,omitempty"`
}

// Judge applies one measurement to the state: a rate outside the band
// starts (or continues) an out-of-band spell, one inside ends it, and a
// spell of at least For asks for a rollback. A period without assets
// leaves the state as it was.
func (w WatchPolicy) Judge(s *WatchState, band Band, rate AlarmRate) WatchDecision {
	w = w.OrDefaults()
	s.Checks++
	if rate.Assets == 0 || rate.Hours <= 0 {
		return WatchDecision{Verdict: WatchNoAssets}
	}
	r := rate.PerAssetHour()
	var d WatchDecision
	switch {
	case r > band.Max:
		d = WatchDecision{Verdict: WatchOutHigh, Reason: RollbackAlarmRateHigh}
	case r < band.Min:
		d = WatchDecision{Verdict: WatchOutLow, Reason: RollbackAlarmRateLow}
	default:
		s.OutSince = nil
		return WatchDecision{Verdict: WatchInBand}
	}
	if s.OutSince == nil {
		from := rate.From
		s.OutSince = &from
	}
	if out := rate.To.Sub(*s.OutSince); out >= w.For {
		d.Rollback = true
		d.Explanation = fmt.Sprintf("%s: v%d raised %.1f alarms per hour per asset (%d on %d assets from %s to %s), outside the band [%g, %g] (%s) since %s: %s out of band, the %s allowed",
			rollbackTexts[d.Reason], rate.Version, r, rate.Alarms, rate.Assets, rate.From.UTC().Format(time.RFC3339), rate.To.UTC().Format(time.RFC3339),
			band.Min, band.Max, band.Source, s.OutSince.UTC().Format(time.RFC3339), out.Round(time.Second), w.For)
	}
	return d
}
