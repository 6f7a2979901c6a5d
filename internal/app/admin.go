package app

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/store"
)

// admin provides the health checks and runs the admin listener (ADMIN_ADDR):
// /metrics, /health and /health/ready for Prometheus and probes, one per
// process whatever modules it runs, so the worker's metrics are scraped too.
func admin() fx.Option {
	return fx.Options(
		fx.Provide(newHealth),
		fx.Invoke(startAdmin),
	)
}

func newHealth(db *store.DB, rdb redis.UniversalClient, tc client.Client) *api.Health {
	return &api.Health{Checks: map[string]api.Check{
		"postgres": db.Ping,
		"redis":    func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
		"temporal": func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
	}}
}

// startAdmin serves api.NewAdminRouter on ADMIN_ADDR unless it is "off".
func startAdmin(lc fx.Lifecycle, cfg config.Config, log *slog.Logger, health *api.Health) {
	if cfg.AdminAddr == "off" {
		return
	}
	serve(lc, log, "admin", "ADMIN_ADDR", cfg.AdminAddr, &http.Server{
		Handler:           api.NewAdminRouter(health, cfg.MetricsToken),
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	})
}
