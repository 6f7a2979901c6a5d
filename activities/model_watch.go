package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// WatchCreator is the registry's actor of the watch's rollbacks.
const WatchCreator = "model-watch"

// ErrSuperseded is the error type of a rollback refused because the
// champion is no longer the version watched.
const ErrSuperseded = "Superseded"

// WatchBaselineInput names the promotion a watch starts from.
type WatchBaselineInput struct {
	TenantID string
	Model    string
	// Previous is the champion before the promotion, PromotedAt when the
	// promotion happened.
	Previous   int
	PromotedAt time.Time
}

// WatchBaseline is the policy of a watch and the band it holds the
// promoted version to.
type WatchBaseline struct {
	Policy   mlops.WatchPolicy `json:"policy"`
	Band     mlops.Band        `json:"band"`
	Previous mlops.AlarmRate   `json:"previous"`
}

// StartWatch reads the model's watch policy and measures the previous
// champion's live alarm rate over the watch's duration before the
// promotion (capped at a week), from which the band derives unless the
// policy sets one.
func (a *Models) StartWatch(ctx context.Context, in WatchBaselineInput) (WatchBaseline, error) {
	p, err := a.Store.Policy(ctx, in.TenantID, in.Model, a.Defaults)
	if err != nil {
		return WatchBaseline{}, err
	}
	w := p.Watch.OrDefaults()
	span := min(w.Duration, 7*24*time.Hour)
	prev, err := a.Store.LiveAlarms(ctx, in.TenantID, in.Model, in.Previous, in.PromotedAt.Add(-span), in.PromotedAt)
	if err != nil {
		return WatchBaseline{}, err
	}
	return WatchBaseline{Policy: w, Band: w.WatchBand(prev), Previous: prev}, nil
}

// MeasureWatchInput asks for a version's live alarm rate over [From, To).
type MeasureWatchInput struct {
	TenantID string
	Model    string
	Version  int
	From, To time.Time
}

// WatchMeasure is the version's live alarm rate and the model's champion
// now (0 when it has none).
type WatchMeasure struct {
	Rate     mlops.AlarmRate `json:"rate"`
	Champion int             `json:"champion"`
}

// MeasureWatch counts the anomalies the version raised in the period and
// the assets it serves, and says which version is champion now.
func (a *Models) MeasureWatch(ctx context.Context, in MeasureWatchInput) (WatchMeasure, error) {
	rate, err := a.Store.LiveAlarms(ctx, in.TenantID, in.Model, in.Version, in.From, in.To)
	if err != nil {
		return WatchMeasure{}, err
	}
	out := WatchMeasure{Rate: rate}
	champ, err := a.Registry.Resolve(ctx, in.TenantID, in.Model, registry.Champion)
	switch {
	case err == nil:
		out.Champion = champ.Version
	case !errors.Is(err, store.ErrNotFound):
		return WatchMeasure{}, err
	}
	return out, nil
}

// RollbackInput asks to roll the watched champion back.
type RollbackInput struct {
	TenantID string
	Model    string
	// Version is the champion watched; the rollback happens only while it
	// is still champion.
	Version int
	// Reason is the metric label (mlops.RollbackAlarmRateHigh, …),
	// Explanation the sentence recorded after "automatic rollback: ".
	Reason      string
	Explanation string
}

// RollbackChampion moves the champion back to the version before the
// watched one (registry.RollbackBecause) and logs it; the alias history is
// what smartmaint_model_rollbacks_total counts (mlops.DriftCollector). A retried attempt that
// finds its own rollback done returns that move; if the champion moved
// for another reason it fails with ErrSuperseded.
func (a *Models) RollbackChampion(ctx context.Context, in RollbackInput) (registry.AliasEvent, error) {
	log := activity.GetLogger(ctx)
	champ, err := a.Registry.Resolve(ctx, in.TenantID, in.Model, registry.Champion)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return registry.AliasEvent{}, err
	}
	if err != nil || champ.Version != in.Version {
		hist, herr := a.Registry.AliasEvents(ctx, in.TenantID, in.Model, registry.Champion, 1, 0)
		if herr != nil {
			return registry.AliasEvent{}, herr
		}
		if len(hist) == 1 && hist[0].From == in.Version && hist[0].Actor == WatchCreator && registry.IsRollback(hist[0].Reason) {
			return hist[0], nil
		}
		return registry.AliasEvent{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s v%d is no longer champion; nothing to roll back", in.Model, in.Version), ErrSuperseded, err)
	}
	ev, err := a.Registry.RollbackBecause(ctx, in.TenantID, in.Model, registry.Champion, WatchCreator, in.Explanation)
	switch {
	case errors.Is(err, registry.ErrNothingToRollBack), errors.Is(err, registry.ErrNotEligible):
		return registry.AliasEvent{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrNotEligible, err)
	case err != nil:
		return registry.AliasEvent{}, err
	}
	log.Warn("champion rolled back automatically", "tenant", in.TenantID, "model", in.Model,
		"from", ev.From, "to", ev.To, "reason", in.Reason, "explanation", in.Explanation)
	return ev, nil
}
