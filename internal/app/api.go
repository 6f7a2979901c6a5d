package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on PPROF_ADDR
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/store"
)

// API provides and starts the HTTP server.
func API() fx.Option {
	return fx.Module("api",
		fx.Provide(
			newAuthenticator,
			newSensorCatalog,
			newValidator,
			newBatcher,
			asRoutes(func(db *store.DB) *api.Catalog { return &api.Catalog{DB: db} }),
			newReadingsHandlers,
			asRoutes(func(h *api.Readings) *api.Readings { return h }),
			newHealth,
			fx.Annotate(api.NewRouter, fx.ParamTags(``, ``, ``, `group:"routes"`, `group:"public_routes"`)),
			newHTTPServer,
		),
		incidentsAPI(),
		securityAPI(),
		modelsAPI(),
		operatorAPI(),
		reportsAPI(),
		backtestsAPI(),
		usersAPI(),
		fx.Invoke(func(*http.Server) {}, startPprof),
	)
}

// asRoutes tags a constructor's result as one of the API's route groups.
func asRoutes(f any) any {
	return fx.Annotate(f, fx.As(new(api.Routes)), fx.ResultTags(`group:"routes"`))
}

func newAuthenticator(lc fx.Lifecycle, db *store.DB, log *slog.Logger) *auth.Authenticator {
	a := auth.NewAuthenticator(db, log)
	runEvery(lc, 30*time.Second, func(ctx context.Context) {
		if err := a.RecordUse(ctx); err != nil {
			log.Warn("record api key use", "error", err)
		}
	})
	return a
}

func newSensorCatalog(lc fx.Lifecycle, db *store.DB, log *slog.Logger) *ingest.Catalog {
	c := ingest.NewCatalog(db, log)
	runInBackground(lc, c.Listen)
	return c
}

func newValidator(cfg config.Config, c *ingest.Catalog) *ingest.Validator {
	return &ingest.Validator{Catalog: c, MaxSkew: cfg.MaxClockSkew, Retention: cfg.ReadingsRetention}
}

type batcherParams struct {
	fx.In
	LC    fx.Lifecycle
	Cfg   config.Config
	DB    *store.DB
	Log   *slog.Logger
	Hooks *ingest.Hooks `optional:"true"`
}

func newBatcher(p batcherParams) *ingest.Batcher {
	opts := ingest.Options{
		MaxBatchRows:  p.Cfg.IngestMaxBatchRows,
		Flushers:      p.Cfg.IngestFlushers,
		QueueRequests: p.Cfg.IngestQueueRequests,
		CommitTimeout: p.Cfg.IngestCommitTimeout,
		Logger:        p.Log,
	}
	if p.Hooks != nil {
		opts.Hooks = *p.Hooks
	}
	b := ingest.NewBatcher(p.DB, opts)
	lc := p.LC
	lc.Append(fx.StopHook(b.Close))
	return b
}

type readingsParams struct {
	fx.In
	Cfg       config.Config
	DB        *store.DB
	Validator *ingest.Validator
	Batcher   *ingest.Batcher
	Engine    *detect.Engine `optional:"true"`
}

func newReadingsHandlers(p readingsParams) *api.Readings {
	h := &api.Readings{DB: p.DB, Validator: p.Validator, Batcher: p.Batcher, MaxBodyBytes: p.Cfg.MaxBodyBytes, MaxReadings: p.Cfg.MaxReadingsPerRequest}
	if e := p.Engine; e != nil {
		h.Scorer = func(_ *http.Request, tenant string, v ingest.Valid) any {
			if as := e.Score(tenant, v.Rows, v.Sensors); len(as) > 0 {
				return as
			}
			return nil
		}
	}
	return h
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

func newHTTPServer(lc fx.Lifecycle, cfg config.Config, log *slog.Logger, h http.Handler) *http.Server {
	srv := &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.HTTPAddr)
			if err != nil {
				return fmt.Errorf("listen on HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
			}
			log.Info("api listening", "addr", ln.Addr().String())
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error("http server stopped", "error", err)
				}
			}()
			return nil
		},
		// Shutdown waits for in-flight requests, and so for their commits.
		OnStop: srv.Shutdown,
	})
	return srv
}

// runEvery calls f every interval between start and stop.
func runEvery(lc fx.Lifecycle, interval time.Duration, f func(context.Context)) {
	runInBackground(lc, func(ctx context.Context) {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				f(context.WithoutCancel(ctx)) // a last run flushes pending work
				return
			case <-t.C:
				f(ctx)
			}
		}
	})
}

// startPprof serves the Go profiler on PPROF_ADDR when it is set.
func startPprof(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) {
	if cfg.PprofAddr == "" {
		return
	}
	srv := &http.Server{Addr: cfg.PprofAddr, Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second}
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", cfg.PprofAddr)
			if err != nil {
				return fmt.Errorf("listen on PPROF_ADDR %s: %w", cfg.PprofAddr, err)
			}
			log.Info("pprof listening", "addr", ln.Addr().String())
			go srv.Serve(ln)
			return nil
		},
		OnStop: srv.Shutdown,
	})
}
