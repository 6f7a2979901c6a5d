package workers

import (
	"go.temporal.io/sdk/worker"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Backtests registers the backtest workflow and its activity.
func Backtests(a *activities.Backtests) Registration {
	return func(r worker.Registry) {
		r.RegisterWorkflow(workflows.Backtest)
		r.RegisterActivity(a)
	}
}
