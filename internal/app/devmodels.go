package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"time"

	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/ml/bearing"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
)

// The models the dev stack trains for the simulated turbofan engines and
// bearing rig, bound to their asset types.
const (
	// DevRULModel is the turbofan engines' remaining-useful-life model.
	DevRULModel = "rul-" + simulate.EngineType
	// DevBearingModel is the bearing rig's health model.
	DevBearingModel = "bearing-health-" + simulate.BearingType
)

// devFleetModel is a model the dev stack gives a simulated fleet: trained
// when the tenant has no version of it, promoted champion and bound to
// the fleet's asset type as kind unless a binding exists.
type devFleetModel struct {
	fleet     string // simulate.EngineFleet, simulate.BearingFleet
	kind      modelkind.Kind
	name      string
	threshold float64
	// train returns the model and its version's description, with the
	// promotion's reason.
	train func(ctx context.Context) (modelfile.Model, registry.NewVersion, string, error)
}

type devFleetParams struct {
	fx.In
	LC  fx.Lifecycle
	Cfg config.Config
	DB  *store.DB
	Reg *registry.Registry
	Log *slog.Logger
	Dev *DevMarker `optional:"true"`
}

// bootstrapDevFleetModels gives the demo tenant, in the background once the
// stack runs and when DEV_SIMULATE is on, the models of the simulated
// fleets in DEV_FLEETS: the RUL
// model trained on the C-MAPSS FD001 training engines (about 30 s on two
// cores) bound to turbofan-engine with the DEV_RUL_THRESHOLD, and the
// bearing health model learned from the first day of IMS set No. 2 bound
// to bearing-rig. What exists is kept: a restart trains nothing when the
// champions are there and leaves an operator's binding as it is.
func bootstrapDevFleetModels(p devFleetParams) {
	if p.Dev == nil || !p.Cfg.DevSimulate {
		return
	}
	var models []devFleetModel
	for _, m := range devFleetModels(p.Cfg) {
		if strings.Contains(","+p.Cfg.DevFleets+",", ","+m.fleet+",") || p.Cfg.DevFleets == "all" {
			models = append(models, m)
		}
	}
	if len(models) == 0 {
		return
	}
	bindings := &binding.Store{DB: p.DB}
	log := p.Log.With("component", "dev-models")
	runInBackground(p.LC, func(ctx context.Context) {
		for _, m := range models {
			err := retry(ctx, 10, 2*time.Second, func() error { return ensureFleetModel(ctx, p.Reg, bindings, p.Cfg.DevTenant, m, log) })
			if err != nil && ctx.Err() == nil {
				log.Warn("no model for a simulated fleet; its detector stays silent", "model", m.name, "asset_type", m.fleet, "error", err)
			}
		}
	})
}

// retry calls f until it succeeds, at most attempts times, wait apart.
func retry(ctx context.Context, attempts int, wait time.Duration, f func() error) error {
	var err error
	for range attempts {
		if err = f(); err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
	return err
}

// ensureFleetModel makes sure m has a champion and a binding.
func ensureFleetModel(ctx context.Context, reg *registry.Registry, bindings *binding.Store, tenant string, m devFleetModel, log *slog.Logger) error {
	v, err := reg.Resolve(ctx, tenant, m.name, registry.Champion)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if v, err = trainFleetModel(ctx, reg, tenant, m, log); err != nil {
			return err
		}
	case err != nil:
		return err
	}
	_, err = bindings.Get(ctx, tenant, m.fleet, m.kind)
	if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	t := m.threshold
	if _, err := bindings.Put(ctx, binding.Binding{TenantID: tenant, AssetType: m.fleet, Kind: m.kind, Model: m.name,
		Features: map[string]string{}, Threshold: &t, UpdatedBy: mlops.BootstrapCreator}); err != nil {
		return err
	}
	log.Info("model bound to the simulated fleet", "asset_type", m.fleet, "kind", m.kind, "model", m.name, "version", v.Version, "threshold", t)
	return nil
}

// trainFleetModel registers and promotes m: the latest version the
// bootstrap registered before (a start that stopped before promoting), or
// a newly trained one.
func trainFleetModel(ctx context.Context, reg *registry.Registry, tenant string, m devFleetModel, log *slog.Logger) (registry.Version, error) {
	versions, err := reg.Versions(ctx, tenant, m.name, 20, 0)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return registry.Version{}, err
	}
	i := slices.IndexFunc(versions, func(v registry.Version) bool { return v.CreatedBy == mlops.BootstrapCreator })
	var v registry.Version
	reason := "model the dev stack trained at an earlier start"
	if i >= 0 {
		v = versions[i]
	} else {
		start := time.Now()
		file, spec, why, err := m.train(ctx)
		if err != nil {
			return registry.Version{}, fmt.Errorf("train %s: %w", m.name, err)
		}
		data, err := modelfile.Marshal(file)
		if err != nil {
			return registry.Version{}, fmt.Errorf("encode %s: %w", m.name, err)
		}
		spec.Name, spec.CreatedBy, spec.Features = m.name, mlops.BootstrapCreator, file.Meta.FeatureNames
		if v, err = reg.Create(ctx, tenant, spec, data); err != nil {
			return registry.Version{}, err
		}
		reason = why
		log.Info("model trained for the simulated fleet", "model", m.name, "version", v.Version, "seconds", time.Since(start).Seconds())
	}
	_, err = reg.Promote(ctx, tenant, registry.Promotion{Name: m.name, Alias: registry.Champion, Version: v.Version, Actor: mlops.BootstrapCreator, Reason: reason})
	if err != nil && !errors.Is(err, registry.ErrAliasUnchanged) {
		return registry.Version{}, err
	}
	return v, nil
}

// devFleetModels are the models of the simulated fleets.
func devFleetModels(cfg config.Config) []devFleetModel {
	return []devFleetModel{
		// The bearing model first: it takes milliseconds, the RUL model
		// half a minute or more.
		{fleet: simulate.BearingFleet, kind: modelkind.BearingHealth, name: DevBearingModel, threshold: bearing.DefaultHealthConfig().Threshold, train: trainDevBearing},
		{fleet: simulate.EngineFleet, kind: modelkind.RUL, name: DevRULModel, threshold: cfg.DevRULThreshold, train: trainDevRUL},
	}
}

// trainDevRUL trains the RUL model as `smartmaint train --dataset cmapss`
// does (default parameters, 80% intervals, seed 42) on the FD001 training
// engines, scored on the test engines' last cycles.
func trainDevRUL(ctx context.Context) (modelfile.Model, registry.NewVersion, string, error) {
	f, err := rul.FD001()
	if err != nil {
		return modelfile.Model{}, registry.NewVersion{}, "", err
	}
	r, err := rul.Run(ctx, f, rul.Options{Coverage: 0.8, Seed: 42})
	if err != nil {
		return modelfile.Model{}, registry.NewVersion{}, "", err
	}
	spec := registry.NewVersion{
		Kind: rul.Kind, Params: map[string]any{"config": r.Model.Config, "coverage": r.Model.Coverage, "seed": 42},
		Metrics:            r.File.Meta.Metrics,
		TrainingData:       "cmapss/train_FD001.txt, all 100 training engines run to failure",
		TrainingDataSHA256: r.File.Meta.TrainingDataSHA256,
	}
	return r.File, spec, fmt.Sprintf("initial RUL model trained on C-MAPSS FD001 (test RMSE %.2f cycles at the test engines' last cycle)", r.Metrics.RMSE), nil
}

// trainDevBearing learns the bearing health model from the first day of
// IMS set No. 2 (bearing.HealthConfig defaults), and reports how long
// before the run's last snapshot its first sustained alarm comes on the
// snapshots after that day.
func trainDevBearing(context.Context) (modelfile.Model, registry.NewVersion, string, error) {
	times, snaps, err := simulate.LoadIMSRun()
	if err != nil {
		return modelfile.Model{}, registry.NewVersion{}, "", err
	}
	mon, err := bearing.NewMonitor(len(snaps[0]), bearing.HealthConfig{})
	if err != nil {
		return modelfile.Model{}, registry.NewVersion{}, "", err
	}
	status := make([]bearing.Status, len(snaps[0]))
	for i := 0; i < len(snaps); i++ {
		if err := mon.Update(times[i], snaps[i], status); err != nil {
			return modelfile.Model{}, registry.NewVersion{}, "", err
		}
	}
	h := mon.Model()
	if h == nil {
		return modelfile.Model{}, registry.NewVersion{}, "", fmt.Errorf("no bearing baseline learned from %d snapshots", len(snaps))
	}
	lead := math.NaN()
	if t, ok := mon.FirstAlarm(0); ok {
		lead = times[len(times)-1].Sub(t).Hours()
	}
	file := modelfile.Model{Meta: modelfile.Metadata{Kind: bearing.KindHealth, FeatureNames: h.FeatureNames(), Rows: h.Snapshots,
		Threshold: h.AlarmThreshold(), Dataset: "ims-bearing/features.csv " + simulate.IMSTest}, Scorer: h}
	metrics := map[string]float64{"baseline_snapshots": float64(h.Snapshots)}
	if !math.IsNaN(lead) {
		metrics["bearing1_first_alarm_lead_hours"] = lead
	}
	spec := registry.NewVersion{
		Kind: bearing.KindHealth, Params: map[string]any{"config": h.Config},
		Metrics:            metrics,
		TrainingData:       fmt.Sprintf("ims-bearing/features.csv, %s: the first %d snapshots (its first day)", simulate.IMSTest, h.Snapshots),
		TrainingDataSHA256: modelfile.DataHash(h.FeatureNames(), flatten(snaps[:h.Snapshots]), nil),
	}
	return file, spec, fmt.Sprintf("initial bearing health model learned from the first day of IMS %s (bearing 1's first sustained alarm %.1f h before the run's last snapshot)", simulate.IMSTest, lead), nil
}

// flatten turns snapshots into rows in the order of the health model's
// features.
func flatten(snaps [][]bearing.Indicators) [][]float64 {
	out := make([][]float64, len(snaps))
	for i, s := range snaps {
		for _, x := range s {
			out[i] = append(out[i], x.RMS, x.Kurtosis, x.CrestFactor)
		}
	}
	return out
}
