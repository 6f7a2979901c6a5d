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
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workers"
	"github.com/smartmaint/smartmaint/workflows"
)

// incidentsAPI scores readings at ingest and dispatches anomalies to
// incident workflows; it serves the incident routes.
func incidentsAPI() fx.Option {
	return fx.Options(
		fx.Provide(
			newDetectEngine,
			newDispatcher,
			func(d *dispatch.Dispatcher) *ingest.Hooks { h := d.Hooks(); return &h },
			asRoutes(func(db *store.DB, c client.Client) *api.Incidents { return &api.Incidents{DB: db, Temporal: c} }),
			asRoutes(func(db *store.DB) *api.Technicians { return &api.Technicians{Store: &maintenance.Store{DB: db}} }),
			asRoutes(func(db *store.DB, n *notify.Notifier) *api.Channels { return &api.Channels{DB: db, Notifier: n} }),
			asRoutes(newWorkOrderHandlers),
		),
	)
}

func newDetectEngine() *detect.Engine {
	return &detect.Engine{Detectors: []detect.Detector{detect.Threshold{}, detect.NewRobustZ(detect.DefaultRobustThreshold, detect.DefaultRobustAlpha)}}
}

func newDispatcher(lc fx.Lifecycle, cfg config.Config, c client.Client, db *store.DB, log *slog.Logger) *dispatch.Dispatcher {
	d := dispatch.New(c, db, dispatch.Options{TaskQueue: cfg.TemporalTaskQueue, Logger: log.With("component", "dispatch")})
	runInBackground(lc, d.Run)
	return d
}

// incidentsWorker registers the incident workflow and its activities (the
// forecast reads the model bindings and the registry of modelsWorker), and
// the preventive maintenance workflow with its schedule (PREVENTIVE_INTERVAL).
func incidentsWorker() fx.Option {
	return fx.Provide(
		func(db *store.DB, reg *registry.Registry) *activities.Incidents {
			return &activities.Incidents{DB: db, Registry: reg, Bindings: &binding.Store{DB: db}}
		},
		func(db *store.DB) *activities.Maintenance {
			return &activities.Maintenance{DB: db, Store: &maintenance.Store{DB: db}}
		},
		func(n *notify.Notifier) *activities.Notifications { return &activities.Notifications{Notifier: n} },
		asRegistration(workers.Incidents),
		asRegistration(workers.Preventive),
		asSchedule(func(cfg config.Config) workers.Schedule {
			return workers.PreventiveSchedule(cfg.PreventiveInterval, cfg.PreventiveLead)
		}),
	)
}

// newNotifier is shared by the channel test route and the notify activity.
func newNotifier(cfg config.Config, db *store.DB, log *slog.Logger) (*notify.Notifier, error) {
	deny, err := cfg.DeniedNetworks()
	if err != nil {
		return nil, err
	}
	implicit, err := cfg.SMTPImplicitTLS()
	if err != nil {
		return nil, err
	}
	return notify.New(db, notify.Config{
		SMTP: notify.SMTPConfig{
			Addr: cfg.SMTPAddr, From: cfg.SMTPFrom, Username: cfg.SMTPUsername, Password: cfg.SMTPPassword,
			ImplicitTLS: implicit,
		},
		DenyNetworks: deny,
		PublicURL:    cfg.PublicURL,
	}, log.With("component", "notify")), nil
}

// newWorkOrderHandlers tells an incident when its work order's status
// changes. A lost signal is caught up by the workflow, which also polls.
func newWorkOrderHandlers(db *store.DB, c client.Client, log *slog.Logger) *api.WorkOrders {
	return &api.WorkOrders{DB: db, Store: &maintenance.Store{DB: db}, OnStatusChange: func(ctx context.Context, tenant string, wo maintenance.WorkOrder) {
		if wo.IncidentID == "" {
			return
		}
		actor := "api"
		if p, ok := auth.FromContext(ctx); ok {
			actor = "key:" + p.KeyName
		}
		err := c.SignalWorkflow(ctx, incident.WorkflowID(tenant, wo.AssetID), "", workflows.SignalWorkOrder,
			workflows.WorkOrderUpdate{WorkOrderID: wo.ID, Status: wo.Status, Actor: actor})
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			log.WarnContext(ctx, "signal incident about its work order", "work_order", wo.ID, "error", err)
		}
	}}
}
