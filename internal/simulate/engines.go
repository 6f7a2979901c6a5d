package simulate

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
)

// EngineType is the asset type of the simulated turbofan engines.
const EngineType = "turbofan-engine"

// DefaultEngineUnits are the C-MAPSS FD001 test engines the turbofan fleet
// replays by default: five whose records end close to failure (true RUL 7
// to 21 cycles at their last test cycle), so each reaches the end of its
// life during the replay.
var DefaultEngineUnits = []int{31, 34, 68, 81, 49}

// EngineOptions configure the turbofan fleet (docs/SIMULATOR.md).
type EngineOptions struct {
	// Engines are the run records replayed; default the C-MAPSS FD001 test
	// split (test_FD001.txt), never the training engines a RUL model
	// learns from.
	Engines []dataset.CMAPSSEngine
	// Units are the unit numbers of Engines replayed, one asset each
	// (engine-<unit>); default DefaultEngineUnits.
	Units []int
	// Lead is how many cycles before the end of its record the first
	// engine starts; default 60.
	Lead int
	// Stagger is added to the lead of each next engine; default 40.
	Stagger int
	// Tick is the real time of one cycle; default 1s.
	Tick time.Duration
	// Config is the RUL features' configuration; zero fields take
	// rul.DefaultConfig's. It must be the bound model's.
	Config rul.Config
}

// DefaultEngineOptions returns the settings zero fields take.
func DefaultEngineOptions() EngineOptions {
	return EngineOptions{Units: DefaultEngineUnits, Lead: 60, Stagger: 40, Tick: time.Second, Config: rul.DefaultConfig()}
}

// EngineSensorUnits are the units of the FD001 sensors the RUL features
// use, by sensor number (C-MAPSS documentation: temperatures in °R,
// pressures in psia, speeds in rpm, flows in lbm/s).
var EngineSensorUnits = map[int]string{
	2: "degR", 3: "degR", 4: "degR", 7: "psia", 8: "rpm", 9: "rpm", 11: "psia",
	12: "pps/psi", 13: "rpm", 14: "rpm", 15: "1", 17: "1", 20: "lbm/s", 21: "lbm/s",
}

// engine is one replayed engine.
type engine struct {
	id    string
	rec   dataset.CMAPSSEngine
	start int // index of the first cycle sent
	pos   int // index of the next cycle
	b     *rul.Builder
}

// warm feeds the builder the cycles before start: the engine's history,
// which its edge computer has seen but the simulator does not send.
func (e *engine) warm() {
	e.b.Reset()
	for i := range e.start {
		e.b.Update(&e.rec.Cycles[i].Sensors)
	}
	e.pos = e.start
}

// engineFleet replays C-MAPSS engines one cycle per tick. Each engine's
// edge computer turns its cycles into the RUL model's features
// (rul.Builder) and sends those as sensors named after them.
type engineFleet struct {
	opts    EngineOptions
	engines []*engine
	sensors []SensorSpec
	names   []string
}

// newEngineFleet checks o, fills in its defaults and places each engine
// at its start cycle.
func newEngineFleet(o EngineOptions) (*engineFleet, error) {
	d := DefaultEngineOptions()
	if o.Units == nil {
		o.Units = d.Units
	}
	setDefault(&o.Lead, d.Lead)
	setDefault(&o.Stagger, d.Stagger)
	setDefault(&o.Tick, d.Tick)
	switch {
	case o.Lead < 1 || o.Stagger < 0:
		return nil, fmt.Errorf("engines: lead %d and stagger %d: want a lead of at least one cycle and a stagger of none or more", o.Lead, o.Stagger)
	case o.Tick < time.Millisecond:
		return nil, fmt.Errorf("engines: tick %s: want at least 1ms", o.Tick)
	case len(o.Units) == 0:
		return nil, fmt.Errorf("engines: no units to replay")
	}
	if o.Engines == nil {
		path, err := dataset.CMAPSSPath("test_FD001.txt")
		if err != nil {
			return nil, fmt.Errorf("engines: %w", err)
		}
		if o.Engines, err = dataset.LoadCMAPSSEngines(path); err != nil {
			return nil, fmt.Errorf("engines: %w", err)
		}
	}
	f := &engineFleet{opts: o, names: rul.FeatureNames()}
	byUnit := map[int]dataset.CMAPSSEngine{}
	for _, e := range o.Engines {
		byUnit[e.Unit] = e
	}
	for k, u := range o.Units {
		rec, ok := byUnit[u]
		if !ok || len(rec.Cycles) == 0 {
			return nil, fmt.Errorf("engines: no engine %d in the records", u)
		}
		b, err := rul.NewBuilder(o.Config)
		if err != nil {
			return nil, fmt.Errorf("engines: %w", err)
		}
		e := &engine{id: fmt.Sprintf("engine-%02d", u), rec: rec, start: max(0, len(rec.Cycles)-o.Lead-k*o.Stagger), b: b}
		e.warm()
		f.engines = append(f.engines, e)
	}
	f.sensors = engineSensors(f.names)
	return f, nil
}

// EngineSensors are the sensors of a turbofan engine asset, as the fleet
// registers them: one per RUL feature (rul.FeatureNames), in order.
func EngineSensors() []SensorSpec { return engineSensors(rul.FeatureNames()) }

// EngineFeatures returns what an engine's edge computer sends after each
// cycle of rec: the RUL features (a rul.Builder with cfg), one vector per
// cycle, values for EngineSensors.
func EngineFeatures(rec dataset.CMAPSSEngine, cfg rul.Config) ([][]float64, error) {
	b, err := rul.NewBuilder(cfg)
	if err != nil {
		return nil, fmt.Errorf("engines: %w", err)
	}
	out := make([][]float64, len(rec.Cycles))
	for i := range rec.Cycles {
		out[i] = slices.Clone(b.Update(&rec.Cycles[i].Sensors))
	}
	return out, nil
}

// engineSensors registers each RUL feature as a sensor: "age" counts
// cycles, the others are features (detect.FeatureSensorKind) in the unit
// of their sensor (per cycle for slopes). None has limits: the bound RUL
// model judges them.
func engineSensors(names []string) []SensorSpec {
	out := make([]SensorSpec, len(names))
	for i, n := range names {
		s := SensorSpec{ID: n, Kind: detect.FeatureSensorKind, Unit: "cycles"}
		if n == "age" {
			s.Kind = "counter"
		} else if sensor, stat, ok := strings.Cut(n, "_"); ok {
			var num int
			fmt.Sscanf(sensor, "s%d", &num)
			s.Unit = EngineSensorUnits[num]
			if strings.HasPrefix(stat, "slope") {
				s.Unit += "/cycle"
			}
		}
		out[i] = s
	}
	return out
}

func (f *engineFleet) name() string        { return EngineFleet }
func (f *engineFleet) tick() time.Duration { return f.opts.Tick }

func (f *engineFleet) assets() []FleetAsset {
	out := make([]FleetAsset, len(f.engines))
	for i, e := range f.engines {
		out[i] = FleetAsset{ID: e.id, Sensors: f.sensors, Body: map[string]any{
			"id": e.id, "type": EngineType,
			"name":     fmt.Sprintf("Turbofan engine %d", e.rec.Unit),
			"location": "simulated fleet",
			"metadata": map[string]any{
				"simulated": true, "dataset": "cmapss/test_FD001.txt", "unit": e.rec.Unit,
				"start_cycle": e.rec.Cycles[e.start].Cycle, "record_cycles": len(e.rec.Cycles),
			},
		}}
	}
	return out
}

// next sends every engine's next cycle; an engine past the end of its
// record is overhauled and replays again from its start cycle.
func (f *engineFleet) next() []Reading {
	out := make([]Reading, 0, len(f.engines)*len(f.names))
	for _, e := range f.engines {
		if e.pos == len(e.rec.Cycles) {
			e.warm()
		}
		x := e.b.Update(&e.rec.Cycles[e.pos].Sensors)
		e.pos++
		for i, v := range x {
			out = append(out, Reading{AssetID: e.id, SensorID: f.names[i], Unit: f.sensors[i].Unit, Value: v})
		}
	}
	return out
}
