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

func newHTTPServer(lc fx.Lifecycle, cfg config.Config, log *slog.Logger, h http.Handler) *http.Server {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Shutdown waits for in-flight requests, and so for their commits.
	serve(lc, log, "api", "HTTP_ADDR", cfg.HTTPAddr, srv)
	return srv
}

// serve listens on addr (the value of the variable env) at start and serves
// srv until stop.
func serve(lc fx.Lifecycle, log *slog.Logger, name, env, addr string, srv *http.Server) {
	srv.Addr = addr
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listen on %s %s: %w", env, addr, err)
			}
			log.Info(name+" listening", "addr", ln.Addr().String())
			go func() {
				if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
					log.Error(name+" server stopped", "error", err)
				}
			}()
			return nil
		},
		OnStop: srv.Shutdown,
	})
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
	serve(lc, log, "pprof", "PPROF_ADDR", cfg.PprofAddr, &http.Server{Handler: http.DefaultServeMux, ReadHeaderTimeout: 10 * time.Second})
}
