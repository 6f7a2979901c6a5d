// Package dispatch hands anomalies found at ingest to the incident workflow
// of their asset with SignalWithStartWorkflow on incident/<tenant>/<asset>:
// the first anomaly of an episode starts the incident, later ones join it.
//
// Anomalies of one asset are coalesced: while a signal for an asset is in
// flight, newer anomalies wait and go together in the next one, so a burst
// of anomalous readings costs a handful of Temporal calls, never one per
// reading. The anomalies were stored in an outbox in the same transaction
// as their readings; a sweeper re-sends whatever was not dispatched (a
// crash, Temporal down, an overflowing queue), and the workflow ignores ids
// it has already seen.
//
// Marking anomalies dispatched is off the signal's path: ids are collected
// and marked every MarkEvery in one UPDATE that does not wait for its WAL
// flush. A mark lost to a crash only means the sweeper sends that anomaly
// again, which the workflow ignores.
package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

var (
	signals = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_incident_signals_total",
		Help: "SignalWithStart calls to incident workflows by result (ok, error).",
	}, []string{"result"})
	starts = promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_incident_workflow_starts_total",
		Help: "Incident workflows started by this process (a SignalWithStart that answered with a new run).",
	})
	latency = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "smartmaint_incident_signal_latency_seconds",
		Help:    "Time from scoring an anomalous reading to its SignalWithStart returning.",
		Buckets: []float64{.001, .0025, .005, .01, .015, .025, .05, .1, .25, .5, 1, 5, 30},
	})
	anomaliesFound = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_anomalies_total",
		Help: "Anomalous readings found at ingest by severity.",
	}, []string{"severity"})
	swept = promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_anomalies_swept_total",
		Help: "Anomalies re-sent from the outbox by the sweeper.",
	})
)

// Options tune a Dispatcher.
type Options struct {
	TaskQueue string
	// Workers is how many SignalWithStart calls may run at once (default 8).
	Workers int
	// MaxBatch caps the anomalies of one signal (default 500).
	MaxBatch int
	// SweepEvery and SweepAge: every SweepEvery, anomalies older than
	// SweepAge that are still undispatched are sent again (default 5s, 10s).
	// While signals fail the sweeper backs off, up to 12 × SweepEvery.
	SweepEvery time.Duration
	SweepAge   time.Duration
	// MarkEvery is how often signalled anomalies are marked dispatched in
	// the outbox (default 250ms; kept well under SweepAge).
	MarkEvery time.Duration
	Logger    *slog.Logger
}

// Dispatcher coalesces anomalies per asset and signals incident workflows.
type Dispatcher struct {
	client client.Client
	db     *store.DB
	opts   Options

	mu     sync.Mutex
	assets map[assetKey]*assetQueue
	ready  chan assetKey
	runs   map[assetKey]string // last run id seen per asset, to count starts
	marks  []string            // signalled anomaly ids not yet marked dispatched

	failures atomic.Int64 // failed signals since the last warning
	warnedAt atomic.Int64 // unix nanos of the last warning
	failing  atomic.Bool  // the latest signal failed
}

type assetKey struct{ tenant, asset string }

type assetQueue struct {
	pending  []anomaly.Anomaly
	queued   bool // in the ready channel
	inFlight bool
}

// New returns a dispatcher; call Run to start it.
func New(c client.Client, db *store.DB, opts Options) *Dispatcher {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 500
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = 5 * time.Second
	}
	if opts.SweepAge <= 0 {
		opts.SweepAge = 10 * time.Second
	}
	if opts.MarkEvery <= 0 {
		opts.MarkEvery = 250 * time.Millisecond
	}
	opts.MarkEvery = min(opts.MarkEvery, opts.SweepAge/4)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Dispatcher{
		client: c, db: db, opts: opts,
		assets: map[assetKey]*assetQueue{},
		ready:  make(chan assetKey, 8192),
		runs:   map[assetKey]string{},
	}
}

// Offer queues anomalies for dispatch without blocking. Anomalies that do
// not fit stay in the outbox for the sweeper.
func (d *Dispatcher) Offer(as []anomaly.Anomaly) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, a := range as {
		k := assetKey{a.TenantID, a.AssetID}
		q := d.assets[k]
		if q == nil {
			q = &assetQueue{}
			d.assets[k] = q
		}
		if len(q.pending) >= 10*d.opts.MaxBatch {
			continue // the outbox has it; the sweeper will send it
		}
		q.pending = append(q.pending, a)
		if !q.queued && !q.inFlight {
			select {
			case d.ready <- k:
				q.queued = true
			default:
				// Queue full: leave it to the sweeper, keep memory bounded.
				q.pending = nil
			}
		}
	}
}

// Run sends signals and sweeps the outbox until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range d.opts.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case k := <-d.ready:
					d.dispatch(ctx, k)
				}
			}
		})
	}
	wg.Go(func() { d.sweepLoop(ctx) })
	wg.Go(func() { every(ctx, d.opts.MarkEvery, func() { d.flushMarks(ctx) }) })
	wg.Wait()
	// Signals sent just before the end are marked too, so a restart does
	// not send them again.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	d.flushMarks(sctx)
}

// sweepBackoff caps the sweeper's wait while signals fail, in SweepEvery
// periods: with the defaults, one sweep a minute while Temporal is down.
const sweepBackoff = 12

// sweepLoop sweeps every SweepEvery while signals go through. While they
// fail (Temporal down) it doubles its wait up to sweepBackoff periods, so
// an outage does not have it re-offer the whole outbox every few seconds
// for nothing; the first signal that goes through again, live or swept,
// brings it back to SweepEvery.
func (d *Dispatcher) sweepLoop(ctx context.Context) {
	wait := d.opts.SweepEvery
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := d.Sweep(ctx); err != nil && ctx.Err() == nil {
			d.opts.Logger.Warn("anomaly outbox sweep failed", "error", err)
		}
		if d.failing.Load() {
			wait = min(2*wait, sweepBackoff*d.opts.SweepEvery)
		} else {
			wait = d.opts.SweepEvery
		}
		t.Reset(wait)
	}
}

// every calls f every period until ctx ends.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// flushMarks marks the signalled anomalies dispatched.
func (d *Dispatcher) flushMarks(ctx context.Context) {
	d.mu.Lock()
	ids := d.marks
	d.marks = nil
	d.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	if err := d.db.MarkAnomaliesDispatched(ctx, ids); err != nil {
		// Signalled but not marked: the sweeper sends them again and the
		// workflow ignores them.
		d.opts.Logger.Warn("mark anomalies dispatched", "anomalies", len(ids), "error", err)
	}
}

func (d *Dispatcher) dispatch(ctx context.Context, k assetKey) {
	d.mu.Lock()
	q := d.assets[k]
	batch := q.pending
	if len(batch) > d.opts.MaxBatch {
		batch, q.pending = batch[:d.opts.MaxBatch], batch[d.opts.MaxBatch:]
	} else {
		q.pending = nil
	}
	q.queued, q.inFlight = false, true
	d.mu.Unlock()

	err := d.signal(ctx, k, batch)

	d.mu.Lock()
	q.inFlight = false
	switch {
	case len(q.pending) > 0:
		select {
		case d.ready <- k:
			q.queued = true
		default:
			q.pending = nil
		}
	default:
		delete(d.assets, k)
	}
	d.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		d.warnFailed(k, len(batch), err)
	}
}

// warnFailed logs a failed signal, at most once per warnEvery: while
// Temporal is down every signal fails, and a line per anomaly would bury
// the log. The line counts the failures it stands for.
func (d *Dispatcher) warnFailed(k assetKey, anomalies int, err error) {
	const warnEvery = 10 * time.Second
	d.failures.Add(1)
	now := time.Now().UnixNano()
	last := d.warnedAt.Load()
	if now-last < int64(warnEvery) || !d.warnedAt.CompareAndSwap(last, now) {
		return
	}
	d.opts.Logger.Warn("signal incident failed; the outbox sweeper will retry",
		"tenant", k.tenant, "asset", k.asset, "anomalies", anomalies, "failed_signals", d.failures.Swap(0), "error", err)
}

// signal sends one batch and marks it dispatched.
func (d *Dispatcher) signal(ctx context.Context, k assetKey, batch []anomaly.Anomaly) error {
	if len(batch) == 0 {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	run, err := d.client.SignalWithStartWorkflow(sctx, incident.WorkflowID(k.tenant, k.asset), workflows.SignalAnomalies, batch,
		client.StartWorkflowOptions{
			TaskQueue:                d.opts.TaskQueue,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		},
		workflows.Incident, workflows.IncidentInput{TenantID: k.tenant, AssetID: k.asset})
	if err != nil {
		signals.WithLabelValues("error").Inc()
		d.failing.Store(true)
		return fmt.Errorf("dispatch: signal incident of %s/%s: %w", k.tenant, k.asset, err)
	}
	signals.WithLabelValues("ok").Inc()
	d.failing.Store(false)
	oldest := batch[0].DetectedAt
	for _, a := range batch {
		if !a.DetectedAt.IsZero() && a.DetectedAt.Before(oldest) {
			oldest = a.DetectedAt
		}
	}
	if !oldest.IsZero() {
		latency.Observe(time.Since(oldest).Seconds())
	}
	d.mu.Lock()
	if d.runs[k] != run.GetRunID() {
		d.runs[k] = run.GetRunID()
		starts.Inc()
	}
	for _, a := range batch {
		d.marks = append(d.marks, a.ID)
	}
	d.mu.Unlock()
	return nil
}

// Sweep re-sends outbox anomalies that stayed undispatched longer than
// SweepAge.
func (d *Dispatcher) Sweep(ctx context.Context) error {
	// Whatever was signalled is marked first, so it is not sent twice.
	d.flushMarks(ctx)
	rows, err := d.db.UndispatchedAnomalies(ctx, time.Now().Add(-d.opts.SweepAge), 5000)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	swept.Add(float64(len(rows)))
	as := make([]anomaly.Anomaly, len(rows))
	for i, r := range rows {
		as[i] = anomaly.Anomaly{ID: r.ID, TenantID: r.TenantID, AssetID: r.AssetID, SensorID: r.SensorID, TS: r.TS, Value: r.Value,
			Score: r.Score, Severity: anomaly.Severity(r.Severity), Detector: r.Detector, Reason: r.Reason, Direction: r.Direction}
	}
	d.Offer(as)
	return nil
}

// Hooks connects the dispatcher to the ingest batcher: the anomalies a
// request carries in Extra ([]anomaly.Anomaly) are written to the outbox in
// the batch's transaction and offered for dispatch once it commits.
func (d *Dispatcher) Hooks() ingest.Hooks {
	return ingest.Hooks{
		Stage: func(b *pgx.Batch, batch []*ingest.Request) {
			for _, r := range batch {
				if as, ok := r.Extra.([]anomaly.Anomaly); ok && len(as) > 0 {
					store.QueueAnomalies(b, outboxRows(as))
				}
			}
		},
		Committed: func(batch []*ingest.Request) {
			for _, r := range batch {
				if as, ok := r.Extra.([]anomaly.Anomaly); ok && len(as) > 0 {
					for _, a := range as {
						anomaliesFound.WithLabelValues(string(a.Severity)).Inc()
					}
					d.Offer(as)
				}
			}
		},
	}
}

func outboxRows(as []anomaly.Anomaly) []store.AnomalyRow {
	rows := make([]store.AnomalyRow, len(as))
	for i, a := range as {
		rows[i] = store.AnomalyRow{ID: a.ID, TenantID: a.TenantID, AssetID: a.AssetID, SensorID: a.SensorID, TS: a.TS,
			Value: a.Value, Score: a.Score, Severity: string(a.Severity), Detector: a.Detector, Reason: a.Reason, Direction: a.Direction}
	}
	return rows
}
