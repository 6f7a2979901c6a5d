// Package simulate replays real datasets as the sensors of simulated assets
// and sends their readings to the smartmaint API over HTTP. Three fleets:
//
//   - milling machines (AssetType) replay AI4I 2020 with faults injected so
//     that anomalies and incidents appear within a minute: an excursion
//     past the alarm thresholds, a slow drift, spikes, a stuck sensor,
//     dropouts and invalid readings;
//   - turbofan engines (EngineType) replay C-MAPSS FD001 test engines one
//     cycle per tick, as the features of the RUL model, from a cycle close
//     enough to their end that their remaining life runs out within
//     minutes;
//   - a bearing rig (BearingType) replays IMS set No. 2's snapshot
//     indicators in time order from shortly before bearing 1 degrades.
//
// One dataset record per milling machine is sent every Interval/Speedup
// with the current time as its timestamp. Run creates the assets and sensors it needs
// (leaving existing ones alone), then streams readings until its context
// ends or Duration passes. docs/SIMULATOR.md maps the dataset to sensors,
// thresholds and faults.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// Options configure a simulator. Only APIKey is required.
type Options struct {
	// BaseURL is the API's address; default http://127.0.0.1:8080.
	BaseURL string
	// APIKey is sent as X-API-Key; it needs the admin scope to create the
	// assets and sensors (readings:write alone when they exist).
	APIKey string
	// HTTPClient sends the requests; default a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives progress and fault events; default slog.Default().
	Logger *slog.Logger

	// Records are replayed; default the AI4I 2020 dataset from
	// dataset.AI4IPath.
	Records []dataset.AI4I
	// Assets is the number of machines, mill-01 … ; default 6.
	Assets int
	// Interval is the machine time between two records; default 1m.
	Interval time.Duration
	// Speedup divides Interval into the real time between two steps;
	// default 60 (one record per asset per second).
	Speedup float64
	// Batch caps the readings of one request; default 500.
	Batch int
	// FlushInterval is the longest a reading waits for its batch to fill;
	// default 250ms.
	FlushInterval time.Duration
	// Duration is how long readings are streamed, counted once the assets
	// and sensors are registered; 0 streams until ctx ends.
	Duration time.Duration
	// Faults is "all" (the default when empty), "none" or a comma-separated
	// list of FaultKinds.
	Faults string
	// Crew registers a demo maintenance crew (two technicians covering the
	// clock) and a monthly lubrication schedule per machine, unless the
	// tenant has technicians already.
	Crew bool
	// AfterSetup, when set, is called once the assets, sensors and crew are
	// registered, before readings flow.
	AfterSetup func(context.Context)
	// Fleets is a comma-separated list of the fleets to simulate (Fleets:
	// milling-machine, turbofan-engine, bearing-rig) or "all"; empty
	// simulates the milling machines alone.
	Fleets string
	// Engines configure the turbofan fleet.
	Engines EngineOptions
	// Bearings configure the bearing rig.
	Bearings BearingOptions
	// Seed makes spikes and dropouts reproducible.
	Seed uint64
	// SummaryInterval is how often a progress line is logged; default 10s.
	SummaryInterval time.Duration
	// MaxRetryWait caps a wait asked for by Retry-After; default 30s.
	MaxRetryWait time.Duration
}

// Stats count what a run did.
type Stats struct {
	// Steps is the dataset records replayed per asset; Skipped the steps
	// left out because sending fell behind.
	Steps, Skipped int
	// Generated readings went into batches; Dropped were silenced by
	// dropout faults and never sent.
	Generated, Dropped int
	// Accepted readings were stored, Rejected refused as invalid (422) and
	// Failed could not be delivered.
	Accepted, Rejected, Failed int
	// Requests is the POSTs of readings; Retries the ones repeated after a
	// 429, 503 or failure.
	Requests, Retries int
	// Faults counts the readings shaped by each fault kind.
	Faults map[string]int
	// AssetsCreated and SensorsCreated count what setup registered.
	AssetsCreated, SensorsCreated int
	// TechniciansCreated and SchedulesCreated count the crew (Options.Crew)
	// and its preventive schedules.
	TechniciansCreated, SchedulesCreated int
	// FleetSteps counts the steps of the turbofan and bearing fleets, by
	// fleet.
	FleetSteps map[string]int
}

// Simulator streams simulated readings to the API.
type Simulator struct {
	opts   Options
	replay *Replay // nil without the milling machines
	fleets []fleet
	client *client
	log    *slog.Logger
	tick   time.Duration

	mu    sync.Mutex
	stats Stats
}

// DefaultOptions returns the settings New uses for zero fields; Crew, a
// switch, is the command line's default and New leaves it as given.
func DefaultOptions() Options {
	return Options{
		BaseURL:         "http://127.0.0.1:8080",
		Assets:          6,
		Interval:        time.Minute,
		Speedup:         60,
		Batch:           500,
		FlushInterval:   250 * time.Millisecond,
		Faults:          "all",
		Crew:            true,
		SummaryInterval: 10 * time.Second,
		MaxRetryWait:    30 * time.Second,
	}
}

// setDefault sets *p to def when *p is the zero value.
func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// New checks opts, fills in defaults and loads the dataset when needed.
func New(opts Options) (*Simulator, error) {
	if opts.APIKey == "" {
		return nil, errors.New("simulate: an API key is required")
	}
	d := DefaultOptions()
	setDefault(&opts.BaseURL, d.BaseURL)
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	setDefault(&opts.HTTPClient, &http.Client{Timeout: 30 * time.Second})
	setDefault(&opts.Logger, slog.Default())
	setDefault(&opts.Assets, d.Assets)
	setDefault(&opts.Interval, d.Interval)
	setDefault(&opts.Speedup, d.Speedup)
	setDefault(&opts.Batch, d.Batch)
	setDefault(&opts.FlushInterval, d.FlushInterval)
	setDefault(&opts.Faults, d.Faults)
	setDefault(&opts.SummaryInterval, d.SummaryInterval)
	setDefault(&opts.MaxRetryWait, d.MaxRetryWait)
	tick := time.Duration(float64(opts.Interval) / opts.Speedup)
	switch {
	case opts.Interval < 0 || opts.Speedup < 0 || opts.Batch < 0 || opts.Duration < 0 || opts.FlushInterval < 0:
		return nil, errors.New("simulate: interval, speedup, batch, duration and flush interval must not be negative")
	case tick < time.Millisecond:
		return nil, fmt.Errorf("simulate: interval/speedup is %s; it must be at least 1ms", tick)
	}
	which, err := parseFleets(opts.Fleets)
	if err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	var fleets []fleet
	if which[EngineFleet] {
		f, err := newEngineFleet(opts.Engines)
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		fleets = append(fleets, f)
	}
	if which[BearingFleet] {
		f, err := newBearingFleet(opts.Bearings)
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		fleets = append(fleets, f)
	}
	log := opts.Logger.With("component", "simulator")
	s := &Simulator{
		opts:   opts,
		fleets: fleets,
		log:    log,
		tick:   tick,
		stats:  Stats{Faults: map[string]int{}, FleetSteps: map[string]int{}},
		client: &client{base: opts.BaseURL, key: opts.APIKey, http: opts.HTTPClient, log: log, maxWait: opts.MaxRetryWait},
	}
	if !which[MillingFleet] {
		return s, nil
	}
	if opts.Records == nil {
		path, err := dataset.AI4IPath()
		if err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
		if opts.Records, err = dataset.LoadAI4I(path); err != nil {
			return nil, fmt.Errorf("simulate: %w", err)
		}
	}
	if s.replay, err = NewReplay(opts.Records, opts.Assets, opts.Faults, opts.Seed); err != nil {
		return nil, fmt.Errorf("simulate: %w", err)
	}
	return s, nil
}

// Run is New followed by Simulator.Run.
func Run(ctx context.Context, opts Options) error {
	s, err := New(opts)
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// Stats returns the counts so far; safe to call while Run runs.
func (s *Simulator) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Faults = maps.Clone(s.stats.Faults)
	st.FleetSteps = maps.Clone(s.stats.FleetSteps)
	return st
}

// Replay returns the simulator's replay of the milling machines (their
// assets and sensors); nil when they are not simulated.
func (s *Simulator) Replay() *Replay { return s.replay }

// FleetAssets returns the assets of the turbofan and bearing fleets.
func (s *Simulator) FleetAssets() []FleetAsset {
	var out []FleetAsset
	for _, f := range s.fleets {
		out = append(out, f.assets()...)
	}
	return out
}

// Run registers the assets and sensors (waiting for the API while it is
// unreachable), then sends readings until ctx ends or Options.Duration
// passes, and finally sends what is buffered. Each fleet is registered and
// streamed on its own, so the milling machines' readings flow while the
// engines' many sensors are still being registered. It returns nil when
// stopped that way and an error when the API refuses the simulator (for
// example 401 for a wrong key).
func (s *Simulator) Run(ctx context.Context) error {
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	if s.replay != nil {
		g.Go(func() error { return s.mills(gctx) })
	} else if s.opts.AfterSetup != nil {
		s.opts.AfterSetup(ctx)
	}
	for _, f := range s.fleets {
		g.Go(func() error {
			if err := s.setupFleet(gctx, f); err != nil {
				return setupError(gctx, err)
			}
			ctx, cancel := s.streaming(gctx)
			defer cancel()
			n := 0
			for _, a := range f.assets() {
				n += len(a.Sensors)
			}
			s.log.Info("fleet started", "fleet", f.name(), "assets", len(f.assets()), "step", f.tick(), "readings_per_second", float64(n)/f.tick().Seconds())
			return s.runFleet(ctx, f)
		})
	}
	sctx, stopSummaries := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for sleepCtx(sctx, s.opts.SummaryInterval) == nil {
			s.summary(start, "simulator progress")
		}
	}()
	err := g.Wait()
	stopSummaries()
	<-done
	s.summary(start, "simulator stopped")
	return err
}

// setupError is what a failed registration makes Run return: nil when ctx
// ended.
func setupError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("simulate: %w", err)
}

// streaming is ctx bounded by Options.Duration from now.
func (s *Simulator) streaming(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.opts.Duration > 0 {
		return context.WithTimeout(ctx, s.opts.Duration)
	}
	return context.WithCancel(ctx)
}

// mills registers the milling machines, their sensors and the crew, then
// streams their readings.
func (s *Simulator) mills(ctx context.Context) error {
	mills := s.replay.Assets()
	newAssets, newSensors, err := s.client.setup(ctx, mills, s.replay.Sensors(), func(i int) int { return s.replay.Record(i, 0).UDI })
	s.update(func(st *Stats) { st.AssetsCreated += newAssets; st.SensorsCreated += newSensors })
	if err != nil {
		return setupError(ctx, err)
	}
	if s.opts.Crew {
		techs, schedules, err := s.client.crew(ctx, mills, time.Now())
		s.update(func(st *Stats) { st.TechniciansCreated, st.SchedulesCreated = techs, schedules })
		if err != nil {
			return setupError(ctx, err)
		}
	}
	if s.opts.AfterSetup != nil {
		s.opts.AfterSetup(ctx)
	}
	ctx, cancel := s.streaming(ctx)
	defer cancel()
	st := s.Stats()
	s.log.Info("simulator started", "url", s.opts.BaseURL, "assets", len(mills), "assets_created", newAssets, "sensors_created", newSensors,
		"technicians_created", st.TechniciansCreated, "preventive_schedules_created", st.SchedulesCreated,
		"step", s.tick, "speedup", s.opts.Speedup, "readings_per_second", float64(len(mills)*numSensors)/s.tick.Seconds())
	return s.runMills(ctx, time.Now())
}

// runMills streams the milling machines' readings until ctx ends, then
// sends what is buffered.
func (s *Simulator) runMills(ctx context.Context, start time.Time) error {
	p := &pacer{start: start, tick: s.tick, maxLag: max(1, int(5*time.Second/s.tick))}
	var buf []wireReading
	var bufSince time.Time
	for {
		now := time.Now()
		n, skipped := p.due(now)
		if skipped > 0 {
			s.log.Warn("sending fell behind; skipping steps", "skipped", skipped)
		}
		for k := range n {
			if len(buf) == 0 {
				bufSince = now
			}
			buf = s.produce(buf, p.at(p.next-n+k))
		}
		s.update(func(st *Stats) { st.Skipped += skipped })
		if len(buf) > 0 && (len(buf) >= s.opts.Batch || s.tick >= s.opts.FlushInterval || now.Sub(bufSince) >= s.opts.FlushInterval) {
			if err := s.flush(ctx, buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		now = time.Now()
		wait := p.wait(now)
		if len(buf) > 0 {
			wait = min(wait, bufSince.Add(s.opts.FlushInterval).Sub(now))
		}
		if err := sleepCtx(ctx, wait); err != nil {
			// Send what is buffered, with a little time of its own.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return s.flush(fctx, buf)
		}
	}
}

// produce appends the readings of the next step, stamped now (the time
// the step was due: two steps never share a timestamp).
func (s *Simulator) produce(buf []wireReading, now time.Time) []wireReading {
	st := s.replay.Next()
	ts := now.UTC().Format(time.RFC3339Nano)
	faults := map[string]int{}
	for _, r := range st.Readings {
		buf = append(buf, wireReading{AssetID: r.AssetID, SensorID: r.SensorID, TS: ts, Value: r.Value, Unit: r.Unit})
		if r.Fault != "" {
			faults[r.Fault]++
		}
	}
	if st.Dropped > 0 {
		faults[FaultDropout] += st.Dropped
	}
	for _, e := range st.Started {
		s.log.Info("fault started", "asset", e.AssetID, "fault", e.Fault, "step", st.Index)
	}
	for _, e := range st.Ended {
		s.log.Info("fault ended", "asset", e.AssetID, "fault", e.Fault, "step", st.Index)
	}
	s.update(func(stats *Stats) {
		stats.Steps++
		stats.Generated += len(st.Readings)
		stats.Dropped += st.Dropped
		for k, v := range faults {
			stats.Faults[k] += v
		}
	})
	return buf
}

// flush sends buf in requests of at most Batch readings.
func (s *Simulator) flush(ctx context.Context, buf []wireReading) error {
	for len(buf) > 0 {
		n := min(len(buf), s.opts.Batch)
		res, err := s.client.send(ctx, buf[:n])
		s.update(func(st *Stats) {
			st.Requests += res.requests
			st.Accepted += res.accepted
			st.Rejected += res.rejected
			st.Failed += res.failed
			st.Retries += res.retries
		})
		if err != nil {
			return fmt.Errorf("simulate: %w", err)
		}
		buf = buf[n:]
	}
	return nil
}

func (s *Simulator) update(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// summary logs the one-line progress report.
func (s *Simulator) summary(start time.Time, msg string) {
	st := s.Stats()
	elapsed := time.Since(start)
	s.log.Info(msg, "elapsed", elapsed.Round(time.Second), "steps", st.Steps, "generated", st.Generated,
		"accepted", st.Accepted, "rejected", st.Rejected, "failed", st.Failed, "dropped", st.Dropped,
		"requests", st.Requests, "retries", st.Retries, "skipped_steps", st.Skipped,
		"accepted_per_second", float64(int(float64(st.Accepted)/max(elapsed.Seconds(), 1e-9)*10))/10)
}
