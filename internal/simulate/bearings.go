package simulate

import (
	"fmt"
	"slices"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/bearing"
)

// BearingType is the asset type of the simulated bearing rig.
const BearingType = "bearing-rig"

// BearingRigID is the simulated rig's asset id.
const BearingRigID = "bearing-rig-01"

// IMSTest is the IMS run the rig replays: set No. 2, whose bearing 1 fails
// by its outer race after 164 hours.
const IMSTest = "2nd_test"

// IMSBearings is the number of bearings of the rig.
const IMSBearings = 4

// BearingOptions configure the bearing rig (docs/SIMULATOR.md).
type BearingOptions struct {
	// Times and Snapshots are the run replayed in time order, one
	// snapshot's indicators per bearing; default IMSRun of the shipped
	// features.csv.
	Times     []time.Time
	Snapshots [][]bearing.Indicators
	// Start is the index of the first snapshot sent; default 480 (about
	// 80 h into the 164 h run, an hour of snapshots before bearing 1's
	// health index first leaves its baseline).
	Start int
	// Tick is the real time of one snapshot (10 minutes of the rig's
	// time); default 1s.
	Tick time.Duration
}

// DefaultBearingOptions returns the settings zero fields take.
func DefaultBearingOptions() BearingOptions {
	return BearingOptions{Start: 480, Tick: time.Second}
}

// IMSRun groups the rows of an IMS feature CSV of run test into snapshots
// in time order, each with the indicators of bearings 1 … n (the lowest
// channel of a bearing that has two).
func IMSRun(rows []dataset.IMSFeatureRow, test string, n int) ([]time.Time, [][]bearing.Indicators, error) {
	type key struct {
		t time.Time
		b int
	}
	val := map[key]bearing.Indicators{}
	channel := map[key]int{}
	var times []time.Time
	for _, r := range rows {
		if r.Test != test || r.Bearing < 1 || r.Bearing > n {
			continue
		}
		k := key{r.Time, r.Bearing}
		if ch, ok := channel[k]; ok && ch <= r.Channel {
			continue
		}
		if _, ok := channel[k]; !ok && !slices.ContainsFunc(times, r.Time.Equal) {
			times = append(times, r.Time)
		}
		channel[k] = r.Channel
		val[k] = bearing.Indicators{RMS: r.RMS, Kurtosis: r.Kurtosis, CrestFactor: r.CrestFactor}
	}
	slices.SortFunc(times, time.Time.Compare)
	snaps := make([][]bearing.Indicators, len(times))
	for i, t := range times {
		snaps[i] = make([]bearing.Indicators, n)
		for b := range n {
			v, ok := val[key{t, b + 1}]
			if !ok {
				return nil, nil, fmt.Errorf("ims %s: snapshot %s has no bearing %d", test, t.Format(time.RFC3339), b+1)
			}
			snaps[i][b] = v
		}
	}
	if len(times) == 0 {
		return nil, nil, fmt.Errorf("ims: no rows of run %s", test)
	}
	return times, snaps, nil
}

// LoadIMSRun reads IMSTest's snapshots of IMSBearings bearings from the
// shipped features.csv.
func LoadIMSRun() ([]time.Time, [][]bearing.Indicators, error) {
	path, err := dataset.IMSFeaturesPath()
	if err != nil {
		return nil, nil, err
	}
	rows, err := dataset.LoadIMSFeatures(path)
	if err != nil {
		return nil, nil, err
	}
	return IMSRun(rows, IMSTest, IMSBearings)
}

// bearingFleet replays the IMS run's snapshot indicators, one snapshot per
// tick, as the rig's sensors b1_rms, b1_kurtosis, b1_crest_factor, b2_rms …
// (the bearing health model's features). After the last snapshot it starts
// again at Start.
type bearingFleet struct {
	opts    BearingOptions
	sensors []SensorSpec
	pos     int
}

func newBearingFleet(o BearingOptions) (*bearingFleet, error) {
	d := DefaultBearingOptions()
	setDefault(&o.Start, d.Start)
	setDefault(&o.Tick, d.Tick)
	if o.Snapshots == nil {
		var err error
		if o.Times, o.Snapshots, err = LoadIMSRun(); err != nil {
			return nil, fmt.Errorf("bearings: %w", err)
		}
	}
	switch {
	case o.Start < 0 || o.Start >= len(o.Snapshots):
		return nil, fmt.Errorf("bearings: start %d: want a snapshot index from 0 to %d", o.Start, len(o.Snapshots)-1)
	case o.Tick < time.Millisecond:
		return nil, fmt.Errorf("bearings: tick %s: want at least 1ms", o.Tick)
	}
	f := &bearingFleet{opts: o, pos: o.Start}
	names := (&bearing.HealthModel{Bearings: len(o.Snapshots[0])}).FeatureNames()
	units := map[string]string{"rms": "g", "kurtosis": "1", "crest_factor": "1"}
	for i, n := range names {
		f.sensors = append(f.sensors, SensorSpec{ID: n, Kind: detect.FeatureSensorKind, Unit: units[bearing.IndicatorNames[i%len(bearing.IndicatorNames)]]})
	}
	return f, nil
}

func (f *bearingFleet) name() string        { return BearingFleet }
func (f *bearingFleet) tick() time.Duration { return f.opts.Tick }

func (f *bearingFleet) assets() []FleetAsset {
	return []FleetAsset{{ID: BearingRigID, Sensors: f.sensors, Body: map[string]any{
		"id": BearingRigID, "type": BearingType,
		"name":     "Bearing test rig (IMS set No. 2)",
		"location": "simulated test bench",
		"metadata": map[string]any{
			"simulated": true, "dataset": "ims-bearing/features.csv", "test": IMSTest,
			"bearings": len(f.opts.Snapshots[0]), "start_snapshot": f.opts.Start,
			"start_time": f.opts.Times[f.opts.Start].Format(time.RFC3339),
		},
	}}}
}

func (f *bearingFleet) next() []Reading {
	if f.pos == len(f.opts.Snapshots) {
		f.pos = f.opts.Start
	}
	snap := f.opts.Snapshots[f.pos]
	f.pos++
	out := make([]Reading, 0, len(f.sensors))
	for b, x := range snap {
		for c, v := range []float64{x.RMS, x.Kurtosis, x.CrestFactor} {
			s := f.sensors[b*len(bearing.IndicatorNames)+c]
			out = append(out, Reading{AssetID: BearingRigID, SensorID: s.ID, Unit: s.Unit, Value: v})
		}
	}
	return out
}
