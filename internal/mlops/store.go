// Package mlops keeps anomaly models fit for the data they score: it
// trains an asset type's Isolation Forest on AI4I or on recent readings,
// keeps each version's training reference sample, checks recent readings
// against it for drift (KS and PSI per feature), evaluates a challenger
// against the champion, and records drift checks, retraining outcomes and
// the per-model policy. The Temporal activities in package activities and
// the API call it; docs/MLOPS.md describes the loop.
package mlops

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Store keeps the MLOps records in PostgreSQL (migrations/006_mlops.sql).
// Writes come from activities and run as the owner role; reads for the API
// run in the tenant's transaction.
type Store struct {
	DB *store.DB
}

// ModelRef names one model of one tenant.
type ModelRef struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
}

// Reference is a version's training reference: per feature, a sorted
// sample of the values it was trained on.
type Reference map[string][]float64

// SaveReference stores ref for a version, replacing what was stored.
func (s *Store) SaveReference(ctx context.Context, tenant, name string, version int, ref Reference) error {
	err := pgx.BeginFunc(ctx, s.DB.Pool, func(tx pgx.Tx) error {
		for feature, sample := range ref {
			if _, err := tx.Exec(ctx, `
				INSERT INTO model_references (tenant_id, name, version, feature, sample) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (tenant_id, name, version, feature) DO UPDATE SET sample = excluded.sample`,
				tenant, name, version, feature, sample); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mlops: save reference of %s v%d: %w", name, version, err)
	}
	return nil
}

// Reference returns a version's training reference; empty when none was
// stored (a version registered by other means).
func (s *Store) Reference(ctx context.Context, tenant, name string, version int) (Reference, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT feature, sample FROM model_references WHERE tenant_id = $1 AND name = $2 AND version = $3`, tenant, name, version)
	if err != nil {
		return nil, fmt.Errorf("mlops: reference of %s v%d: %w", name, version, err)
	}
	ref := Reference{}
	var feature string
	var sample []float64
	_, err = pgx.ForEachRow(rows, []any{&feature, &sample}, func() error {
		ref[feature] = sample
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mlops: reference of %s v%d: %w", name, version, err)
	}
	return ref, nil
}

// Monitored lists, across tenants, the models whose name starts with
// prefix and that have a champion: the ones the drift check watches.
func (s *Store) Monitored(ctx context.Context, prefix string) ([]ModelRef, error) {
	rows, err := s.DB.Pool.Query(ctx, `
		SELECT tenant_id, name FROM model_aliases
		WHERE alias = 'champion' AND starts_with(name, $1)
		ORDER BY tenant_id, name`, prefix)
	if err != nil {
		return nil, fmt.Errorf("mlops: monitored models: %w", err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ModelRef])
	if err != nil {
		return nil, fmt.Errorf("mlops: monitored models: %w", err)
	}
	return refs, nil
}

// Drift statuses.
const (
	StatusOK               = "ok"
	StatusDrift            = "drift"
	StatusInsufficientData = "insufficient_data"
	StatusNoReference      = "no_reference"
)

// DriftCheck is one drift check of a model's champion.
type DriftCheck struct {
	ID              int64          `json:"id"`
	TenantID        string         `json:"tenant_id"`
	Name            string         `json:"model"`
	Version         int            `json:"version"`
	Status          string         `json:"status"`
	Drifted         bool           `json:"drifted"`
	DriftedFeatures int            `json:"drifted_features"`
	WindowFrom      time.Time      `json:"window_from"`
	WindowTo        time.Time      `json:"window_to"`
	Features        []FeatureDrift `json:"features"`
	Policy          DriftPolicy    `json:"policy"`
	// RetrainWorkflow is the retraining the check started, if any.
	RetrainWorkflow string    `json:"retrain_workflow,omitempty"`
	RunID           string    `json:"run_id"`
	CheckedAt       time.Time `json:"checked_at"`
}

const driftColumns = `id, tenant_id, name, version, status, drifted, drifted_features, window_from, window_to,
	features, policy, retrain_workflow, run_id, checked_at`

func scanDrift(row pgx.Row) (DriftCheck, error) {
	var c DriftCheck
	err := row.Scan(&c.ID, &c.TenantID, &c.Name, &c.Version, &c.Status, &c.Drifted, &c.DriftedFeatures, &c.WindowFrom, &c.WindowTo,
		&c.Features, &c.Policy, &c.RetrainWorkflow, &c.RunID, &c.CheckedAt)
	if c.Features == nil {
		c.Features = []FeatureDrift{}
	}
	return c, err
}

// RecordDrift stores a check once per workflow run (c.RunID): a retried
// activity finds the row it wrote.
func (s *Store) RecordDrift(ctx context.Context, c DriftCheck) (DriftCheck, error) {
	if c.Features == nil {
		c.Features = []FeatureDrift{}
	}
	out, err := scanDrift(s.DB.Pool.QueryRow(ctx, `
		INSERT INTO drift_checks (tenant_id, name, version, status, drifted, drifted_features, window_from, window_to, features, policy, run_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (tenant_id, name, run_id) DO UPDATE SET run_id = excluded.run_id
		RETURNING `+driftColumns,
		c.TenantID, c.Name, c.Version, c.Status, c.Drifted, c.DriftedFeatures, c.WindowFrom, c.WindowTo, c.Features, c.Policy, c.RunID))
	if err != nil {
		return DriftCheck{}, fmt.Errorf("mlops: record drift check of %s: %w", c.Name, err)
	}
	return out, nil
}

// SetDriftRetrain notes the retraining workflow a check started.
func (s *Store) SetDriftRetrain(ctx context.Context, tenant, name, runID, workflowID string) error {
	_, err := s.DB.Pool.Exec(ctx, `UPDATE drift_checks SET retrain_workflow = $4 WHERE tenant_id = $1 AND name = $2 AND run_id = $3`,
		tenant, name, runID, workflowID)
	if err != nil {
		return fmt.Errorf("mlops: note retraining of %s: %w", name, err)
	}
	return nil
}

// DriftChecks returns the latest limit checks of a model, newest first.
func (s *Store) DriftChecks(ctx context.Context, tenant, name string, limit int) ([]DriftCheck, error) {
	out := []DriftCheck{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+driftColumns+` FROM drift_checks WHERE name = $1 ORDER BY id DESC LIMIT $2`, name, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (DriftCheck, error) { return scanDrift(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mlops: drift checks of %s: %w", name, err)
	}
	return out, nil
}

// LatestDrift returns, across tenants, the latest check of every model:
// what the drift metrics show.
func (s *Store) LatestDrift(ctx context.Context) ([]DriftCheck, error) {
	out, err := store.Collect(ctx, s.DB.Pool, scanDrift, `
		SELECT DISTINCT ON (tenant_id, name) `+driftColumns+` FROM drift_checks
		ORDER BY tenant_id, name, id DESC`)
	if err != nil {
		return nil, fmt.Errorf("mlops: latest drift checks: %w", err)
	}
	return out, nil
}

// Retrain outcomes.
const (
	OutcomePromoted = "promoted" // the challenger became champion
	OutcomeKept     = "kept"     // the champion stays: the challenger is not better by the margin
	OutcomeRejected = "rejected" // a person rejected the promotion, or nobody approved it in time
	OutcomeFailed   = "failed"   // training or evaluation could not complete
)

// Retrain is the outcome of one retraining run.
type Retrain struct {
	TenantID          string             `json:"tenant_id"`
	Name              string             `json:"model"`
	WorkflowID        string             `json:"workflow_id"`
	RunID             string             `json:"run_id"`
	Trigger           string             `json:"trigger"`
	RequestedBy       string             `json:"requested_by"`
	Outcome           string             `json:"outcome"`
	Reason            string             `json:"reason"`
	ChampionVersion   int                `json:"champion_version,omitempty"`
	ChallengerVersion int                `json:"challenger_version,omitempty"`
	Metrics           map[string]float64 `json:"metrics"`
	StartedAt         time.Time          `json:"started_at"`
	FinishedAt        time.Time          `json:"finished_at"`
}

const retrainColumns = `tenant_id, name, workflow_id, run_id, trigger, requested_by, outcome, reason,
	coalesce(champion_version, 0), coalesce(challenger_version, 0), metrics, started_at, finished_at`

// RecordRetrain stores the outcome of a run; recording it again replaces
// it.
func (s *Store) RecordRetrain(ctx context.Context, r Retrain) error {
	if r.Metrics == nil {
		r.Metrics = map[string]float64{}
	}
	_, err := s.DB.Pool.Exec(ctx, `
		INSERT INTO model_retrains (tenant_id, name, workflow_id, run_id, trigger, requested_by, outcome, reason,
			champion_version, challenger_version, metrics, started_at, finished_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, nullif($9, 0), nullif($10, 0), $11, $12, $13)
		ON CONFLICT (tenant_id, workflow_id, run_id) DO UPDATE SET outcome = excluded.outcome, reason = excluded.reason,
			champion_version = excluded.champion_version, challenger_version = excluded.challenger_version,
			metrics = excluded.metrics, finished_at = excluded.finished_at`,
		r.TenantID, r.Name, r.WorkflowID, r.RunID, r.Trigger, r.RequestedBy, r.Outcome, r.Reason,
		r.ChampionVersion, r.ChallengerVersion, r.Metrics, r.StartedAt, r.FinishedAt)
	if err != nil {
		return fmt.Errorf("mlops: record retraining of %s: %w", r.Name, err)
	}
	return nil
}

// Retrains returns the latest limit retraining outcomes of a model, newest
// first.
func (s *Store) Retrains(ctx context.Context, tenant, name string, limit int) ([]Retrain, error) {
	out := []Retrain{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+retrainColumns+` FROM model_retrains WHERE name = $1 ORDER BY finished_at DESC LIMIT $2`, name, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Retrain, error) {
			var x Retrain
			err := r.Scan(&x.TenantID, &x.Name, &x.WorkflowID, &x.RunID, &x.Trigger, &x.RequestedBy, &x.Outcome, &x.Reason,
				&x.ChampionVersion, &x.ChallengerVersion, &x.Metrics, &x.StartedAt, &x.FinishedAt)
			return x, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mlops: retraining outcomes of %s: %w", name, err)
	}
	return out, nil
}

// Policy is how one model is kept: its drift thresholds and its promotion
// rules. Defaults come from the configuration; a model's row in
// model_policies overrides them.
type Policy struct {
	Drift DriftPolicy `json:"drift"`
	// MinImprovement is how much better (in the evaluation's score) a
	// challenger must be to replace the champion.
	MinImprovement float64 `json:"min_improvement"`
	// RequireApproval holds a promotion until a person approves it;
	// without an answer within ApprovalTimeout the champion stays.
	RequireApproval bool          `json:"require_approval"`
	ApprovalTimeout time.Duration `json:"approval_timeout"`
	// BacktestDays is how many days of stored readings before the
	// retraining the challenger and the champion are replayed on;
	// Tolerance how much worse than the champion the challenger may be on
	// each measure of the evaluation (see Compare).
	BacktestDays int     `json:"backtest_days"`
	Tolerance    float64 `json:"tolerance"`
	// Watch is how a promoted champion is watched.
	Watch WatchPolicy `json:"watch"`
	// Overridden is true when the model has its own policy row.
	Overridden bool      `json:"overridden"`
	UpdatedBy  string    `json:"updated_by,omitempty"`
	UpdatedAt  time.Time `json:"updated_at,omitzero"`
}

// PolicyOverride is a model's own policy; nil fields take the defaults.
type PolicyOverride struct {
	RequireApproval bool           `json:"require_approval"`
	ApprovalTimeout *time.Duration `json:"-"`
	MinImprovement  *float64       `json:"min_improvement"`
	PSIThreshold    *float64       `json:"psi_threshold"`
	KSPValue        *float64       `json:"ks_pvalue"`
	MinFeatures     *int           `json:"min_features"`
	// Promotion holds the evaluation and watch overrides.
	Promotion PromotionOverride `json:"promotion"`
}

// PromotionOverride is a model's own evaluation and watch settings (the
// model_policies.promotion column); nil fields take the defaults.
type PromotionOverride struct {
	BacktestDays  *int           `json:"backtest_days,omitempty"`
	Tolerance     *float64       `json:"tolerance,omitempty"`
	WatchBand     *[2]float64    `json:"watch_band,omitempty"`
	WatchRatio    *float64       `json:"watch_ratio,omitempty"`
	WatchFor      *time.Duration `json:"watch_for,omitempty"`
	WatchDuration *time.Duration `json:"watch_duration,omitempty"`
	WatchEvery    *time.Duration `json:"watch_every,omitempty"`
	WatchDisabled bool           `json:"watch_disabled,omitempty"`
}

// apply sets p's fields from the overrides that are set.
func (o PromotionOverride) apply(p *Policy) {
	set := func(dst *time.Duration, v *time.Duration) {
		if v != nil {
			*dst = *v
		}
	}
	if o.BacktestDays != nil {
		p.BacktestDays = *o.BacktestDays
	}
	if o.Tolerance != nil {
		p.Tolerance = *o.Tolerance
	}
	if o.WatchBand != nil {
		b := *o.WatchBand
		p.Watch.Band = &b
	}
	if o.WatchRatio != nil {
		p.Watch.Ratio = *o.WatchRatio
	}
	set(&p.Watch.For, o.WatchFor)
	set(&p.Watch.Duration, o.WatchDuration)
	set(&p.Watch.Every, o.WatchEvery)
	p.Watch.Disabled = p.Watch.Disabled || o.WatchDisabled
}

// Policy returns the policy of a model: def with the model's overrides.
func (s *Store) Policy(ctx context.Context, tenant, name string, def Policy) (Policy, error) {
	p := def
	var timeout time.Duration
	var minImp, psi, ks *float64
	var minFeat *int
	var promo PromotionOverride
	err := s.DB.Pool.QueryRow(ctx, `
		SELECT require_approval, approval_timeout, min_improvement, psi_threshold, ks_pvalue, min_features, promotion, updated_by, updated_at
		FROM model_policies WHERE tenant_id = $1 AND name = $2`, tenant, name).
		Scan(&p.RequireApproval, &timeout, &minImp, &psi, &ks, &minFeat, &promo, &p.UpdatedBy, &p.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return def, nil
	}
	if err != nil {
		return def, fmt.Errorf("mlops: policy of %s: %w", name, err)
	}
	p.Overridden, p.ApprovalTimeout = true, timeout
	if minImp != nil {
		p.MinImprovement = *minImp
	}
	if psi != nil {
		p.Drift.PSIThreshold = *psi
	}
	if ks != nil {
		p.Drift.KSPValue = *ks
	}
	if minFeat != nil {
		p.Drift.MinFeatures = *minFeat
	}
	promo.apply(&p)
	return p, nil
}

// SetPolicy stores a model's own policy. The model must exist
// (store.ErrNotFound otherwise); bad values are store.ErrInvalid.
func (s *Store) SetPolicy(ctx context.Context, tenant, name string, o PolicyOverride, actor string) error {
	timeout := 24 * time.Hour
	if o.ApprovalTimeout != nil {
		timeout = *o.ApprovalTimeout
	}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM models WHERE name = $1)`, name).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("model %q: %w", name, store.ErrNotFound)
		}
		_, err := tx.Exec(ctx, `
			INSERT INTO model_policies (tenant_id, name, require_approval, approval_timeout, min_improvement, psi_threshold, ks_pvalue, min_features, promotion, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
			ON CONFLICT (tenant_id, name) DO UPDATE SET require_approval = excluded.require_approval,
				approval_timeout = excluded.approval_timeout, min_improvement = excluded.min_improvement,
				psi_threshold = excluded.psi_threshold, ks_pvalue = excluded.ks_pvalue, min_features = excluded.min_features,
				promotion = excluded.promotion, updated_by = excluded.updated_by, updated_at = now()`,
			tenant, name, o.RequireApproval, timeout, o.MinImprovement, o.PSIThreshold, o.KSPValue, o.MinFeatures, o.Promotion, actor)
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("mlops: %w", err)
		}
		return fmt.Errorf("mlops: set policy of %s: %w", name, mapCheck(err))
	}
	return nil
}
