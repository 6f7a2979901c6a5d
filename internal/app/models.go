package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workers"
)

// ModelLoader serves the champion models of every kind to the ingest
// path's model detectors. (The rul and bearing model file kinds decode
// because package api, which validates bindings, imports their packages.)
type ModelLoader = registry.Loader[modelfile.Model]

// modelsAPI serves the model registry, drift, retraining, training and
// binding routes, keeps the champion models loaded and adds a model detector per
// model kind (bindingsAPI) to the ingest path's detection engine.
func modelsAPI() fx.Option {
	return fx.Options(
		fx.Provide(fx.Private, newRegistry, newMLOpsStore),
		fx.Provide(
			newModelLoader,
			asRoutes(newModelsHandlers),
			asRoutes(newTrainingHandlers),
		),
		bindingsAPI(),
		fx.Invoke(registerDriftMetrics),
	)
}

// modelsWorker registers the drift check and retraining workflows, keeps
// the drift check schedule, and in the dev stack gives the demo tenant an
// anomaly model trained on AI4I and the simulated fleets' RUL and bearing
// health models (devmodels.go).
func modelsWorker() fx.Option {
	return fx.Options(
		fx.Provide(fx.Private, newRegistry, newMLOpsStore),
		fx.Provide(
			newModelActivities,
			asRegistration(workers.Models),
			asSchedule(func(cfg config.Config) workers.Schedule { return workers.DriftSchedule(cfg.DriftCheckInterval) }),
		),
		fx.Invoke(bootstrapDevModel, bootstrapDevFleetModels),
	)
}

func newRegistry(cfg config.Config, db *store.DB, rdb redis.UniversalClient, log *slog.Logger) (*registry.Registry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	artifacts, err := registry.OpenArtifactStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c, _ := rdb.(*redis.Client) // another kind of client: Loaders poll
	return registry.New(db, artifacts, registry.Options{Redis: c, Logger: log.With("component", "registry")}), nil
}

func newMLOpsStore(db *store.DB) *mlops.Store { return &mlops.Store{DB: db} }

// defaultPolicy is the model policy the configuration sets.
func defaultPolicy(cfg config.Config) mlops.Policy {
	d := mlops.DefaultDriftPolicy()
	d.PSIThreshold, d.KSPValue, d.MinFeatures, d.MinSamples = cfg.DriftPSIThreshold, cfg.DriftKSPValue, cfg.DriftMinFeatures, cfg.DriftMinSamples
	return mlops.Policy{Drift: d, MinImprovement: cfg.RetrainMinImprovement, ApprovalTimeout: cfg.RetrainApprovalTimeout,
		BacktestDays: mlops.DefaultBacktestDays, Tolerance: mlops.DefaultTolerance, Watch: mlops.DefaultWatchPolicy()}
}

// newModelLoader keeps the champion models of every kind in memory from
// start (waiting for the first load) to stop: the model detectors serve
// whichever a binding names.
func newModelLoader(lc fx.Lifecycle, cfg config.Config, reg *registry.Registry, log *slog.Logger) *ModelLoader {
	l := registry.NewLoader(reg, modelfile.Unmarshal, registry.LoaderOptions{
		Interval: cfg.ModelReloadInterval, Logger: log.With("component", "model-loader"),
	})
	runInBackgroundReady(lc, func(ctx context.Context) { l.Run(ctx) }, l.Ready(), log, "anomaly models not loaded yet; scoring starts when they are")
	return l
}

func newModelsHandlers(cfg config.Config, reg *registry.Registry, st *mlops.Store, c client.Client) *api.Models {
	return &api.Models{Registry: reg, MLOps: st, Defaults: defaultPolicy(cfg), Temporal: c, TaskQueue: cfg.TemporalTaskQueue,
		MaxUploadBytes: cfg.ModelMaxUploadBytes}
}

func newTrainingHandlers(cfg config.Config, db *store.DB, reg *registry.Registry, c client.Client) *api.Training {
	return &api.Training{DB: db, Registry: reg, Temporal: c, TaskQueue: cfg.TemporalTaskQueue}
}

// registerDriftMetrics exposes the stored drift results on /metrics while
// the app runs: registered at start and unregistered at stop, so an app
// rebuilt in the same process (tests) never scrapes a closed pool.
func registerDriftMetrics(lc fx.Lifecycle, st *mlops.Store, log *slog.Logger) {
	c := &mlops.DriftCollector{Store: st, Log: log.With("component", "drift-metrics")}
	registered := false
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			err := prometheus.Register(c)
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				log.Warn("drift metrics are already exported by another app in this process")
				return nil
			}
			if err != nil {
				return fmt.Errorf("register drift metrics: %w", err)
			}
			registered = true
			return nil
		},
		OnStop: func(context.Context) error {
			if registered {
				prometheus.Unregister(c)
			}
			return nil
		},
	})
}

func newModelActivities(cfg config.Config, db *store.DB, reg *registry.Registry, st *mlops.Store) *activities.Models {
	return &activities.Models{
		DB: db, Registry: reg, Store: st, Defaults: defaultPolicy(cfg),
		DriftWindow: cfg.DriftWindow, SampleSize: 5000,
		TrainWindow: cfg.RetrainWindow, MaxTrainRows: cfg.RetrainMaxRows, MinTrainRows: cfg.RetrainMinRows,
	}
}

type devModelParams struct {
	fx.In
	LC  fx.Lifecycle
	Cfg config.Config
	Reg *registry.Registry
	St  *mlops.Store
	Log *slog.Logger
	Dev *DevMarker `optional:"true"`
}

// bootstrapDevModel trains and promotes the demo tenant's milling-machine
// model on AI4I when it has none, in the background once the stack runs
// (the tenant is created by the dev module's start hook).
func bootstrapDevModel(p devModelParams) {
	if p.Dev == nil {
		return
	}
	runInBackground(p.LC, func(ctx context.Context) {
		for attempt := 1; ; attempt++ {
			v, promoted, err := mlops.Bootstrap(ctx, p.Reg, p.St, p.Cfg.DevTenant)
			if err == nil {
				if promoted {
					p.Log.Info("anomaly model trained on AI4I and promoted", "tenant", p.Cfg.DevTenant, "model", v.Name, "version", v.Version)
				}
				return
			}
			if attempt == 10 {
				p.Log.Warn("no anomaly model for the demo tenant; the model detector stays silent", "error", err)
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	})
}
