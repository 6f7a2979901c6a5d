package simulate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
)

// The faults the simulator injects. See docs/SIMULATOR.md.
const (
	// FaultEpisode is a torque and process-temperature excursion past the
	// alarm thresholds lasting several readings, on one asset at a time:
	// first 20 steps after start, then every 300 steps on the next asset.
	FaultEpisode = "episode"
	// FaultDrift is bearing heating: the process temperature of the second
	// asset ramps up 0.01 K per step and resets every 720 steps.
	FaultDrift = "drift"
	// FaultSpike is a single-reading glitch of half the warning band.
	FaultSpike = "spike"
	// FaultStuck freezes the third asset's speed sensor for 60 steps every 600.
	FaultStuck = "stuck"
	// FaultDropout is a sensor sending nothing for 5 to 20 steps.
	FaultDropout = "dropout"
	// FaultInvalid is a reading outside the sensor's valid range, which the
	// API rejects with 422; the simulator resends the rest of its batch.
	FaultInvalid = "invalid"
)

// FaultKinds lists every fault, in the order they are applied.
var FaultKinds = []string{FaultDrift, FaultEpisode, FaultStuck, FaultSpike, FaultDropout, FaultInvalid}

// parseFaults reads "all", "none" or a comma-separated list of FaultKinds.
func parseFaults(s string) (map[string]bool, error) {
	set := map[string]bool{}
	switch s = strings.TrimSpace(s); s {
	case "", "all":
		for _, k := range FaultKinds {
			set[k] = true
		}
		return set, nil
	case "none":
		return set, nil
	}
	return parseList(s, FaultKinds, "fault", "all, none or a comma-separated list of")
}

// parseList reads a comma-separated list of names from valid; what names
// them and want says what else is accepted, for the error.
func parseList(s string, valid []string, what, want string) (map[string]bool, error) {
	set := map[string]bool{}
	for k := range strings.SplitSeq(s, ",") {
		k = strings.TrimSpace(k)
		if !slices.Contains(valid, k) {
			return nil, fmt.Errorf("unknown %s %q: use %s %s", what, k, want, strings.Join(valid, ", "))
		}
		set[k] = true
	}
	return set, nil
}

// plan times the faults in steps (one dataset record per asset), so that a
// run behaves the same at any speed-up.
type plan struct {
	episodeStart, episodeLen, episodeEvery int
	driftRate                              float64 // K per step
	driftPeriod                            int
	stuckStart, stuckLen, stuckEvery       int
	spikeProb                              float64 // per reading
	dropoutProb                            float64 // per asset and step
	dropoutMin, dropoutMax                 int
	invalidStart, invalidEvery             int
}

// defaultPlan starts an excursion 20 steps in: 20 s at the default speed-up.
var defaultPlan = plan{
	episodeStart: 20, episodeLen: 12, episodeEvery: 300,
	driftRate: 0.01, driftPeriod: 720,
	stuckStart: 30, stuckLen: 60, stuckEvery: 600,
	spikeProb:   0.001,
	dropoutProb: 0.002, dropoutMin: 5, dropoutMax: 20,
	invalidStart: 10, invalidEvery: 45,
}

// sample is one sensor's value at one step as an injector sees it.
type sample struct {
	value   float64
	fault   string // the fault that shaped the value last
	lasting string // the lasting fault on the sensor, if any
	missing bool
}

// injector alters the samples of one asset at one step. Injectors are called
// for every asset of every step in order, so they may keep state.
type injector interface {
	apply(step, asset int, s *[numSensors]sample)
}

// injectors builds the enabled injectors in FaultKinds order.
func injectors(p plan, kinds map[string]bool, specs []SensorSpec, medians [numSensors]float64, assets int, rng *rand.Rand) []injector {
	var out []injector
	for _, k := range FaultKinds {
		if !kinds[k] {
			continue
		}
		switch k {
		case FaultDrift:
			out = append(out, &drift{asset: 1 % assets, rate: p.driftRate, period: p.driftPeriod})
		case FaultEpisode:
			out = append(out, newEpisode(p, specs, medians, assets))
		case FaultStuck:
			out = append(out, &stuck{asset: 2 % assets, sensor: Speed, start: p.stuckStart, length: p.stuckLen, every: p.stuckEvery, heldWindow: -1})
		case FaultSpike:
			out = append(out, &spike{specs: specs, prob: p.spikeProb, rng: rng})
		case FaultDropout:
			out = append(out, &dropout{prob: p.dropoutProb, minLen: p.dropoutMin, maxLen: p.dropoutMax, rng: rng, until: map[[2]int]int{}})
		case FaultInvalid:
			out = append(out, &invalid{specs: specs, start: p.invalidStart, every: p.invalidEvery, assets: assets})
		}
	}
	return out
}

// window reports whether step falls in a recurring window of length steps
// that opens at start and then every every steps; n counts the windows
// and k is the step's position in its window.
func window(step, start, length, every int) (n, k int, ok bool) {
	if step < start || every <= 0 {
		return 0, 0, false
	}
	n, k = (step-start)/every, (step-start)%every
	return n, k, k < length
}

// episode drives torque and process temperature past their alarm
// thresholds: a three-step ramp, then a plateau at 110% of the torque alarm
// and 2 K above the temperature alarm, moving with the record underneath.
type episode struct {
	start, length, every, assets int
	peak, median                 [numSensors]float64
}

func newEpisode(p plan, specs []SensorSpec, medians [numSensors]float64, assets int) *episode {
	e := &episode{start: p.episodeStart, length: p.episodeLen, every: p.episodeEvery, assets: assets, median: medians}
	e.peak[Torque] = deref(specs[Torque].AlarmHigh, 70) * 1.1
	e.peak[ProcessTemp] = deref(specs[ProcessTemp].AlarmHigh, 314) + 2
	return e
}

func (e *episode) apply(step, asset int, s *[numSensors]sample) {
	n, k, ok := window(step, e.start, e.length, e.every)
	if !ok || n%e.assets != asset {
		return
	}
	f := min(1, float64(k+1)/3)
	for _, i := range []int{Torque, ProcessTemp} {
		base := s[i].value
		target := e.peak[i] + 0.1*(base-e.median[i])
		s[i].value = base + f*(target-base)
		s[i].fault, s[i].lasting = FaultEpisode, FaultEpisode
	}
}

// drift heats one asset's process temperature by rate per step, as a wearing
// bearing would, until a reset every period steps (the bearing is replaced).
type drift struct {
	asset  int
	rate   float64
	period int
}

func (d *drift) apply(step, asset int, s *[numSensors]sample) {
	if asset != d.asset || d.period <= 0 {
		return
	}
	if k := step % d.period; k > 0 {
		s[ProcessTemp].value += d.rate * float64(k)
		s[ProcessTemp].fault, s[ProcessTemp].lasting = FaultDrift, FaultDrift
	}
}

// stuck repeats one sensor's value for length steps every every steps.
type stuck struct {
	asset, sensor        int
	start, length, every int
	held                 float64
	heldWindow           int
}

func (st *stuck) apply(step, asset int, s *[numSensors]sample) {
	n, _, ok := window(step, st.start, st.length, st.every)
	if !ok || asset != st.asset {
		return
	}
	if st.heldWindow != n {
		st.held, st.heldWindow = s[st.sensor].value, n
	}
	s[st.sensor].value = st.held
	s[st.sensor].fault, s[st.sensor].lasting = FaultStuck, FaultStuck
}

// spike offsets single readings by half the warning band, up or down,
// within the valid range.
type spike struct {
	specs []SensorSpec
	prob  float64
	rng   *rand.Rand
}

func (sp *spike) apply(step, asset int, s *[numSensors]sample) {
	for i := range s {
		spec := sp.specs[i]
		if sp.rng.Float64() >= sp.prob || spec.Counter {
			continue
		}
		band := deref(spec.WarnHigh, 0) - deref(spec.WarnLow, 0)
		if sp.rng.IntN(2) == 0 {
			band = -band
		}
		v := s[i].value + band/2
		s[i].value = max(deref(spec.MinValid, v), min(deref(spec.MaxValid, v), v))
		s[i].fault = FaultSpike
	}
}

// dropout silences a random sensor of an asset for minLen to maxLen steps.
type dropout struct {
	prob           float64
	minLen, maxLen int
	rng            *rand.Rand
	until          map[[2]int]int // {asset, sensor} → first step sent again
}

func (d *dropout) apply(step, asset int, s *[numSensors]sample) {
	if d.rng.Float64() < d.prob {
		sensor := d.rng.IntN(numSensors)
		d.until[[2]int{asset, sensor}] = step + d.minLen + d.rng.IntN(d.maxLen-d.minLen+1)
	}
	for i := range s {
		key := [2]int{asset, i}
		if until, ok := d.until[key]; ok {
			if step >= until {
				delete(d.until, key)
				continue
			}
			s[i].missing, s[i].fault, s[i].lasting = true, FaultDropout, FaultDropout
		}
	}
}

// invalid replaces one reading every every steps, round-robin over assets
// and sensors, by a value outside the sensor's valid range.
type invalid struct {
	specs                []SensorSpec
	start, every, assets int
}

func (iv *invalid) apply(step, asset int, s *[numSensors]sample) {
	n, _, ok := window(step, iv.start, 1, iv.every)
	if !ok || n%iv.assets != asset {
		return
	}
	i := n % numSensors
	lo, hi := deref(iv.specs[i].MinValid, 0), deref(iv.specs[i].MaxValid, 1)
	s[i].value, s[i].fault, s[i].missing = hi+(hi-lo), FaultInvalid, false
}
