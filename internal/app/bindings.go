package app

import (
	"log/slog"

	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// modelDetectors are the ingest path's model detectors, one per
// modelkind.Kind, each serving the models bound to asset types as its kind.
type modelDetectors []*detect.Model

// bindingsAPI serves the model binding routes and keeps the bindings in
// memory for the model detectors (part of modelsAPI, which provides the
// registry).
func bindingsAPI() fx.Option {
	return fx.Options(
		fx.Provide(
			func(db *store.DB) *binding.Store { return &binding.Store{DB: db} },
			newBindingCache,
			newModelDetectors,
			asRoutes(func(db *store.DB, st *binding.Store, reg *registry.Registry, c *binding.Cache) *api.Bindings {
				return &api.Bindings{DB: db, Store: st, Registry: reg, Changed: c.Refresh}
			}),
		),
		fx.Decorate(func(e *detect.Engine, ds modelDetectors) *detect.Engine {
			for _, d := range ds {
				e.Detectors = append(e.Detectors, d)
			}
			return e
		}),
	)
}

// newBindingCache keeps every tenant's bindings in memory from start
// (waiting for the first load) to stop, reloading them every
// binding.DefaultRefresh.
func newBindingCache(lc fx.Lifecycle, st *binding.Store, log *slog.Logger) *binding.Cache {
	c := binding.NewCache(st, 0, log.With("component", "binding-cache"))
	runInBackgroundReady(lc, c.Run, c.Ready(), log, "model bindings not loaded yet; only the default anomaly models serve until they are")
	return c
}

// newModelDetectors returns a detector per kind over the champion models,
// the asset cache and the bindings.
func newModelDetectors(cfg config.Config, db *store.DB, l *ModelLoader, c *binding.Cache) modelDetectors {
	assets := detect.NewAssetCache(db, 0)
	out := make(modelDetectors, 0, len(modelkind.Kinds))
	for _, k := range modelkind.Kinds {
		out = append(out, detect.NewBound(k, l, assets, c, cfg.DetectSnapshotWindow))
	}
	return out
}
