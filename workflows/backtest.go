package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/backtest"
)

// QueryBacktest answers a backtest's BacktestState.
const QueryBacktest = "backtest"

// Backtest statuses.
const (
	BacktestRunning = "running"
	BacktestDone    = "done"
	BacktestFailed  = "failed"
)

// BacktestWorkflowID is the workflow id of a backtest: the tenant is part
// of it, so one tenant cannot read another's.
func BacktestWorkflowID(tenant, id string) string { return "backtest/" + tenant + "/" + id }

// BacktestInput asks for one backtest of stored readings.
type BacktestInput struct {
	BacktestID  string                   `json:"backtest_id"`
	RequestedBy string                   `json:"requested_by"`
	Replay      activities.BacktestInput `json:"replay"`
}

// BacktestState is what GET /api/v1/backtests/{id} shows: the request,
// the progress and, once done, the report.
type BacktestState struct {
	ID          string                      `json:"id"`
	Status      string                      `json:"status"`
	Request     activities.BacktestInput    `json:"request"`
	RequestedBy string                      `json:"requested_by"`
	Progress    activities.BacktestProgress `json:"progress"`
	StartedAt   time.Time                   `json:"started_at"`
	FinishedAt  *time.Time                  `json:"finished_at"`
	Error       string                      `json:"error,omitempty"`
	Report      *backtest.StoredReport      `json:"report"`
}

// Backtest (the backtest workflow) replays a tenant's stored readings of
// one asset through the ingest path's detectors in one heartbeating
// activity, which resumes from its last checkpoint when retried, and
// keeps its progress (signalled by the activity) for QueryBacktest. The
// report is the workflow's result. Started by POST /api/v1/backtests with
// the id BacktestWorkflowID.
func Backtest(ctx workflow.Context, in BacktestInput) (*BacktestState, error) {
	s := &BacktestState{ID: in.BacktestID, Status: BacktestRunning, Request: in.Replay, RequestedBy: in.RequestedBy, StartedAt: workflow.Now(ctx)}
	if err := workflow.SetQueryHandler(ctx, QueryBacktest, func() (*BacktestState, error) { return s, nil }); err != nil {
		return nil, err
	}
	progress := workflow.GetSignalChannel(ctx, activities.SignalBacktestProgress)
	workflow.Go(ctx, func(ctx workflow.Context) {
		for {
			var p activities.BacktestProgress
			progress.Receive(ctx, &p)
			// Signals of an earlier attempt may arrive late: never go back.
			if s.Status == BacktestRunning && p.Done >= s.Progress.Done {
				s.Progress = p
			}
		}
	})
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 2 * time.Hour,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy:         retryAttempts(5, activities.ErrInvalidBacktest),
	})
	var a *activities.Backtests
	var rep *backtest.StoredReport
	err := workflow.ExecuteActivity(actx, a.RunBacktest, in.Replay).Get(actx, &rep)
	now := workflow.Now(ctx)
	s.FinishedAt = &now
	if err != nil {
		s.Status, s.Error = BacktestFailed, errorText(err)
		return s, fmt.Errorf("backtest %s: %w", in.BacktestID, err)
	}
	s.Status, s.Report = BacktestDone, rep
	s.Progress = activities.BacktestProgress{Done: rep.Readings, Total: rep.Readings, Cursor: in.Replay.To}
	return s, nil
}
