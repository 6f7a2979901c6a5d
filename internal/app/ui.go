package app

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/store"
)

// operatorAPI serves the API description and its reference page, and
// exposes the open incidents on /metrics.
func operatorAPI() fx.Option {
	return fx.Options(
		fx.Provide(asPublicRoutes(func() api.Docs { return api.Docs{} })),
		fx.Invoke(registerIncidentMetrics),
	)
}

// asPublicRoutes tags a constructor's result as one of the API's public
// route groups (outside authentication).
func asPublicRoutes(f any) any {
	return fx.Annotate(f, fx.As(new(api.PublicRoutes)), fx.ResultTags(`group:"public_routes"`))
}

// registerIncidentMetrics exposes the open incidents on /metrics (once per
// process).
func registerIncidentMetrics(db *store.DB, log *slog.Logger) error {
	err := prometheus.Register(&store.IncidentCollector{DB: db, Log: log.With("component", "incident-metrics")})
	var already prometheus.AlreadyRegisteredError
	if err != nil && !errors.As(err, &already) {
		return fmt.Errorf("register incident metrics: %w", err)
	}
	return nil
}
