// Package app wires smartmaint together with go.uber.org/fx: one module for
// the shared dependencies (config, logger, PostgreSQL, Redis, Temporal
// client), one for the HTTP API, one for the Temporal worker and one for the
// embedded development stack. cmd/smartmaint picks the modules a subcommand
// needs.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/requestid"
	"github.com/smartmaint/smartmaint/internal/store"
)

// SchemaReady is provided once the database schema may be used: after
// migrations in dev mode, immediately otherwise (run `smartmaint migrate`).
type SchemaReady struct{}

// Core provides the dependencies every subcommand shares, and runs the
// admin listener (ADMIN_ADDR: /metrics and the health endpoints).
func Core(cfg config.Config) fx.Option {
	return fx.Options(
		fx.Supply(cfg),
		fx.Provide(NewLogger, newDB, newRedis, newTemporalClient, newNotifier),
		admin(),
		fx.WithLogger(func(log *slog.Logger) fxevent.Logger {
			l := &fxevent.SlogLogger{Logger: log.With("component", "fx")}
			l.UseLogLevel(slog.LevelDebug)
			return l
		}),
	)
}

// WithoutMigrations is the SchemaReady of the api and worker commands.
func WithoutMigrations() fx.Option {
	return fx.Provide(func() SchemaReady { return SchemaReady{} })
}

// NewLogger returns the process logger: JSON on stderr, with the request id
// of the context added to every record. It also becomes slog's default.
func NewLogger(cfg config.Config) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToLower(cfg.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	log := slog.New(requestid.Handler(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level})))
	slog.SetDefault(log)
	return log
}

func newDB(lc fx.Lifecycle, cfg config.Config, _ SchemaReady) (*store.DB, error) {
	db, err := store.Open(context.Background(), cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return nil, err
	}
	lc.Append(fx.StopHook(db.Close))
	return db, nil
}

// DevMarker is present only in the dev stack; it allows in-process fallbacks.
type DevMarker struct{}

type redisParams struct {
	fx.In
	LC  fx.Lifecycle
	Cfg config.Config
	Log *slog.Logger
	Dev *DevMarker `optional:"true"`
}

func newRedis(p redisParams) (redis.UniversalClient, error) {
	url := p.Cfg.RedisURL
	if url == "" {
		if p.Dev == nil {
			return nil, fmt.Errorf("REDIS_URL is not set (only `smartmaint dev` may run without Redis)")
		}
		mr := miniredis.NewMiniRedis()
		if err := mr.Start(); err != nil {
			return nil, fmt.Errorf("start in-process redis: %w", err)
		}
		p.LC.Append(fx.StopHook(mr.Close))
		p.Log.Info("REDIS_URL is unset: using an in-process Redis (rate limits and idempotency keys live only as long as this process)")
		url = "redis://" + mr.Addr()
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	c := redis.NewClient(opts)
	p.LC.Append(fx.StopHook(c.Close))
	return c, nil
}

type temporalParams struct {
	fx.In
	LC  fx.Lifecycle
	Cfg config.Config
	Log *slog.Logger
	Dev *devserver.Server `optional:"true"`
}

// newTemporalClient connects lazily, so the API keeps taking readings while
// Temporal is briefly unreachable; readiness reports it.
func newTemporalClient(p temporalParams) (client.Client, error) {
	addr := p.Cfg.TemporalAddress
	if p.Dev != nil {
		addr = p.Dev.Address()
	}
	c, err := client.NewLazyClient(client.Options{
		HostPort:  addr,
		Namespace: p.Cfg.TemporalNamespace,
		Logger:    tlog.NewStructuredLogger(p.Log.With("component", "temporal-client")),
	})
	if err != nil {
		return nil, fmt.Errorf("temporal client for %s: %w", addr, err)
	}
	p.LC.Append(fx.StopHook(c.Close))
	return c, nil
}
