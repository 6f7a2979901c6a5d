// Package risk scores the probability that a machine has a component
// failure within the next 24 hours, per machine-hour, from the Microsoft
// Azure predictive-maintenance layout: hourly telemetry (volt, rotate,
// pressure, vibration), error events, maintenance records and the machine's
// model and age.
//
// A Builder turns one telemetry hour at a time, plus the events seen so
// far, into a feature vector, so the same code serves training, the
// backtest and the ingest path. Every input is taken strictly before the
// prediction time t (the telemetry hour itself included), and the label of
// hour t is a failure of the machine in (t, t+24 h]. Maintenance records
// must never be used at or after t: most failures have a repair record at
// the very same hour.
package risk

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// Horizon is how far ahead a failure counts for an hour's label.
const Horizon = 24 * time.Hour

// Window lengths of the telemetry features.
const (
	ShortWindow = 3  // hours
	LongWindow  = 24 // hours; a machine's vector is ready once it has this many
)

// Sensors are the telemetry channels, in feature order.
var Sensors = []string{"volt", "rotate", "pressure", "vibration"}

// ErrorKinds are the error types counted, in feature order.
var ErrorKinds = []string{"error1", "error2", "error3", "error4", "error5"}

// Components are the replaceable components, in feature order.
var Components = []string{"comp1", "comp2", "comp3", "comp4"}

// MachineModels are the machine models one-hot encoded, in feature order.
var MachineModels = []string{"model1", "model2", "model3", "model4"}

// FeatureNames name the entries of a feature vector, in order: per sensor
// the 3 h and 24 h mean and standard deviation; per error type the count in
// the last 24 h; per component the hours since its last maintenance record
// (−1 when none is on record); the machine model one-hot and its age in
// years.
var FeatureNames = func() []string {
	var n []string
	for _, s := range Sensors {
		n = append(n, s+"_mean_3h", s+"_std_3h", s+"_mean_24h", s+"_std_24h")
	}
	for _, e := range ErrorKinds {
		n = append(n, e+"_count_24h")
	}
	for _, c := range Components {
		n = append(n, c+"_hours_since_maint")
	}
	for _, m := range MachineModels {
		n = append(n, "model_"+m)
	}
	return append(n, "age_years")
}()

// Feature offsets inside a vector.
var (
	offErrors = 4 * len(Sensors)
	offMaint  = offErrors + len(ErrorKinds)
	offModel  = offMaint + len(Components)
	offAge    = offModel + len(MachineModels)
)

// ErrOutOfOrder means a machine's telemetry did not move forward in time.
var ErrOutOfOrder = errors.New("risk: telemetry out of order")

// Builder computes feature vectors from a stream of telemetry hours and
// events for a fleet. Events may arrive before or after the telemetry of
// their hour; each vector uses only events strictly before its hour. It is
// not safe for concurrent use.
type Builder struct {
	machines map[int]*machineState
}

type machineState struct {
	model    int // index in MachineModels, −1 when unknown
	age      float64
	tel      [][4]float64 // last LongWindow hours, oldest first
	telTimes []time.Time
	errors   []dataset.AzureEvent // sorted by time; pruned past the long window
	maint    []dataset.AzureEvent // sorted by time; not yet applied
	last     [4]time.Time         // last maintenance applied, per component
	has      [4]bool
	lastTime time.Time
}

// NewBuilder returns a builder for the machines.
func NewBuilder(machines []dataset.AzureMachine) *Builder {
	b := &Builder{machines: make(map[int]*machineState, len(machines))}
	for _, m := range machines {
		b.machines[m.ID] = &machineState{model: slices.Index(MachineModels, m.Model), age: float64(m.Age)}
	}
	return b
}

func (b *Builder) machine(id int) (*machineState, error) {
	m, ok := b.machines[id]
	if !ok {
		return nil, fmt.Errorf("risk: unknown machine %d", id)
	}
	return m, nil
}

func insertByTime(list []dataset.AzureEvent, e dataset.AzureEvent) []dataset.AzureEvent {
	i, _ := slices.BinarySearchFunc(list, e.Time, func(x dataset.AzureEvent, t time.Time) int {
		if x.Time.After(t) {
			return 1
		}
		return -1 // after equal times: keep arrival order
	})
	return slices.Insert(list, i, e)
}

// Error records an error event.
func (b *Builder) Error(e dataset.AzureEvent) error {
	m, err := b.machine(e.Machine)
	if err != nil {
		return err
	}
	if !slices.Contains(ErrorKinds, e.Kind) {
		return fmt.Errorf("risk: machine %d: unknown error %q", e.Machine, e.Kind)
	}
	m.errors = insertByTime(m.errors, e)
	return nil
}

// Maintenance records a component's maintenance or replacement.
func (b *Builder) Maintenance(e dataset.AzureEvent) error {
	m, err := b.machine(e.Machine)
	if err != nil {
		return err
	}
	if !slices.Contains(Components, e.Kind) {
		return fmt.Errorf("risk: machine %d: unknown component %q", e.Machine, e.Kind)
	}
	m.maint = insertByTime(m.maint, e)
	return nil
}

// Telemetry adds a machine's telemetry hour and returns the feature vector
// of that hour, stored in dst when it is large enough. ready is false until
// the machine has LongWindow hours in its window; x is nil then. A
// machine's hours must come in increasing time order.
func (b *Builder) Telemetry(r dataset.AzureTelemetry, dst []float64) (x []float64, ready bool, err error) {
	m, err := b.machine(r.Machine)
	if err != nil {
		return nil, false, err
	}
	t := r.Time
	if !m.lastTime.IsZero() && !t.After(m.lastTime) {
		return nil, false, fmt.Errorf("%w: machine %d at %v after %v", ErrOutOfOrder, r.Machine, t, m.lastTime)
	}
	m.lastTime = t
	m.tel = append(m.tel, [4]float64{r.Volt, r.Rotate, r.Pressure, r.Vibration})
	m.telTimes = append(m.telTimes, t)
	cut := 0
	for cut < len(m.telTimes) && !m.telTimes[cut].After(t.Add(-LongWindow*time.Hour)) {
		cut++
	}
	if cut > 0 {
		m.tel = slices.Delete(m.tel, 0, cut)
		m.telTimes = slices.Delete(m.telTimes, 0, cut)
	}
	// Maintenance strictly before t.
	applied := 0
	for _, e := range m.maint {
		if !e.Time.Before(t) {
			break
		}
		c := slices.Index(Components, e.Kind)
		m.last[c], m.has[c] = e.Time, true
		applied++
	}
	m.maint = slices.Delete(m.maint, 0, applied)
	// Errors in [t−24 h, t).
	old := 0
	for old < len(m.errors) && m.errors[old].Time.Before(t.Add(-LongWindow*time.Hour)) {
		old++
	}
	m.errors = slices.Delete(m.errors, 0, old)

	if len(m.tel) < LongWindow {
		return nil, false, nil
	}
	if n := len(FeatureNames); cap(dst) >= n {
		x = dst[:n]
		clear(x)
	} else {
		x = make([]float64, n)
	}
	for s := range Sensors {
		x[4*s], x[4*s+1] = meanStd(m.tel[len(m.tel)-ShortWindow:], s)
		x[4*s+2], x[4*s+3] = meanStd(m.tel, s)
	}
	for _, e := range m.errors {
		if !e.Time.Before(t) {
			break
		}
		x[offErrors+slices.Index(ErrorKinds, e.Kind)]++
	}
	for c := range Components {
		x[offMaint+c] = -1
		if m.has[c] {
			x[offMaint+c] = t.Sub(m.last[c]).Hours()
		}
	}
	if m.model >= 0 {
		x[offModel+m.model] = 1
	}
	x[offAge] = m.age
	return x, true, nil
}

// meanStd is the mean and population standard deviation of channel s.
func meanStd(rows [][4]float64, s int) (mean, std float64) {
	for _, r := range rows {
		mean += r[s]
	}
	mean /= float64(len(rows))
	for _, r := range rows {
		d := r[s] - mean
		std += d * d
	}
	return mean, math.Sqrt(std / float64(len(rows)))
}
