package app

import (
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/backtest"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workers"
)

// backtestsAPI serves the backtest routes. It uses the model registry
// modelsAPI provides in the same module.
func backtestsAPI() fx.Option {
	return fx.Provide(
		asRoutes(func(cfg config.Config, db *store.DB, reg *registry.Registry, c client.Client) *api.Backtests {
			return &api.Backtests{DB: db, Registry: reg, Temporal: c, TaskQueue: cfg.TemporalTaskQueue}
		}),
	)
}

// backtestsWorker registers the backtest workflow and its activity, which
// replays readings through the ingest path's detectors: the robust z-score
// with the ingest path's settings (backtest.DefaultRobustThreshold and
// DefaultRobustAlpha, those of newDetectEngine) and the model detector's
// DETECT_SNAPSHOT_WINDOW. It uses the registry modelsWorker provides.
func backtestsWorker() fx.Option {
	return fx.Provide(
		func(cfg config.Config, db *store.DB, reg *registry.Registry, c client.Client) *activities.Backtests {
			return &activities.Backtests{
				DB: db, Registry: reg, Temporal: c,
				RobustThreshold: backtest.DefaultRobustThreshold, RobustAlpha: backtest.DefaultRobustAlpha,
				SnapshotWindow: cfg.DetectSnapshotWindow,
			}
		},
		asRegistration(workers.Backtests),
	)
}
