package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/temporaltest"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/workflows"
)

// The tests run against the real dev server with no worker on their task
// queue: SignalWithStart succeeds and the history shows every start and
// signal, while the workflow itself never runs.

type fixture struct {
	db     *store.DB
	c      client.Client
	tenant string
	queue  string
}

func setup(t *testing.T) fixture {
	t.Helper()
	db, _ := testenv.DB(t)
	// Tenants are unique per test so workflow ids never meet on the shared
	// server.
	tenant := testenv.Tenant(t, db, fmt.Sprintf("t%d", time.Now().UnixNano()))
	return fixture{db: db, c: temporaltest.Client(t), tenant: tenant, queue: "dispatch-test-" + uuid.NewString()}
}

// store puts n anomalies of asset in the outbox, as the ingest transaction
// does, and returns them.
func (f fixture) store(t *testing.T, asset string, n int) []anomaly.Anomaly {
	t.Helper()
	now := time.Now().UTC()
	out := make([]anomaly.Anomaly, n)
	rows := make([]store.AnomalyRow, n)
	for i := range out {
		out[i] = anomaly.Anomaly{ID: uuid.NewString(), TenantID: f.tenant, AssetID: asset, SensorID: "temp",
			TS: now.Add(time.Duration(i) * time.Millisecond), Value: 120, Score: 9, Severity: anomaly.Major,
			Detector: "threshold", Reason: "above alarm", Direction: 1, DetectedAt: now}
		a := out[i]
		rows[i] = store.AnomalyRow{ID: a.ID, TenantID: a.TenantID, AssetID: a.AssetID, SensorID: a.SensorID, TS: a.TS,
			Value: a.Value, Score: a.Score, Severity: string(a.Severity), Detector: a.Detector, Reason: a.Reason, Direction: a.Direction}
	}
	b := &pgx.Batch{}
	store.QueueAnomalies(b, rows)
	if err := f.db.Pool.SendBatch(context.Background(), b).Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (f fixture) undispatched(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM anomalies WHERE tenant_id = $1 AND dispatched_at IS NULL`, f.tenant).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// history counts the runs started and the anomalies signalled to asset's
// incident workflow.
func (f fixture) history(t *testing.T, asset string) (starts, signals, anomalies int) {
	t.Helper()
	it := f.c.GetWorkflowHistory(context.Background(), incident.WorkflowID(f.tenant, asset), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		var notFound *serviceerror.NotFound
		if errors.As(err, &notFound) {
			return 0, 0, 0
		}
		if err != nil {
			t.Fatal(err)
		}
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			starts++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			attrs := e.GetWorkflowExecutionSignaledEventAttributes()
			if attrs.GetSignalName() != workflows.SignalAnomalies {
				continue
			}
			signals++
			var batch []anomaly.Anomaly
			if err := client.NewValue(attrs.GetInput()).Get(&batch); err != nil {
				t.Fatal(err)
			}
			anomalies += len(batch)
		}
	}
	return starts, signals, anomalies
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func run(t *testing.T, d *dispatch.Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}

func TestDispatchCoalescesPerAsset(t *testing.T) {
	f := setup(t)
	d := dispatch.New(f.c, f.db, dispatch.Options{TaskQueue: f.queue, Logger: slog.New(slog.DiscardHandler)})
	run(t, d)
	perAsset := map[string]int{"press-1": 300, "press-2": 40}
	for asset, n := range perAsset {
		as := f.store(t, asset, n)
		// Readings arrive in many small requests, as at ingest.
		for len(as) > 0 {
			k := min(len(as), 7)
			d.Offer(as[:k])
			as = as[k:]
		}
	}
	waitFor(t, "every anomaly is marked dispatched", func() bool { return f.undispatched(t) == 0 })
	for asset, n := range perAsset {
		starts, signals, anomalies := f.history(t, asset)
		if starts != 1 {
			t.Errorf("%s: %d workflow runs, want 1", asset, starts)
		}
		if anomalies != n {
			t.Errorf("%s: %d anomalies signalled, want %d", asset, anomalies, n)
		}
		if signals >= n/7 {
			t.Errorf("%s: %d signals for %d anomalies offered in %d requests; want them coalesced", asset, signals, n, (n+6)/7)
		}
	}
}

func TestDispatchSweepsTheOutbox(t *testing.T) {
	f := setup(t)
	// Stored but never offered: the API crashed after the commit, or the
	// dispatch queue was full.
	f.store(t, "kiln-1", 25)
	d := dispatch.New(f.c, f.db, dispatch.Options{TaskQueue: f.queue, SweepEvery: 500 * time.Millisecond, SweepAge: 200 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	run(t, d)
	waitFor(t, "the sweeper dispatched the outbox", func() bool { return f.undispatched(t) == 0 })
	if starts, _, anomalies := f.history(t, "kiln-1"); starts != 1 || anomalies != 25 {
		t.Errorf("kiln-1: %d runs and %d anomalies signalled, want 1 and 25", starts, anomalies)
	}
}

func TestDispatchMarksPendingOnStop(t *testing.T) {
	f := setup(t)
	// Marks would wait for an hour; stopping must write them anyway, or a
	// restart would send everything again.
	d := dispatch.New(f.c, f.db, dispatch.Options{TaskQueue: f.queue, SweepAge: 4 * time.Hour, SweepEvery: time.Hour, MarkEvery: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	stop := run(t, d)
	d.Offer(f.store(t, "oven-1", 5))
	waitFor(t, "the signal arrives", func() bool { _, _, n := f.history(t, "oven-1"); return n == 5 })
	if n := f.undispatched(t); n != 5 {
		t.Fatalf("%d undispatched before the stop, want 5 (marks are batched)", n)
	}
	stop()
	if n := f.undispatched(t); n != 0 {
		t.Errorf("%d anomalies left undispatched after the stop, want 0", n)
	}
}

// logCounter counts log records by message.
type logCounter struct {
	mu    sync.Mutex
	lines map[string][]slog.Record
}

func (h *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lines[r.Message] = append(h.lines[r.Message], r)
	return nil
}
func (h *logCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logCounter) WithGroup(string) slog.Handler      { return h }

func (h *logCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lines[msg])
}

// setupDown is setup with a client of a Temporal server that is not there:
// every signal fails.
func setupDown(t *testing.T) fixture {
	t.Helper()
	db, _ := testenv.DB(t)
	tenant := testenv.Tenant(t, db, fmt.Sprintf("t%d", time.Now().UnixNano()))
	down, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(down.Close)
	return fixture{db: db, c: down, tenant: tenant, queue: "nowhere"}
}

func TestDispatchWarnsOnceWhileTemporalIsDown(t *testing.T) {
	f := setupDown(t)
	logs := &logCounter{lines: map[string][]slog.Record{}}
	d := dispatch.New(f.c, f.db, dispatch.Options{TaskQueue: f.queue, Logger: slog.New(logs)})
	run(t, d)
	const assets = 6
	for i := range assets {
		d.Offer(f.store(t, fmt.Sprintf("pump-%d", i), 3))
	}
	const msg = "signal incident failed; the outbox sweeper will retry"
	waitFor(t, "a signal fails", func() bool { return logs.count(msg) > 0 })
	time.Sleep(time.Second) // the other assets' signals fail meanwhile
	if n := logs.count(msg); n != 1 {
		t.Errorf("%d warnings for failed signals within a second, want 1", n)
	}
	if n := f.undispatched(t); n != assets*3 {
		t.Errorf("%d anomalies left for the sweeper, want %d", n, assets*3)
	}
}

// failedSignals reads smartmaint_incident_signals_total{result="error"}.
func failedSignals(t *testing.T) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "smartmaint_incident_signals_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "error" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestDispatchSweeperBacksOffWhileTemporalIsDown: with every signal failing,
// the sweeper doubles its wait instead of re-offering the outbox every
// SweepEvery.
func TestDispatchSweeperBacksOffWhileTemporalIsDown(t *testing.T) {
	f := setupDown(t)
	f.store(t, "pump-1", 3) // one asset: one signal per sweep
	before := failedSignals(t)
	const every = 20 * time.Millisecond
	d := dispatch.New(f.c, f.db, dispatch.Options{TaskQueue: f.queue, SweepEvery: every, SweepAge: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})
	stop := run(t, d)
	time.Sleep(1200 * time.Millisecond)
	stop()
	// Without backoff: about 60 sweeps, each a failed signal. With it, the
	// waits are 20, 40, 80, 160 and then 240 ms: about 7.
	if n := failedSignals(t) - before; n < 1 || n > 15 {
		t.Errorf("%g failed signals in 1.2 s of sweeping every %s while Temporal is down, want 1 to 15", n, every)
	}
	if n := f.undispatched(t); n != 3 {
		t.Errorf("%d undispatched, want all 3 kept for later", n)
	}
}
