package workers

import (
	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Backtests registers the backtest workflow and its activity.
func Backtests(a *activities.Backtests) Registration {
	return registering([]any{workflows.Backtest}, a)
}
