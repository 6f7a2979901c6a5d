package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workers"
)

// Worker provides and starts the Temporal worker and its schedules.
func Worker() fx.Option {
	return fx.Module("worker",
		fx.Provide(
			func(cfg config.Config, db *store.DB) *activities.Storage {
				return &activities.Storage{DB: db, Retention: cfg.ReadingsRetention, RollupRetention: cfg.RollupRetention, Lookahead: cfg.PartitionLookahead}
			},
			asRegistration(workers.Storage),
			asSchedule(func(cfg config.Config) workers.Schedule {
				return workers.StorageSchedule(cfg.StorageMaintenanceInterval)
			}),
		),
		incidentsWorker(),
		chaosWorker(),
		modelsWorker(),
		reportsWorker(),
		backtestsWorker(),
		fx.Invoke(fx.Annotate(startWorker, fx.ParamTags(``, ``, ``, ``, `group:"registrations"`, `group:"schedules"`))),
		fx.Invoke(reconcileOnStart),
		fx.Invoke(sendTechnicianNotices),
	)
}

// technicianNoticeInterval is how often the worker delivers pending
// technician notices (maintenance.NoticeSender).
const technicianNoticeInterval = 5 * time.Second

// sendTechnicianNotices delivers, in the background, the technician notices
// that assignments, re-assignments and cancellations left in the outbox,
// wherever they were made (API, activities); concurrent workers take turns.
func sendTechnicianNotices(lc fx.Lifecycle, db *store.DB, n *notify.Notifier, log *slog.Logger) {
	s := &maintenance.NoticeSender{Store: &maintenance.Store{DB: db}, Notifier: n, Log: log.With("component", "technician-notices")}
	runInBackground(lc, func(ctx context.Context) { s.Run(ctx, technicianNoticeInterval) })
}

// reconcileOnStart checks, once the worker polls, that every open incident
// in PostgreSQL has a workflow carrying it (dispatch.Reconcile), in the
// background so a large backlog does not hold up the start.
func reconcileOnStart(lc fx.Lifecycle, cfg config.Config, c client.Client, db *store.DB, log *slog.Logger) {
	runInBackground(lc, func(ctx context.Context) {
		if _, err := dispatch.Reconcile(ctx, c, db, cfg.TemporalTaskQueue, log.With("component", "reconcile")); err != nil && ctx.Err() == nil {
			log.Warn("reconcile open incidents with Temporal", "error", err)
		}
	})
}

// asRegistration tags a constructor's result as a worker registration.
func asRegistration(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"registrations"`))
}

// asSchedule tags a constructor's result as a schedule to keep in place.
func asSchedule(f any) any {
	return fx.Annotate(f, fx.ResultTags(`group:"schedules"`))
}

func startWorker(lc fx.Lifecycle, cfg config.Config, c client.Client, log *slog.Logger, regs []workers.Registration, schedules []workers.Schedule) {
	w := workers.New(c, cfg.TemporalTaskQueue, regs)
	lc.Append(fx.Hook{
		OnStart: func(ctx context.Context) error {
			if err := w.Start(); err != nil {
				return fmt.Errorf("start temporal worker: %w", err)
			}
			if err := workers.EnsureSchedules(ctx, c, cfg.TemporalTaskQueue, schedules); err != nil {
				return err
			}
			log.Info("temporal worker polling", "task_queue", cfg.TemporalTaskQueue, "schedules", len(schedules))
			return nil
		},
		OnStop: func(context.Context) error { w.Stop(); return nil },
	})
}
