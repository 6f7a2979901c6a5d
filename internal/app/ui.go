package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/ui"
)

// operatorAPI serves the operator page under /ui, the API description and
// its reference page, and exposes the open incidents on /metrics.
func operatorAPI() fx.Option {
	return fx.Options(
		fx.Provide(
			asPublicRoutes(func() api.Docs { return api.Docs{} }),
			asPublicRoutes(newOperatorPage),
		),
		fx.Invoke(registerOpenWorkMetrics),
	)
}

// asPublicRoutes tags a constructor's result as one of the API's public
// route groups (outside authentication).
func asPublicRoutes(f any) any {
	return fx.Annotate(f, fx.As(new(api.PublicRoutes)), fx.ResultTags(`group:"public_routes"`))
}

type operatorPageParams struct {
	fx.In
	DB       *store.DB
	Auth     *auth.Authenticator
	Temporal client.Client
	Log      *slog.Logger
	Registry *registry.Registry `optional:"true"`
}

// newOperatorPage decides on incidents through the same dispatch.Decider the
// decision route uses.
func newOperatorPage(p operatorPageParams) *ui.UI {
	return &ui.UI{
		DB: p.DB, Maintenance: &maintenance.Store{DB: p.DB}, Auth: p.Auth, Registry: p.Registry, Log: p.Log.With("component", "operator-page"),
		Decider: &dispatch.Decider{DB: p.DB, Temporal: p.Temporal},
	}
}

// registerOpenWorkMetrics exposes the open incidents and work orders on
// /metrics while the application runs. The collector is unregistered at
// stop, so an application built again in the same process (tests) reports
// from its own database rather than a closed one.
func registerOpenWorkMetrics(lc fx.Lifecycle, db *store.DB, log *slog.Logger) {
	c := &maintenance.OpenWorkCollector{Store: &maintenance.Store{DB: db}, Log: log.With("component", "open-work-metrics")}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			if err := prometheus.Register(c); err != nil {
				return fmt.Errorf("register open work metrics: %w", err)
			}
			return nil
		},
		OnStop: func(context.Context) error {
			prometheus.Unregister(c)
			return nil
		},
	})
}
