package simulate

import (
	"fmt"
	"math/rand/v2"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// Asset is a simulated milling machine replaying the dataset from Offset.
type Asset struct {
	ID     string
	Offset int
}

// Reading is one simulated sensor value; Fault names the injected fault that
// shaped it, if any.
type Reading struct {
	AssetID  string
	SensorID string
	Unit     string
	Value    float64
	Fault    string
}

// FaultEvent marks a lasting fault (episode, drift, stuck, dropout) starting
// or ending on an asset.
type FaultEvent struct {
	AssetID string
	Fault   string
}

// Step is what every asset reports for one dataset record.
type Step struct {
	Index    int
	Readings []Reading
	// Dropped counts the readings silenced by dropouts.
	Dropped int
	// Started and Ended list the lasting faults that changed at this step.
	Started, Ended []FaultEvent
}

// Replay turns the dataset into sensor readings: at each step every asset
// reports the five sensors of its next record, shaped by the fault
// injectors. It is deterministic for a given seed.
type Replay struct {
	records   []dataset.AI4I
	sensors   []SensorSpec
	assets    []Asset
	injectors []injector
	step      int
	active    []map[string]bool // lasting faults of each asset at the last step
}

// NewReplay builds a replay of records over n assets named mill-01, mill-02
// …, each starting at its own offset, with the given faults ("all", "none"
// or a comma-separated list of FaultKinds).
func NewReplay(records []dataset.AI4I, n int, faults string, seed uint64) (*Replay, error) {
	kinds, err := parseFaults(faults)
	if err != nil {
		return nil, err
	}
	return newReplay(records, n, kinds, defaultPlan, seed)
}

func newReplay(records []dataset.AI4I, n int, kinds map[string]bool, p plan, seed uint64) (*Replay, error) {
	if len(records) == 0 {
		return nil, fmt.Errorf("no dataset records to replay")
	}
	if n < 1 || n > 999 {
		return nil, fmt.Errorf("assets must be from 1 to 999, got %d", n)
	}
	r := &Replay{records: records, sensors: Sensors(records), active: make([]map[string]bool, n)}
	for i := range n {
		r.assets = append(r.assets, Asset{ID: fmt.Sprintf("mill-%02d", i+1), Offset: i * len(records) / n})
		r.active[i] = map[string]bool{}
	}
	var medians [numSensors]float64
	for i, s := range r.sensors {
		medians[i] = s.median(records)
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed5eed5eed5eed))
	r.injectors = injectors(p, kinds, r.sensors, medians, n, rng)
	return r, nil
}

// Assets returns the simulated assets.
func (r *Replay) Assets() []Asset { return r.assets }

// Sensors returns the sensors every asset has.
func (r *Replay) Sensors() []SensorSpec { return r.sensors }

// Record is the dataset record asset i replays at step.
func (r *Replay) Record(i, step int) dataset.AI4I {
	return r.records[(r.assets[i].Offset+step)%len(r.records)]
}

// Next returns the next step.
func (r *Replay) Next() Step {
	st := Step{Index: r.step, Readings: make([]Reading, 0, len(r.assets)*numSensors)}
	for a, asset := range r.assets {
		rec := r.Record(a, r.step)
		var s [numSensors]sample
		for i, spec := range r.sensors {
			s[i].value = spec.Value(rec)
		}
		for _, inj := range r.injectors {
			inj.apply(r.step, a, &s)
		}
		now := map[string]bool{}
		for i, spec := range r.sensors {
			if s[i].lasting != "" {
				now[s[i].lasting] = true
			}
			if s[i].missing {
				st.Dropped++
				continue
			}
			st.Readings = append(st.Readings, Reading{AssetID: asset.ID, SensorID: spec.ID, Unit: spec.Unit, Value: s[i].value, Fault: s[i].fault})
		}
		for _, k := range FaultKinds {
			switch {
			case now[k] && !r.active[a][k]:
				st.Started = append(st.Started, FaultEvent{asset.ID, k})
			case !now[k] && r.active[a][k]:
				st.Ended = append(st.Ended, FaultEvent{asset.ID, k})
			}
		}
		r.active[a] = now
	}
	r.step++
	return st
}
