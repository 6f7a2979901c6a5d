package bearing

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// Indicators are the condition indicators of one bearing in one snapshot,
// as vibration monitors export them: RMS, kurtosis (Pearson, non-excess)
// and crest factor (peak |x| over RMS). Package vibration computes them
// from a waveform.
type Indicators struct {
	RMS, Kurtosis, CrestFactor float64
}

// numIndicators is the number of fields of Indicators.
const numIndicators = 3

// values returns the indicators in the order of IndicatorNames.
func (x Indicators) values() [numIndicators]float64 {
	return [numIndicators]float64{x.RMS, x.Kurtosis, x.CrestFactor}
}

// IndicatorNames name the fields of Indicators as the IMS feature CSV does.
var IndicatorNames = []string{"rms", "kurtosis", "crest_factor"}

// HealthConfig sets the health monitor. The same settings serve every
// bearing: each bearing's thresholds come from its own healthy start.
type HealthConfig struct {
	// BaselineHours is how long the healthy baseline lasts from the first
	// running snapshot (default 24: a day of normal running).
	BaselineHours float64 `json:"baseline_hours"`
	// MinBaseline is the least number of running snapshots in the baseline
	// (default 6); the baseline lasts until both are met.
	MinBaseline int `json:"min_baseline"`
	// Threshold is the health index above which a snapshot is abnormal
	// (default 6: six robust standard deviations of the baseline).
	Threshold float64 `json:"threshold"`
	// Sustain is how many running snapshots in a row must be abnormal to
	// raise the alarm (default 3).
	Sustain int `json:"sustain"`
	// StoppedRatio: a bearing whose RMS is below this share of its
	// baseline RMS is not running (default 0.1, 20 dB down); such
	// snapshots neither raise nor clear an alarm.
	StoppedRatio float64 `json:"stopped_ratio"`
	// FailureRatio is the RMS over the baseline RMS taken as failure for
	// the time-to-failure estimate (default 10, 20 dB up).
	FailureRatio float64 `json:"failure_ratio"`
}

// DefaultHealthConfig returns the defaults documented on HealthConfig.
func DefaultHealthConfig() HealthConfig { return HealthConfig{}.withDefaults() }

func (c HealthConfig) withDefaults() HealthConfig {
	c.BaselineHours = cmp.Or(c.BaselineHours, 24)
	c.MinBaseline = cmp.Or(c.MinBaseline, 6)
	c.Threshold = cmp.Or(c.Threshold, 6)
	c.Sustain = cmp.Or(c.Sustain, 3)
	c.StoppedRatio = cmp.Or(c.StoppedRatio, 0.1)
	c.FailureRatio = cmp.Or(c.FailureRatio, 10)
	return c
}

func (c HealthConfig) validate() error {
	switch {
	case !(c.BaselineHours >= 0):
		return fmt.Errorf("bearing: baseline of %v hours", c.BaselineHours)
	case c.MinBaseline < 3:
		return fmt.Errorf("bearing: baseline of at least %d snapshots, want 3 or more", c.MinBaseline)
	case !(c.Threshold > 0):
		return fmt.Errorf("bearing: threshold %v", c.Threshold)
	case c.Sustain < 1:
		return fmt.Errorf("bearing: sustain %d", c.Sustain)
	case !(c.StoppedRatio >= 0 && c.StoppedRatio < 1):
		return fmt.Errorf("bearing: stopped ratio %v", c.StoppedRatio)
	case !(c.FailureRatio > 1):
		return fmt.Errorf("bearing: failure ratio %v", c.FailureRatio)
	}
	return nil
}

// State is what the monitor makes of a bearing's snapshot.
type State int

// States of a bearing in a snapshot.
const (
	// Learning: the snapshot is part of the healthy baseline.
	Learning State = iota
	// Running: scored against the baseline.
	Running
	// Stopped: near-zero vibration, the machine is not running; the
	// snapshot says nothing about health.
	Stopped
)

func (s State) String() string {
	switch s {
	case Learning:
		return "learning"
	case Running:
		return "running"
	case Stopped:
		return "stopped"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// TTF is a time-to-failure estimate: the hours until the exponential trend
// of RMS fitted since the onset reaches the failure level, with a 90%
// interval from the trend's slope. Low and High may be +Inf (no upper
// bound when the slope could be flat).
type TTF struct {
	Valid            bool
	Hours, Low, High float64
}

// Status is the monitor's verdict on one bearing at one snapshot.
type Status struct {
	State State
	// Health is the health index (NaN unless Running): the largest, over
	// RMS, kurtosis and crest factor, of the bearing's log-indicator
	// change since its baseline beyond the change of its most-changed
	// neighbour, in robust standard deviations of the baseline. 0 is
	// baseline-like; the alarm threshold is HealthConfig.Threshold.
	Health float64
	// RMSRatio is RMS over the baseline RMS (NaN while learning).
	RMSRatio float64
	// Streak is the number of abnormal running snapshots in a row.
	Streak int
	// Alarm is set while the streak is at least Sustain long.
	Alarm bool
	// FirstAlarm is set on the snapshot that raises the bearing's first
	// sustained alarm; the alarm dates from the streak's first snapshot,
	// Monitor.FirstAlarm.
	FirstAlarm bool
	// TTF is set from the first sustained alarm on.
	TTF TTF
}

// bearingState is the monitor's memory of one bearing.
type bearingState struct {
	streak      int
	streakStart time.Time
	alarmed     bool
	firstAlarm  time.Time
	// Least-squares sums of ln(RMS ratio) against hours since t0, over the
	// current streak until the first alarm and over everything since.
	t0                       time.Time
	n, st, sy, stt, sty, syy float64
}

// Monitor scores the snapshots of the bearings of one machine (bearings
// sharing a shaft or frame, observed together) one snapshot at a time. It
// learns each bearing's baseline from the healthy start of the run, then
// scores every snapshot and raises an alarm after Sustain abnormal ones in
// a row. Once the baseline is learned, Update does not allocate. A Monitor
// is not safe for concurrent use.
type Monitor struct {
	cfg   HealthConfig
	model *HealthModel // nil while learning
	// Learning: log indicators of the running baseline snapshots.
	start time.Time
	base  [][]float64 // snapshot × (bearing × indicator)
	// Scoring scratch.
	dev      []float64 // bearing × indicator: log change since baseline
	running  []bool
	bearings []bearingState
	tq       [64]float64 // Student t 95% quantiles by degrees of freedom
}

// NewMonitor returns a monitor of n bearings that learns its baseline.
func NewMonitor(n int, cfg HealthConfig) (*Monitor, error) {
	if n < 1 {
		return nil, fmt.Errorf("bearing: monitor of %d bearings", n)
	}
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Monitor{
		cfg:      cfg,
		dev:      make([]float64, n*numIndicators),
		running:  make([]bool, n),
		bearings: make([]bearingState, n),
	}
	for i := range m.tq {
		m.tq[i] = math.NaN()
		if i > 0 {
			m.tq[i] = distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(i)}.Quantile(0.95)
		}
	}
	return m, nil
}

// NewMonitorFromModel returns a monitor that scores with a learned
// baseline from the first snapshot on.
func NewMonitorFromModel(h *HealthModel) (*Monitor, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	m, err := NewMonitor(h.Bearings, h.Config)
	if err != nil {
		return nil, err
	}
	m.model = h
	return m, nil
}

// Bearings is the number of bearings watched.
func (m *Monitor) Bearings() int { return len(m.bearings) }

// Config is the monitor's configuration with defaults filled in.
func (m *Monitor) Config() HealthConfig { return m.cfg }

// Model is the learned baseline, nil while the monitor is still learning.
func (m *Monitor) Model() *HealthModel { return m.model }

// FirstAlarm is the time of the first snapshot of bearing b's first
// sustained alarm; false when it has not alarmed.
func (m *Monitor) FirstAlarm(b int) (time.Time, bool) {
	s := &m.bearings[b]
	return s.firstAlarm, s.alarmed
}

// Update scores one snapshot taken at t: x holds each bearing's
// indicators and out receives each bearing's status (both of length
// Bearings).
func (m *Monitor) Update(t time.Time, x []Indicators, out []Status) error {
	n := len(m.bearings)
	if len(x) != n || len(out) != n {
		return fmt.Errorf("bearing: update with %d indicators and %d statuses for %d bearings", len(x), len(out), n)
	}
	if m.model == nil {
		return m.learn(t, x, out)
	}
	h := m.model
	for b := range x {
		v := x[b].values()
		ok := !(x[b].RMS < m.cfg.StoppedRatio*math.Exp(h.Median[b][0])) // NaN is not running
		for c := range v {
			if !(v[c] > 0) || math.IsInf(v[c], 0) {
				ok = false
				break
			}
			m.dev[b*numIndicators+c] = math.Log(v[c]) - h.Median[b][c]
		}
		m.running[b] = ok
	}
	for b := range x {
		st := &m.bearings[b]
		out[b] = Status{State: Stopped, Health: math.NaN(), RMSRatio: x[b].RMS / math.Exp(h.Median[b][0]), Streak: st.streak, Alarm: st.alarmed && st.streak >= m.cfg.Sustain}
		if !m.running[b] {
			if st.alarmed {
				out[b].TTF = m.ttf(st, t)
			}
			continue
		}
		health := h.health(b, m.dev, m.running)
		out[b].State, out[b].Health = Running, health
		if health > m.cfg.Threshold {
			if st.streak == 0 {
				st.streakStart = t
				if !st.alarmed {
					st.t0, st.n, st.st, st.sy, st.stt, st.sty, st.syy = t, 0, 0, 0, 0, 0, 0
				}
			}
			st.streak++
		} else {
			st.streak = 0
		}
		if st.streak > 0 || st.alarmed {
			st.add(t, m.dev[b*numIndicators])
		}
		if st.streak >= m.cfg.Sustain && !st.alarmed {
			st.alarmed, st.firstAlarm = true, st.streakStart
			out[b].FirstAlarm = true
		}
		out[b].Streak, out[b].Alarm = st.streak, st.streak >= m.cfg.Sustain
		if st.alarmed {
			out[b].TTF = m.ttf(st, t)
		}
	}
	return nil
}

// add adds the point (hours since t0, y) to the trend sums.
func (s *bearingState) add(t time.Time, y float64) {
	x := t.Sub(s.t0).Hours()
	s.n++
	s.st += x
	s.sy += y
	s.stt += x * x
	s.sty += x * y
	s.syy += y * y
}

// ttf extrapolates the bearing's trend from time t to the failure level.
func (m *Monitor) ttf(s *bearingState, t time.Time) TTF {
	if s.n < 3 {
		return TTF{}
	}
	sxx := s.stt - s.st*s.st/s.n
	sxy := s.sty - s.st*s.sy/s.n
	syy := s.syy - s.sy*s.sy/s.n
	if !(sxx > 0) {
		return TTF{}
	}
	slope := sxy / sxx
	now := t.Sub(s.t0).Hours()
	fit := s.sy/s.n + slope*(now-s.st/s.n)
	gap := math.Log(m.cfg.FailureRatio) - fit
	if gap <= 0 {
		return TTF{Valid: true}
	}
	df := int(s.n) - 2
	var q float64
	switch {
	case df < 1:
		return TTF{}
	case df < len(m.tq):
		q = m.tq[df]
	default:
		q = 1.6448536269514722 // normal 95% quantile
	}
	sse := max(syy-slope*sxy, 0)
	se := math.Sqrt(sse / float64(df) / sxx)
	hours := func(b float64) float64 {
		if b <= 0 {
			return math.Inf(1)
		}
		return gap / b
	}
	return TTF{Valid: true, Hours: hours(slope), Low: hours(slope + q*se), High: hours(slope - q*se)}
}

// learn collects a baseline snapshot and learns the model once the
// baseline is long enough.
func (m *Monitor) learn(t time.Time, x []Indicators, out []Status) error {
	n := len(m.bearings)
	stopped := false
	row := make([]float64, n*numIndicators)
	for b := range x {
		v := x[b].values()
		for c := range v {
			if !(v[c] > 0) || math.IsInf(v[c], 0) {
				stopped = true
				break
			}
			row[b*numIndicators+c] = math.Log(v[c])
		}
		if len(m.base) > 0 && !stopped {
			// Stopped relative to the baseline so far.
			col := make([]float64, len(m.base))
			for i, r := range m.base {
				col[i] = r[b*numIndicators]
			}
			if x[b].RMS < m.cfg.StoppedRatio*math.Exp(median(col)) {
				stopped = true
			}
		}
	}
	state := Learning
	if stopped {
		state = Stopped
	} else {
		if len(m.base) == 0 {
			m.start = t
		}
		m.base = append(m.base, row)
	}
	for b := range out {
		out[b] = Status{State: state, Health: math.NaN(), RMSRatio: math.NaN()}
	}
	if !stopped && len(m.base) >= m.cfg.MinBaseline && t.Sub(m.start).Hours() >= m.cfg.BaselineHours {
		h, err := learnModel(m.base, n, m.cfg)
		if err != nil {
			return err
		}
		m.model, m.base = h, nil
	}
	return nil
}

// HealthModel is a learned baseline: for each bearing and indicator, the
// median of the log indicator over the baseline and the median and robust
// standard deviation (1.4826 × MAD) of the neighbour-referenced change.
// It is a modelfile.Scorer (kind "bearing_health") whose input is every
// bearing's indicators in order (IndicatorNames per bearing).
type HealthModel struct {
	Bearings int                      `json:"bearings"`
	Config   HealthConfig             `json:"config"`
	Median   [][numIndicators]float64 `json:"median_log"`
	RefMed   [][numIndicators]float64 `json:"ref_median"`
	RefScale [][numIndicators]float64 `json:"ref_scale"`
	// Snapshots is the number of baseline snapshots learned from.
	Snapshots int `json:"snapshots"`
}

// minScale floors a robust standard deviation (a constant baseline).
const minScale = 1e-6

// learnModel learns a HealthModel from log indicators of baseline
// snapshots (snapshot × bearing × indicator).
func learnModel(base [][]float64, n int, cfg HealthConfig) (*HealthModel, error) {
	if len(base) < 3 {
		return nil, fmt.Errorf("bearing: baseline of %d snapshots", len(base))
	}
	h := &HealthModel{
		Bearings: n, Config: cfg, Snapshots: len(base),
		Median:   make([][numIndicators]float64, n),
		RefMed:   make([][numIndicators]float64, n),
		RefScale: make([][numIndicators]float64, n),
	}
	col := make([]float64, len(base))
	for b := 0; b < n; b++ {
		for c := 0; c < numIndicators; c++ {
			for i, r := range base {
				col[i] = r[b*numIndicators+c]
			}
			h.Median[b][c] = median(col)
		}
	}
	dev := make([]float64, n*numIndicators)
	all := make([]bool, n)
	for b := range all {
		all[b] = true
	}
	refs := make([][]float64, n*numIndicators)
	for _, r := range base {
		for b := 0; b < n; b++ {
			for c := 0; c < numIndicators; c++ {
				dev[b*numIndicators+c] = r[b*numIndicators+c] - h.Median[b][c]
			}
		}
		for b := 0; b < n; b++ {
			for c := 0; c < numIndicators; c++ {
				refs[b*numIndicators+c] = append(refs[b*numIndicators+c], dev[b*numIndicators+c]-neighbourMax(dev, all, b, c))
			}
		}
	}
	for b := 0; b < n; b++ {
		for c := 0; c < numIndicators; c++ {
			x := refs[b*numIndicators+c]
			med := median(x)
			for i, v := range x {
				x[i] = math.Abs(v - med)
			}
			h.RefMed[b][c], h.RefScale[b][c] = med, max(1.4826*median(x), minScale)
		}
	}
	return h, nil
}

// neighbourMax is the largest change of indicator c among the running
// bearings other than b, 0 when there is none.
func neighbourMax(dev []float64, running []bool, b, c int) float64 {
	ref, any := math.Inf(-1), false
	for o, ok := range running {
		if o != b && ok {
			ref, any = max(ref, dev[o*numIndicators+c]), true
		}
	}
	if !any {
		return 0
	}
	return ref
}

// health is bearing b's health index given every bearing's log change.
func (h *HealthModel) health(b int, dev []float64, running []bool) float64 {
	z := math.Inf(-1)
	for c := 0; c < numIndicators; c++ {
		r := dev[b*numIndicators+c] - neighbourMax(dev, running, b, c)
		z = max(z, (r-h.RefMed[b][c])/h.RefScale[b][c])
	}
	return z
}

// median returns the median of x, reordering x.
func median(x []float64) float64 {
	slices.Sort(x)
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

func (h *HealthModel) validate() error {
	if h == nil {
		return errors.New("bearing: no health model")
	}
	if h.Bearings < 1 || len(h.Median) != h.Bearings || len(h.RefMed) != h.Bearings || len(h.RefScale) != h.Bearings {
		return fmt.Errorf("bearing: health model of %d bearings with %d/%d/%d baselines", h.Bearings, len(h.Median), len(h.RefMed), len(h.RefScale))
	}
	for b := range h.RefScale {
		for c, s := range h.RefScale[b] {
			if !(s > 0) || math.IsInf(s, 0) || math.IsNaN(h.Median[b][c]) || math.IsNaN(h.RefMed[b][c]) {
				return fmt.Errorf("bearing: health model bearing %d indicator %s: bad baseline", b+1, IndicatorNames[c])
			}
		}
	}
	return h.Config.withDefaults().validate()
}
