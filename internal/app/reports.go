package app

import (
	"context"
	"errors"
	"log/slog"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workers"
	"github.com/smartmaint/smartmaint/workflows"
)

// reportsAPI serves the report routes.
func reportsAPI() fx.Option {
	return fx.Provide(
		asRoutes(func(cfg config.Config, db *store.DB, c client.Client) *api.Reports {
			return &api.Reports{DB: db, Store: &report.Store{DB: db}, Temporal: c, TaskQueue: cfg.TemporalTaskQueue}
		}),
	)
}

// reportsWorker registers the report workflows and keeps the report
// schedule (REPORT_INTERVAL), deleting it when scheduled reports are off.
func reportsWorker() fx.Option {
	return fx.Options(
		fx.Provide(
			func(db *store.DB) *activities.Reports {
				return &activities.Reports{DB: db, Store: &report.Store{DB: db}}
			},
			asRegistration(workers.Reports),
			fx.Annotate(func(cfg config.Config) []workers.Schedule { return workers.ReportSchedules(cfg.ReportInterval) },
				fx.ResultTags(`group:"schedules,flatten"`)),
		),
		fx.Invoke(removeReportSchedule),
	)
}

// removeReportSchedule deletes the report schedule at start when
// REPORT_INTERVAL is 0, so turning reports off stops them.
func removeReportSchedule(lc fx.Lifecycle, cfg config.Config, c client.Client, log *slog.Logger) {
	if cfg.ReportInterval > 0 {
		return
	}
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		id := workers.ScheduleID(cfg.TemporalTaskQueue, workflows.ReportScheduleID)
		err := c.ScheduleClient().GetHandle(ctx, id).Delete(ctx)
		var notFound *serviceerror.NotFound
		switch {
		case err == nil:
			log.Info("report schedule deleted: REPORT_INTERVAL is 0", "schedule", id)
		case !errors.As(err, &notFound):
			log.Warn("delete the report schedule", "schedule", id, "error", err)
		}
		return nil
	}))
}
