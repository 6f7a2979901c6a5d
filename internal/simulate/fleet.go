package simulate

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// The fleets Options.Fleets can name: the asset types they simulate.
const (
	// MillingFleet is the AI4I milling machines (AssetType).
	MillingFleet = AssetType
	// EngineFleet is the C-MAPSS turbofan engines (EngineType).
	EngineFleet = EngineType
	// BearingFleet is the IMS bearing rig (BearingType).
	BearingFleet = BearingType
)

// Fleets lists every fleet, in the order documentation uses.
var Fleets = []string{MillingFleet, EngineFleet, BearingFleet}

// parseFleets reads a comma-separated list of Fleets ("all" for every
// one, empty for the milling machines alone).
func parseFleets(s string) (map[string]bool, error) {
	out := map[string]bool{}
	switch strings.TrimSpace(s) {
	case "":
		out[MillingFleet] = true
		return out, nil
	case "all":
		for _, f := range Fleets {
			out[f] = true
		}
		return out, nil
	}
	return parseList(s, Fleets, "fleet", "all or a comma-separated list of")
}

// FleetAsset is an asset of a fleet as it is registered: the body of
// POST /api/v1/assets and its sensors.
type FleetAsset struct {
	ID      string
	Body    map[string]any
	Sensors []SensorSpec
}

// fleet is a group of assets replaying a dataset of their own, one step
// every tick.
type fleet interface {
	// name is the fleet's asset type, for logs.
	name() string
	// tick is the real time between two steps.
	tick() time.Duration
	// assets are what the fleet registers.
	assets() []FleetAsset
	// next returns the readings of the next step.
	next() []Reading
}

// sensorWorkers is how many sensors of an asset are registered at once:
// an engine has 85.
const sensorWorkers = 4

// registerAsset creates an asset and its sensors, leaving existing ones as
// they are, and counts what it created.
func (c *client) registerAsset(ctx context.Context, id string, body map[string]any, sensors []SensorSpec) (newAssets, newSensors int, err error) {
	created, err := c.create(ctx, "/api/v1/assets", body)
	if err != nil {
		return 0, 0, fmt.Errorf("create asset %s: %w", id, err)
	}
	if created {
		newAssets++
	}
	var n atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(sensorWorkers)
	for _, s := range sensors {
		g.Go(func() error {
			created, err := c.create(gctx, "/api/v1/assets/"+url.PathEscape(id)+"/sensors", s)
			if err != nil {
				return fmt.Errorf("create sensor %s/%s: %w", id, s.ID, err)
			}
			if created {
				n.Add(1)
			}
			return nil
		})
	}
	err = g.Wait()
	return newAssets, int(n.Load()), err
}

// setupFleet registers a fleet's assets and sensors.
func (s *Simulator) setupFleet(ctx context.Context, f fleet) error {
	for _, a := range f.assets() {
		na, ns, err := s.client.registerAsset(ctx, a.ID, a.Body, a.Sensors)
		s.update(func(st *Stats) { st.AssetsCreated += na; st.SensorsCreated += ns })
		if err != nil {
			return err
		}
	}
	return nil
}

// runFleet sends a fleet's readings, one step every tick stamped with the
// current time, until ctx ends.
func (s *Simulator) runFleet(ctx context.Context, f fleet) error {
	p := &pacer{start: time.Now(), tick: f.tick(), maxLag: max(1, int(5*time.Second/f.tick()))}
	var buf []wireReading
	for {
		now := time.Now()
		n, skipped := p.due(now)
		if skipped > 0 {
			s.log.Warn("sending fell behind; skipping steps", "fleet", f.name(), "skipped", skipped)
		}
		for k := range n {
			// Each step at its own due time: two steps never share a
			// timestamp (readings are unique per sensor and time).
			ts := p.at(p.next - n + k).UTC().Format(time.RFC3339Nano)
			st := f.next()
			for _, r := range st {
				buf = append(buf, wireReading{AssetID: r.AssetID, SensorID: r.SensorID, TS: ts, Value: r.Value, Unit: r.Unit})
			}
			s.update(func(stats *Stats) { stats.Generated += len(st); stats.Skipped += skipped; stats.FleetSteps[f.name()]++ })
			skipped = 0
		}
		if len(buf) > 0 {
			if err := s.flush(ctx, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		if err := sleepCtx(ctx, p.wait(time.Now())); err != nil {
			return nil
		}
	}
}
