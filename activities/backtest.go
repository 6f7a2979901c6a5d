package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/backtest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// ErrInvalidBacktest is the error type of backtests retrying cannot fix:
// the asset, a sensor or the model version no longer exists, or the range
// is empty.
const ErrInvalidBacktest = "InvalidBacktest"

// SignalBacktestProgress is the signal RunBacktest sends its workflow
// with a BacktestProgress as it goes.
const SignalBacktestProgress = "backtest-progress"

// Backtests replays a tenant's stored readings through the ingest path's
// detectors (see backtest.Stored and docs/ML.md).
type Backtests struct {
	DB       *store.DB
	Registry *registry.Registry
	// Temporal, when set, carries progress signals to the workflow.
	Temporal client.Client
	// RobustThreshold, RobustAlpha and SnapshotWindow are the ingest path's
	// detector settings (the backtest package's defaults when zero).
	RobustThreshold, RobustAlpha float64
	SnapshotWindow               time.Duration
	// HeartbeatEvery is how often progress is heartbeated and signalled
	// (2s when zero).
	HeartbeatEvery time.Duration
}

// BacktestInput is one replay. Model and Version name the model version
// (resolved by the caller, so a retry scores with the same one); Model ""
// replays without the model detector.
type BacktestInput struct {
	TenantID  string     `json:"tenant_id"`
	AssetID   string     `json:"asset_id"`
	Sensors   []string   `json:"sensors,omitempty"`
	From      time.Time  `json:"from"`
	To        time.Time  `json:"to"`
	Model     string     `json:"model,omitempty"`
	Version   int        `json:"version,omitempty"`
	FailureAt *time.Time `json:"failure_at,omitempty"`
	Sustain   int        `json:"sustain,omitempty"`
}

// BacktestProgress is how far a replay is: Done readings of about Total
// (estimated from the hourly rollup), every reading before Cursor replayed.
type BacktestProgress struct {
	Done   int64     `json:"done"`
	Total  int64     `json:"total"`
	Cursor time.Time `json:"cursor"`
}

// RunBacktest replays the readings and returns the report. It heartbeats
// its checkpoint: a retried attempt resumes from the last one rather than
// from the start, warming the detectors on the readings just before it.
// It only reads, so running it twice is harmless.
func (a *Backtests) RunBacktest(ctx context.Context, in BacktestInput) (*backtest.StoredReport, error) {
	o := backtest.StoredOptions{
		Tenant: in.TenantID, AssetID: in.AssetID, Sensors: in.Sensors, From: in.From, To: in.To,
		FailureAt: in.FailureAt, Sustain: in.Sustain,
		RobustThreshold: a.RobustThreshold, RobustAlpha: a.RobustAlpha, SnapshotWindow: a.SnapshotWindow,
	}
	if !in.To.After(in.From) {
		return nil, temporal.NewNonRetryableApplicationError("the range is empty: to is not after from", ErrInvalidBacktest, nil)
	}
	if in.Model != "" {
		m, err := a.loadModel(ctx, in.TenantID, in.Model, in.Version)
		if err != nil {
			return nil, err
		}
		o.Model = m
	}
	if activity.HasHeartbeatDetails(ctx) {
		var cp backtest.StoredCheckpoint
		if err := activity.GetHeartbeatDetails(ctx, &cp); err == nil && !cp.Cursor.IsZero() {
			o.Resume = &cp
			activity.GetLogger(ctx).Info("backtest resumes", "cursor", cp.Cursor, "done", cp.Done)
		}
	}
	every := a.HeartbeatEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	var last time.Time
	o.Checkpoint = func(cp backtest.StoredCheckpoint) error {
		if time.Since(last) < every {
			return nil
		}
		last = time.Now()
		activity.RecordHeartbeat(ctx, cp)
		a.signal(ctx, BacktestProgress{Done: cp.Done, Total: cp.Total, Cursor: cp.Cursor})
		return nil
	}
	rep, err := backtest.Stored(ctx, a.DB, o)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidBacktest, err)
	}
	if err != nil {
		return nil, err
	}
	a.signal(ctx, BacktestProgress{Done: rep.Readings, Total: rep.Readings, Cursor: in.To})
	return rep, nil
}

// loadModel loads one version from the registry.
func (a *Backtests) loadModel(ctx context.Context, tenant, name string, version int) (*registry.Loaded[modelfile.Model], error) {
	v, err := a.Registry.Version(ctx, tenant, name, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidBacktest, err)
	}
	if err != nil {
		return nil, err
	}
	b, err := a.Registry.Load(ctx, v)
	if err != nil {
		return nil, fmt.Errorf("backtest: load %s v%d: %w", name, version, err)
	}
	m, err := modelfile.Unmarshal(b)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s v%d is not a model file: %v", name, version, err), ErrInvalidBacktest, err)
	}
	return &registry.Loaded[modelfile.Model]{Model: m, Version: v, LoadedAt: time.Now()}, nil
}

// signal tells the workflow the progress; a failure only costs the
// progress display.
func (a *Backtests) signal(ctx context.Context, p BacktestProgress) {
	if a.Temporal == nil {
		return
	}
	info := activity.GetInfo(ctx)
	if err := a.Temporal.SignalWorkflow(ctx, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, SignalBacktestProgress, p); err != nil {
		activity.GetLogger(ctx).Warn("signal backtest progress", "error", err)
	}
}
