package backtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/bearing"
	"github.com/smartmaint/smartmaint/internal/ml/vibration"
)

// IMS layouts.
const (
	// LayoutIMSFeatures is a per-snapshot feature CSV (dataset.ReadIMSFeatures).
	LayoutIMSFeatures = "ims-features"
	// LayoutIMSRaw is a folder of raw IMS snapshot files of one run.
	LayoutIMSRaw = "ims-raw"
)

// IMSOptions says what to backtest.
type IMSOptions struct {
	// Layout is LayoutIMSFeatures (read File) or LayoutIMSRaw (read Dir);
	// when empty it is LayoutIMSFeatures if File is set, else LayoutIMSRaw.
	Layout string
	// File is the feature CSV.
	File string
	// Dir is a run folder of raw snapshots (for example 2nd_test); the
	// run is named after it. Bearing n is channel n, or channels 2n-1 and
	// 2n (the first is used) when a snapshot has 8 channels, as in IMS set
	// No. 1. The feature CSV layout uses each bearing's lowest channel too.
	Dir string
	// Test keeps only this run of a feature CSV; all runs when empty.
	Test string
	// Health configures the health monitor (bearing.DefaultHealthConfig
	// when zero).
	Health bearing.HealthConfig
	// SigmaHealthy is the leading share of each run the plain RMS 6σ rule
	// takes as healthy (default 0.3); SigmaK and SigmaSustain its k and
	// run length (defaults 6 and 3).
	SigmaHealthy float64
	SigmaK       float64
	SigmaSustain int
	// Progress, when set, is called per snapshot of the raw layout and
	// per run of the feature layout.
	Progress Progress
}

// IMSReport is the outcome of an IMS backtest; its JSON form is the
// contract in docs/ML.md.
type IMSReport struct {
	Dataset  string               `json:"dataset"`
	Config   bearing.HealthConfig `json:"config"`
	Bearings []IMSBearing         `json:"bearings"`
}

// IMSBearing is one bearing's run.
type IMSBearing struct {
	Test    string `json:"test"`
	Bearing int    `json:"bearing"`
	// FirstAlarm is the first snapshot of the first sustained alarm, nil
	// when there is none; LeadHours is the time from it to the last
	// snapshot of the run in the file.
	FirstAlarm *time.Time `json:"first_alarm"`
	LeadHours  *float64   `json:"lead_hours"`
	// AlarmsBeforeHalfLife counts the snapshots in sustained alarm in the
	// first half of the run (by time).
	AlarmsBeforeHalfLife int `json:"alarms_before_half_life"`
	Snapshots            int `json:"snapshots"`

	Start             time.Time `json:"start"`
	End               time.Time `json:"end"`
	LastRunning       time.Time `json:"last_running"`
	BaselineSnapshots int       `json:"baseline_snapshots"`
	StoppedSnapshots  int       `json:"stopped_snapshots"`
	AlarmSnapshots    int       `json:"alarm_snapshots"`
	// MaxHealthFirstHalf is the largest health index in the first half
	// of the run: the margin below the threshold on the part taken as
	// healthy.
	MaxHealthFirstHalf *float64 `json:"max_health_first_half"`
	// Sigma is the plain RMS rule on the same run.
	Sigma IMSSigma `json:"rms_sigma_rule"`
	// TTF are time-to-failure estimates at fixed times before the last
	// running snapshot (taken as the failure), once the alarm is raised.
	TTF []IMSTTF `json:"ttf,omitempty"`
	// Series is the health index per snapshot.
	Series []IMSPoint `json:"series"`
}

// IMSSigma is the plain RMS > mean + kσ rule's outcome.
type IMSSigma struct {
	Healthy              int        `json:"healthy"`
	K                    float64    `json:"k"`
	Sustain              int        `json:"sustain"`
	Threshold            float64    `json:"threshold"`
	FirstAlarm           *time.Time `json:"first_alarm"`
	LeadHours            *float64   `json:"lead_hours"`
	AlarmsBeforeHalfLife int        `json:"alarms_before_half_life"`
	AlarmSnapshots       int        `json:"alarm_snapshots"`
}

// IMSTTF is a time-to-failure estimate made BeforeHours before the
// failure; Hours, Low and High are nil when unbounded or not yet known.
type IMSTTF struct {
	BeforeHours float64   `json:"before_hours"`
	At          time.Time `json:"at"`
	Hours       *float64  `json:"hours"`
	Low         *float64  `json:"low"`
	High        *float64  `json:"high"`
}

// IMSPoint is one snapshot of a bearing.
type IMSPoint struct {
	Time     time.Time `json:"time"`
	State    string    `json:"state"`
	Health   *float64  `json:"health"`
	RMSRatio *float64  `json:"rms_ratio"`
	Alarm    bool      `json:"alarm,omitempty"`
}

// imsRun is one run's indicators: snapshot × bearing.
type imsRun struct {
	test     string
	times    []time.Time
	bearings []int
	x        [][]bearing.Indicators
}

// IMS backtests the bearing health monitor on IMS-layout data.
func IMS(ctx context.Context, o IMSOptions) (*IMSReport, error) {
	layout := o.Layout
	if layout == "" {
		layout = LayoutIMSRaw
		if o.File != "" {
			layout = LayoutIMSFeatures
		}
	}
	var runs []*imsRun
	var err error
	switch layout {
	case LayoutIMSFeatures:
		runs, err = imsFeatureRuns(o)
	case LayoutIMSRaw:
		var r *imsRun
		r, err = imsRawRun(ctx, o)
		runs = []*imsRun{r}
	default:
		return nil, fmt.Errorf("backtest: ims layout %q, want %s or %s", layout, LayoutIMSFeatures, LayoutIMSRaw)
	}
	if err != nil {
		return nil, err
	}
	cfg := o.Health
	if cfg == (bearing.HealthConfig{}) {
		cfg = bearing.DefaultHealthConfig()
	}
	rep := &IMSReport{Dataset: layout}
	for i, r := range runs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		bs, c, err := imsBacktestRun(r, cfg, o)
		if err != nil {
			return nil, fmt.Errorf("backtest: %s: %w", r.test, err)
		}
		rep.Config = c
		rep.Bearings = append(rep.Bearings, bs...)
		if layout == LayoutIMSFeatures && o.Progress != nil {
			o.Progress(i+1, len(runs))
		}
	}
	return rep, nil
}

// imsFeatureRuns groups a feature CSV into runs.
func imsFeatureRuns(o IMSOptions) ([]*imsRun, error) {
	rows, err := dataset.LoadIMSFeatures(o.File)
	if err != nil {
		return nil, err
	}
	type key struct {
		t time.Time
		b int
	}
	type acc struct {
		run     *imsRun
		channel map[key]int
		val     map[key]bearing.Indicators
		bs      map[int]bool
	}
	byTest := map[string]*acc{}
	var order []string
	for _, r := range rows {
		if o.Test != "" && r.Test != o.Test {
			continue
		}
		a := byTest[r.Test]
		if a == nil {
			a = &acc{run: &imsRun{test: r.Test}, channel: map[key]int{}, val: map[key]bearing.Indicators{}, bs: map[int]bool{}}
			byTest[r.Test] = a
			order = append(order, r.Test)
		}
		k := key{r.Time, r.Bearing}
		if ch, ok := a.channel[k]; ok && ch <= r.Channel {
			continue // keep the bearing's lowest channel
		}
		a.channel[k] = r.Channel
		a.val[k] = bearing.Indicators{RMS: r.RMS, Kurtosis: r.Kurtosis, CrestFactor: r.CrestFactor}
		a.bs[r.Bearing] = true
	}
	if len(order) == 0 {
		return nil, fmt.Errorf("backtest: no rows of run %q in %s", o.Test, o.File)
	}
	var runs []*imsRun
	for _, test := range order {
		a := byTest[test]
		r := a.run
		for b := range a.bs {
			r.bearings = append(r.bearings, b)
		}
		slices.Sort(r.bearings)
		seen := map[time.Time]bool{}
		for k := range a.val {
			if !seen[k.t] {
				seen[k.t] = true
				r.times = append(r.times, k.t)
			}
		}
		slices.SortFunc(r.times, func(x, y time.Time) int { return x.Compare(y) })
		for _, t := range r.times {
			row := make([]bearing.Indicators, len(r.bearings))
			for j, b := range r.bearings {
				v, ok := a.val[key{t, b}]
				if !ok {
					return nil, fmt.Errorf("backtest: %s: no row for bearing %d at %s", test, b, t.Format(time.RFC3339))
				}
				row[j] = v
			}
			r.x = append(r.x, row)
		}
		runs = append(runs, r)
	}
	return runs, nil
}

// imsRawRun computes the indicators of every snapshot of a raw run folder.
func imsRawRun(ctx context.Context, o IMSOptions) (*imsRun, error) {
	if o.Dir == "" {
		return nil, errors.New("backtest: ims-raw needs a run folder")
	}
	names, err := dataset.IMSSnapshotNames(o.Dir)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("backtest: no IMS snapshot files in %s", o.Dir)
	}
	r := &imsRun{test: filepath.Base(filepath.Clean(o.Dir))}
	for i, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := dataset.LoadIMSSnapshot(filepath.Join(o.Dir, n))
		if err != nil {
			return nil, err
		}
		per := 1
		if len(s.Channels) == 8 {
			per = 2
		}
		nb := len(s.Channels) / per
		if r.bearings == nil {
			for b := 1; b <= nb; b++ {
				r.bearings = append(r.bearings, b)
			}
		} else if nb != len(r.bearings) {
			return nil, fmt.Errorf("backtest: %s: %d channels, the run's first snapshot has %d bearings", n, len(s.Channels), len(r.bearings))
		}
		row := make([]bearing.Indicators, nb)
		for b := range row {
			x := s.Channels[b*per]
			row[b] = bearing.Indicators{RMS: vibration.RMS(x), Kurtosis: vibration.Kurtosis(x), CrestFactor: vibration.CrestFactor(x)}
		}
		r.times = append(r.times, s.Time)
		r.x = append(r.x, row)
		if o.Progress != nil {
			o.Progress(i+1, len(names))
		}
	}
	return r, nil
}

// imsTTFBefore are the times before the failure at which TTF estimates
// are reported.
var imsTTFBefore = []float64{48, 24, 12, 6, 2}

// imsBacktestRun runs the monitor and the sigma rule over one run.
func imsBacktestRun(r *imsRun, cfg bearing.HealthConfig, o IMSOptions) ([]IMSBearing, bearing.HealthConfig, error) {
	n := len(r.bearings)
	m, err := bearing.NewMonitor(n, cfg)
	if err != nil {
		return nil, cfg, err
	}
	cfg = m.Config()
	start, end := r.times[0], r.times[len(r.times)-1]
	half := start.Add(end.Sub(start) / 2)
	out := make([]IMSBearing, n)
	for j, b := range r.bearings {
		out[j] = IMSBearing{Test: r.test, Bearing: b, Snapshots: len(r.times), Start: start, End: end}
	}
	status := make([]bearing.Status, n)
	ttfs := make([][]bearing.TTF, n)
	for i, t := range r.times {
		if err := m.Update(t, r.x[i], status); err != nil {
			return nil, cfg, err
		}
		for j, s := range status {
			ob := &out[j]
			p := IMSPoint{Time: t, State: s.State.String(), Health: finite(s.Health), RMSRatio: finite(s.RMSRatio), Alarm: s.Alarm}
			ob.Series = append(ob.Series, p)
			switch s.State {
			case bearing.Learning:
				ob.BaselineSnapshots++
			case bearing.Stopped:
				ob.StoppedSnapshots++
			case bearing.Running:
				ob.LastRunning = t
				if t.Before(half) && (ob.MaxHealthFirstHalf == nil || s.Health > *ob.MaxHealthFirstHalf) {
					ob.MaxHealthFirstHalf = ptr(s.Health)
				}
			}
			if s.Alarm {
				ob.AlarmSnapshots++
				if t.Before(half) {
					ob.AlarmsBeforeHalfLife++
				}
			}
			ttfs[j] = append(ttfs[j], s.TTF)
		}
	}
	k, sustain, share := o.SigmaK, o.SigmaSustain, o.SigmaHealthy
	if k == 0 {
		k = 6
	}
	if sustain == 0 {
		sustain = 3
	}
	if share == 0 {
		share = 0.3
	}
	rms := make([]float64, len(r.times))
	for j := range out {
		ob := &out[j]
		if t, ok := m.FirstAlarm(j); ok {
			ob.FirstAlarm = &t
			ob.LeadHours = ptr(end.Sub(t).Hours())
		}
		for i := range r.times {
			rms[i] = r.x[i][j].RMS
		}
		ob.Sigma = IMSSigma{Healthy: int(share * float64(len(rms))), K: k, Sustain: sustain}
		if rule, err := bearing.RMSSigmaRule(rms, ob.Sigma.Healthy, k, sustain); err == nil {
			ob.Sigma.Threshold = rule.Threshold
			if rule.FirstAlarm >= 0 {
				t := r.times[rule.FirstAlarm]
				ob.Sigma.FirstAlarm, ob.Sigma.LeadHours = &t, ptr(end.Sub(t).Hours())
			}
			for i, a := range rule.Alarm {
				if a {
					ob.Sigma.AlarmSnapshots++
					if r.times[i].Before(half) {
						ob.Sigma.AlarmsBeforeHalfLife++
					}
				}
			}
		}
		if ob.FirstAlarm != nil && !ob.LastRunning.IsZero() {
			for _, h := range imsTTFBefore {
				at := ob.LastRunning.Add(-time.Duration(h * float64(time.Hour)))
				// The last snapshot at or before at.
				i, _ := slices.BinarySearchFunc(r.times, at, func(x, y time.Time) int { return x.Compare(y) })
				if i < len(r.times) && r.times[i].Equal(at) {
					i++
				}
				i--
				if i < 0 || r.times[i].Before(*ob.FirstAlarm) {
					continue
				}
				e := ttfs[j][i]
				p := IMSTTF{BeforeHours: ob.LastRunning.Sub(r.times[i]).Hours(), At: r.times[i]}
				if e.Valid {
					p.Hours, p.Low, p.High = finite(e.Hours), finite(e.Low), finite(e.High)
				}
				ob.TTF = append(ob.TTF, p)
			}
		}
	}
	return out, cfg, nil
}

func ptr(v float64) *float64 { return &v }

// finite returns &v, or nil for NaN and infinities (JSON null).
func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Summary writes one line per bearing: the health monitor's first alarm
// and lead beside the plain RMS rule's, and the TTF estimates.
func (r *IMSReport) Summary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "IMS backtest (%s): health index > %g for %d snapshots in a row, baseline %g h\n", r.Dataset, r.Config.Threshold, r.Config.Sustain, r.Config.BaselineHours)
	fmt.Fprintln(tw, "test\tbearing\tsnapshots\tfirst alarm\tlead h\talarms < half life\talarm snapshots\tmax health < half life\tRMS 6σ first alarm\tRMS 6σ lead h\tRMS 6σ alarms < half life\tRMS 6σ alarm snapshots")
	for _, b := range r.Bearings {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\n", b.Test, b.Bearing, b.Snapshots,
			fmtTime(b.FirstAlarm), fmtHours(b.LeadHours), b.AlarmsBeforeHalfLife, b.AlarmSnapshots, fmtHours(b.MaxHealthFirstHalf),
			fmtTime(b.Sigma.FirstAlarm), fmtHours(b.Sigma.LeadHours), b.Sigma.AlarmsBeforeHalfLife, b.Sigma.AlarmSnapshots)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, b := range r.Bearings {
		for _, e := range b.TTF {
			if _, err := fmt.Fprintf(w, "%s bearing %d: %.1f h before the last running snapshot, estimated time to failure %s h (90%% %s..%s)\n",
				b.Test, b.Bearing, e.BeforeHours, fmtHours(e.Hours), fmtHours(e.Low), fmtHours(e.High)); err != nil {
				return err
			}
		}
	}
	return nil
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "none"
	}
	return t.Format(time.RFC3339)
}

func fmtHours(h *float64) string {
	if h == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *h)
}

// Charts draws each bearing's health index against hours since the run's
// start, with the threshold, the first alarm and the end of the run.
func (r *IMSReport) Charts() []*Chart {
	var charts []*Chart
	for _, b := range r.Bearings {
		s := Series{Name: "health index"}
		for _, p := range b.Series {
			s.X = append(s.X, p.Time.Sub(b.Start).Hours())
			if p.Health != nil {
				s.Y = append(s.Y, *p.Health)
			} else {
				s.Y = append(s.Y, math.NaN())
			}
		}
		c := &Chart{
			Name:   fmt.Sprintf("ims-%s-b%d", b.Test, b.Bearing),
			Title:  fmt.Sprintf("IMS %s bearing %d", b.Test, b.Bearing),
			XLabel: "hours since the run's first snapshot", YLabel: "health index (robust σ)",
			Series: []Series{s}, Threshold: r.Config.Threshold, HasThreshold: true,
			Failures: []float64{b.End.Sub(b.Start).Hours()},
		}
		if b.FirstAlarm != nil {
			c.Alarms = []float64{b.FirstAlarm.Sub(b.Start).Hours()}
		}
		charts = append(charts, c)
	}
	return charts
}
