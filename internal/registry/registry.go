// Package registry keeps trained models: numbered versions per model name
// with their parameters, metrics, training data reference and lineage;
// the aliases champion and challenger that say which version serves; and
// the append-only history of every alias move, so "which version was live
// at time T" is answerable (AliasAt).
//
// Artifacts — the encoded models — live in an artifact.Store (a folder or
// S3), content-addressed and verified on every load. The tables live in
// PostgreSQL with row-level security per tenant. Promote publishes a Change
// on Redis so every Loader swaps in the new version within moments; Loaders
// also poll, so a promotion is noticed even while Redis is away.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
)

// The aliases a version can hold.
const (
	Champion   = "champion"
	Challenger = "challenger"
)

// Aliases lists the valid aliases.
var Aliases = []string{Champion, Challenger}

// DefaultChannel is the Redis channel promotions are announced on.
const DefaultChannel = "smartmaint:models"

// Errors beyond store.ErrNotFound (unknown model, version or alias) and
// store.ErrInvalid (bad input), which the registry wraps as well.
var (
	// ErrAliasUnchanged means the version already holds the alias.
	ErrAliasUnchanged error = conflict("registry: the version already holds this alias")
	// ErrNotEligible means the version cannot take an alias: its artifact is
	// missing or fails verification.
	ErrNotEligible error = conflict("registry: the version is not eligible")
)

// conflict is an error that also matches store.ErrConflict, so handlers map
// it to 409 without knowing the registry.
type conflict string

func (e conflict) Error() string        { return string(e) }
func (e conflict) Is(target error) bool { return target == store.ErrConflict }
func invalid(format string, a ...any) error {
	return fmt.Errorf("registry: %s: %w", fmt.Sprintf(format, a...), store.ErrInvalid)
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ValidName reports whether name can name a model.
func ValidName(name string) bool { return namePattern.MatchString(name) }

// ValidAlias reports whether alias is one of Aliases.
func ValidAlias(alias string) bool { return slices.Contains(Aliases, alias) }

// Version is one trained model.
type Version struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
	// Version counts from 1 per model name.
	Version int `json:"version"`
	// Kind names the model family and format, e.g. "iforest" or "gbdt".
	Kind string `json:"kind"`
	// Params are the hyperparameters the version was trained with.
	Params map[string]any `json:"params"`
	// Metrics are evaluation results, e.g. {"auc": 0.97, "f1": 0.81}.
	Metrics map[string]float64 `json:"metrics"`
	// Features are the input feature names, in the model's order.
	Features []string `json:"features"`
	// TrainingData says what the version was trained on (a dataset path, a
	// query and time window); TrainingDataSHA256 pins its content.
	TrainingData       string `json:"training_data"`
	TrainingDataSHA256 string `json:"training_data_sha256,omitempty"`
	// Parent is the version this one was retrained from; 0 for none.
	Parent   int          `json:"parent_version,omitempty"`
	Artifact artifact.Ref `json:"artifact"`
	// Note is what the uploader said about the version; often empty.
	Note      string    `json:"note,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// NewVersion describes a version to register.
type NewVersion struct {
	Name               string
	Kind               string
	Params             map[string]any
	Metrics            map[string]float64
	Features           []string
	TrainingData       string
	TrainingDataSHA256 string
	// Parent is the version this one was retrained from; 0 for none.
	Parent int
	// CreatedBy names who or what trained it, e.g. "retrain-workflow".
	CreatedBy string
	// Note is a free-text remark kept with the version, at most MaxNote
	// bytes.
	Note string
}

// MaxNote is the longest note a version may carry, in bytes.
const MaxNote = 2000

func (n NewVersion) validate() error {
	switch {
	case !ValidName(n.Name):
		return invalid("model name %q: want 1 to 128 letters, digits and . _ : - starting with a letter or digit", n.Name)
	case n.Kind == "":
		return invalid("model %q: kind is required", n.Name)
	case n.CreatedBy == "":
		return invalid("model %q: created_by is required", n.Name)
	case n.Parent < 0:
		return invalid("model %q: parent version %d is negative", n.Name, n.Parent)
	case len(n.Note) > MaxNote:
		return invalid("model %q: the note has %d bytes, at most %d are kept", n.Name, len(n.Note), MaxNote)
	}
	for k, v := range n.Metrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid("model %q: metric %q is %v; metrics must be finite", n.Name, k, v)
		}
	}
	return nil
}

// Model is a model name with its newest version and current aliases.
type Model struct {
	Name          string         `json:"name"`
	LatestVersion int            `json:"latest_version"`
	Aliases       map[string]int `json:"aliases"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

// AliasEvent is one alias move. From is 0 when the alias was first set, To
// is 0 when it was removed.
type AliasEvent struct {
	ID     int64     `json:"id"`
	Name   string    `json:"name"`
	Alias  string    `json:"alias"`
	From   int       `json:"from_version,omitempty"`
	To     int       `json:"to_version,omitempty"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// Change is the notification published on the channel after an alias move.
type Change struct {
	Tenant  string `json:"tenant"`
	Name    string `json:"name"`
	Alias   string `json:"alias"`
	Version int    `json:"version"`
}

// Options configure a Registry.
type Options struct {
	// Redis carries change notifications; nil leaves Loaders to polling.
	Redis *redis.Client
	// Channel is the Redis channel; DefaultChannel when empty.
	Channel string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Registry is the model registry of every tenant.
type Registry struct {
	db        *store.DB
	artifacts artifact.Store
	redis     *redis.Client
	channel   string
	log       *slog.Logger
}

// New returns a Registry keeping records in db and artifacts in artifacts.
func New(db *store.DB, artifacts artifact.Store, opts Options) *Registry {
	r := &Registry{db: db, artifacts: artifacts, redis: opts.Redis, channel: opts.Channel, log: opts.Logger}
	if r.channel == "" {
		r.channel = DefaultChannel
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// Artifacts is the store holding the registry's artifacts.
func (r *Registry) Artifacts() artifact.Store { return r.artifacts }

// Create stores data as the artifact of a new version of spec.Name (the
// model is created with its first version) and returns the version.
//
// The artifact is written first, content-addressed; if recording the
// version then fails, the orphaned object is harmless and reused when the
// same bytes are registered again.
func (r *Registry) Create(ctx context.Context, tenant string, spec NewVersion, data []byte) (Version, error) {
	if err := spec.validate(); err != nil {
		return Version{}, err
	}
	if len(data) == 0 {
		return Version{}, invalid("model %q: the artifact is empty", spec.Name)
	}
	ref, err := artifact.Save(ctx, r.artifacts, tenant+"/"+spec.Name, data)
	if err != nil {
		return Version{}, fmt.Errorf("registry: %w", err)
	}
	params, metrics, features := spec.Params, spec.Metrics, spec.Features
	if params == nil {
		params = map[string]any{}
	}
	if metrics == nil {
		metrics = map[string]float64{}
	}
	if features == nil {
		features = []string{}
	}
	var v Version
	err = r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var next int
		// Allocates the number and locks the model until commit.
		if err := tx.QueryRow(ctx, `
			INSERT INTO models (tenant_id, name, latest_version) VALUES ($1, $2, 1)
			ON CONFLICT (tenant_id, name) DO UPDATE SET latest_version = models.latest_version + 1, updated_at = now()
			RETURNING latest_version`, tenant, spec.Name).Scan(&next); err != nil {
			return err
		}
		if spec.Parent > 0 {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM model_versions WHERE name = $1 AND version = $2)`, spec.Name, spec.Parent).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("registry: parent version %d of model %q does not exist: %w", spec.Parent, spec.Name, store.ErrNotFound)
			}
		}
		var err error
		v, err = scanVersion(tx.QueryRow(ctx, `
			INSERT INTO model_versions (tenant_id, name, version, kind, params, metrics, features, training_data, training_data_sha256,
				parent_version, artifact_key, artifact_uri, artifact_size, artifact_sha256, created_by, note)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, nullif($10, 0), $11, $12, $13, $14, $15, $16)
			RETURNING `+versionColumns,
			tenant, spec.Name, next, spec.Kind, params, metrics, features, spec.TrainingData, spec.TrainingDataSHA256,
			spec.Parent, ref.Key, ref.URI, ref.Size, ref.SHA256, spec.CreatedBy, spec.Note))
		return err
	})
	if err != nil {
		return Version{}, fmt.Errorf("registry: create version of %q: %w", spec.Name, mapError(err))
	}
	return v, nil
}

const versionColumns = `tenant_id, name, version, kind, params, metrics, features, training_data, training_data_sha256,
	coalesce(parent_version, 0), artifact_key, artifact_uri, artifact_size, artifact_sha256, note, created_by, created_at`

func scanVersion(row pgx.Row) (Version, error) {
	var v Version
	err := row.Scan(&v.TenantID, &v.Name, &v.Version, &v.Kind, &v.Params, &v.Metrics, &v.Features, &v.TrainingData, &v.TrainingDataSHA256,
		&v.Parent, &v.Artifact.Key, &v.Artifact.URI, &v.Artifact.Size, &v.Artifact.SHA256, &v.Note, &v.CreatedBy, &v.CreatedAt)
	return v, err
}

// Version returns one version; store.ErrNotFound names whether the model or
// the version is unknown.
func (r *Registry) Version(ctx context.Context, tenant, name string, version int) (Version, error) {
	var v Version
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		v, err = versionIn(ctx, tx, name, version)
		return err
	})
	return v, err
}

func versionIn(ctx context.Context, tx pgx.Tx, name string, version int) (Version, error) {
	v, err := scanVersion(tx.QueryRow(ctx, `SELECT `+versionColumns+` FROM model_versions WHERE name = $1 AND version = $2`, name, version))
	if errors.Is(err, pgx.ErrNoRows) {
		if err := modelExists(ctx, tx, name); err != nil {
			return Version{}, err
		}
		return Version{}, fmt.Errorf("registry: model %q has no version %d: %w", name, version, store.ErrNotFound)
	}
	if err != nil {
		return Version{}, fmt.Errorf("registry: version %d of %q: %w", version, name, err)
	}
	return v, nil
}

func modelExists(ctx context.Context, tx pgx.Tx, name string) error {
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM models WHERE name = $1)`, name).Scan(&ok); err != nil {
		return fmt.Errorf("registry: model %q: %w", name, err)
	}
	if !ok {
		return fmt.Errorf("registry: no model named %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// Versions returns up to limit versions of name, newest first, older than
// before (0: from the newest). limit is clamped to 1…1000 (100 when 0).
func (r *Registry) Versions(ctx context.Context, tenant, name string, limit, before int) ([]Version, error) {
	out, err := list(ctx, r, tenant, name, scanVersion, `
		SELECT `+versionColumns+` FROM model_versions
		WHERE name = $1 AND ($2 = 0 OR version < $2)
		ORDER BY version DESC LIMIT $3`, name, before, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("registry: versions of %q: %w", name, err)
	}
	return out, nil
}

func clampLimit(limit int) int {
	if limit <= 0 || limit > 1000 {
		return 100
	}
	return limit
}

// list runs a query in tenant's transaction and scans every row; when name
// is set, an unknown model is store.ErrNotFound rather than an empty list.
func list[T any](ctx context.Context, r *Registry, tenant, name string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	out := []T{}
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		if name != "" {
			if err := modelExists(ctx, tx, name); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
		return err
	})
	return out, err
}

const modelQuery = `
	SELECT m.name, m.latest_version, m.created_at, m.updated_at,
	       coalesce(jsonb_object_agg(a.alias, a.version) FILTER (WHERE a.alias IS NOT NULL), '{}')
	FROM models m LEFT JOIN model_aliases a USING (tenant_id, name)`

func scanModel(row pgx.Row) (Model, error) {
	var m Model
	err := row.Scan(&m.Name, &m.LatestVersion, &m.CreatedAt, &m.UpdatedAt, &m.Aliases)
	return m, err
}

// Models returns the tenant's models by name, with their aliases.
func (r *Registry) Models(ctx context.Context, tenant string) ([]Model, error) {
	out, err := list(ctx, r, tenant, "", scanModel, modelQuery+` GROUP BY m.tenant_id, m.name ORDER BY m.name`)
	if err != nil {
		return nil, fmt.Errorf("registry: list models: %w", err)
	}
	return out, nil
}

// Model returns one model with its aliases.
func (r *Registry) Model(ctx context.Context, tenant, name string) (Model, error) {
	var m Model
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		m, err = scanModel(tx.QueryRow(ctx, modelQuery+` WHERE m.name = $1 GROUP BY m.tenant_id, m.name`, name))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Model{}, fmt.Errorf("registry: no model named %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return Model{}, fmt.Errorf("registry: model %q: %w", name, err)
	}
	return m, nil
}

// Resolve returns the version holding alias.
func (r *Registry) Resolve(ctx context.Context, tenant, name, alias string) (Version, error) {
	var v Version
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		v, err = scanVersion(tx.QueryRow(ctx, `
			SELECT `+versionColumns+` FROM model_versions
			WHERE (name, version) = (SELECT name, version FROM model_aliases WHERE name = $1 AND alias = $2)`, name, alias))
		if errors.Is(err, pgx.ErrNoRows) {
			if err := modelExists(ctx, tx, name); err != nil {
				return err
			}
			return fmt.Errorf("registry: model %q has no %s: %w", name, alias, store.ErrNotFound)
		}
		return err
	})
	return v, err
}

// Promotion asks to move an alias to a version.
type Promotion struct {
	Name    string
	Alias   string
	Version int
	// Actor is who asks (an API key, a workflow); Reason why. Both required.
	Actor  string
	Reason string
}

// Promote moves p.Alias to p.Version, records the move and announces it.
// The version's artifact is loaded and verified first: a version whose
// artifact is missing or corrupt gets ErrNotEligible and the alias stays.
// Moving an alias to the version it already names is ErrAliasUnchanged.
func (r *Registry) Promote(ctx context.Context, tenant string, p Promotion) (AliasEvent, error) {
	switch {
	case !ValidAlias(p.Alias):
		return AliasEvent{}, invalid("alias %q: want one of %v", p.Alias, Aliases)
	case p.Version < 1:
		return AliasEvent{}, invalid("version %d: versions count from 1", p.Version)
	case p.Actor == "":
		return AliasEvent{}, invalid("promotion needs an actor")
	case p.Reason == "":
		return AliasEvent{}, invalid("promotion needs a reason")
	}
	var v Version
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		if v, err = versionIn(ctx, tx, p.Name, p.Version); err != nil {
			return err
		}
		_, err = aliasTarget(ctx, tx, p.Name, p.Alias, p.Version)
		return err
	})
	if err != nil {
		return AliasEvent{}, err
	}
	// Outside the transaction: a download must not hold the model's lock.
	if err := r.verifyEligible(ctx, v); err != nil {
		return AliasEvent{}, err
	}
	return r.moveAlias(ctx, tenant, p.Name, p.Alias, p.Version, p.Actor, p.Reason, nil)
}

// verifyEligible loads and verifies v's artifact: ErrNotEligible when it is
// missing or corrupt.
func (r *Registry) verifyEligible(ctx context.Context, v Version) error {
	if _, err := artifact.Load(ctx, r.artifacts, v.Artifact); err != nil {
		if errors.Is(err, artifact.ErrChecksum) || errors.Is(err, artifact.ErrNotFound) {
			return fmt.Errorf("%w: %w", ErrNotEligible, err)
		}
		return fmt.Errorf("registry: verify artifact of %q version %d: %w", v.Name, v.Version, err)
	}
	return nil
}

// RemoveAlias unsets alias on name, recording who and why.
func (r *Registry) RemoveAlias(ctx context.Context, tenant, name, alias, actor, reason string) (AliasEvent, error) {
	switch {
	case !ValidAlias(alias):
		return AliasEvent{}, invalid("alias %q: want one of %v", alias, Aliases)
	case actor == "" || reason == "":
		return AliasEvent{}, invalid("removing an alias needs an actor and a reason")
	}
	return r.moveAlias(ctx, tenant, name, alias, 0, actor, reason, nil)
}

// aliasTarget returns the version alias names (0 when unset); it fails with
// ErrAliasUnchanged when that is already to.
func aliasTarget(ctx context.Context, tx pgx.Tx, name, alias string, to int) (int, error) {
	var from int
	err := tx.QueryRow(ctx, `SELECT version FROM model_aliases WHERE name = $1 AND alias = $2`, name, alias).Scan(&from)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("registry: alias %s of %q: %w", alias, name, err)
	}
	if from == to {
		if to == 0 {
			return 0, fmt.Errorf("registry: model %q has no %s: %w", name, alias, store.ErrNotFound)
		}
		return 0, fmt.Errorf("%w: %s of %q is version %d", ErrAliasUnchanged, alias, name, to)
	}
	return from, nil
}

// moveAlias points alias at version to (0 removes it) and appends the event,
// under the model's row lock so concurrent moves serialise. check, when not
// nil, runs under that lock before the move and can refuse it.
func (r *Registry) moveAlias(ctx context.Context, tenant, name, alias string, to int, actor, reason string, check func(pgx.Tx) error) (AliasEvent, error) {
	var ev AliasEvent
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var latest int
		err := tx.QueryRow(ctx, `SELECT latest_version FROM models WHERE name = $1 FOR UPDATE`, name).Scan(&latest)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("registry: no model named %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		from, err := aliasTarget(ctx, tx, name, alias, to)
		if err != nil {
			return err
		}
		if to == 0 {
			_, err = tx.Exec(ctx, `DELETE FROM model_aliases WHERE name = $1 AND alias = $2`, name, alias)
		} else {
			_, err = tx.Exec(ctx, `
				INSERT INTO model_aliases (tenant_id, name, alias, version, updated_by) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (tenant_id, name, alias) DO UPDATE SET version = EXCLUDED.version, updated_by = EXCLUDED.updated_by, updated_at = now()`,
				tenant, name, alias, to, actor)
		}
		if err != nil {
			return err
		}
		ev, err = scanEvent(tx.QueryRow(ctx, `
			INSERT INTO model_alias_events (tenant_id, name, alias, from_version, to_version, actor, reason)
			VALUES ($1, $2, $3, nullif($4, 0), nullif($5, 0), $6, $7)
			RETURNING `+eventColumns, tenant, name, alias, from, to, actor, reason))
		return err
	})
	if err != nil {
		return AliasEvent{}, fmt.Errorf("registry: move %s of %q: %w", alias, name, mapError(err))
	}
	r.log.InfoContext(ctx, "model alias moved", "tenant", tenant, "model", name, "alias", alias,
		"from", ev.From, "to", ev.To, "actor", actor, "reason", reason)
	r.publish(ctx, Change{Tenant: tenant, Name: name, Alias: alias, Version: to})
	return ev, nil
}

const eventColumns = `id, name, alias, coalesce(from_version, 0), coalesce(to_version, 0), actor, reason, at`

func scanEvent(row pgx.Row) (AliasEvent, error) {
	var e AliasEvent
	err := row.Scan(&e.ID, &e.Name, &e.Alias, &e.From, &e.To, &e.Actor, &e.Reason, &e.At)
	return e, err
}

// publish announces c; failure is logged, not returned: Loaders poll too.
func (r *Registry) publish(ctx context.Context, c Change) {
	if r.redis == nil {
		return
	}
	payload, _ := json.Marshal(c)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := r.redis.Publish(ctx, r.channel, payload).Err(); err != nil {
		r.log.WarnContext(ctx, "announce model change; loaders will notice it when they next poll", "channel", r.channel, "error", err)
	}
}

// AliasHistory returns up to limit alias moves of name, newest first
// (limit clamped to 1…1000, 100 when 0).
func (r *Registry) AliasHistory(ctx context.Context, tenant, name string, limit int) ([]AliasEvent, error) {
	out, err := list(ctx, r, tenant, name, scanEvent,
		`SELECT `+eventColumns+` FROM model_alias_events WHERE name = $1 ORDER BY id DESC LIMIT $2`, name, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("registry: alias history of %q: %w", name, err)
	}
	return out, nil
}

// AliasAt returns the version that held alias at time t: the target of the
// last move at or before t. store.ErrNotFound when the alias was unset then.
func (r *Registry) AliasAt(ctx context.Context, tenant, name, alias string, t time.Time) (Version, error) {
	var v Version
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var to *int
		err := tx.QueryRow(ctx, `
			SELECT to_version FROM model_alias_events
			WHERE name = $1 AND alias = $2 AND at <= $3
			ORDER BY id DESC LIMIT 1`, name, alias, t).Scan(&to)
		if errors.Is(err, pgx.ErrNoRows) || err == nil && to == nil {
			if err := modelExists(ctx, tx, name); err != nil {
				return err
			}
			return fmt.Errorf("registry: model %q had no %s at %s: %w", name, alias, t.Format(time.RFC3339Nano), store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		v, err = versionIn(ctx, tx, name, *to)
		return err
	})
	return v, err
}

// Load returns v's artifact, verified against its recorded size and SHA-256.
func (r *Registry) Load(ctx context.Context, v Version) ([]byte, error) {
	data, err := artifact.Load(ctx, r.artifacts, v.Artifact)
	if err != nil {
		return nil, fmt.Errorf("registry: %s version %d: %w", v.Name, v.Version, err)
	}
	return data, nil
}

// aliased returns, across every tenant, the versions holding alias, of kind
// when kind is not empty. It runs as the owner role: Loaders serve all
// tenants.
func (r *Registry) aliased(ctx context.Context, alias, kind string) ([]Version, error) {
	rows, err := r.db.Pool.Query(ctx, `
		SELECT `+versionColumns+` FROM model_versions
		WHERE (tenant_id, name, version) IN (SELECT tenant_id, name, version FROM model_aliases WHERE alias = $1)
		  AND ($2 = '' OR kind = $2)`, alias, kind)
	if err != nil {
		return nil, fmt.Errorf("registry: versions with alias %s: %w", alias, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Version, error) { return scanVersion(r) })
	if err != nil {
		return nil, fmt.Errorf("registry: versions with alias %s: %w", alias, err)
	}
	return out, nil
}

// mapError turns foreign-key and check violations into store errors.
func mapError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "23503": // foreign_key_violation: unknown tenant
		return fmt.Errorf("%w: %s", store.ErrNotFound, pgErr.Detail)
	case "23514", "23502", "22P02": // check, not null, bad text representation
		return fmt.Errorf("%w: %s", store.ErrInvalid, pgErr.Message)
	}
	return err
}

// AddMetrics merges metrics into a version's recorded metrics (later
// evaluations, such as a retraining's comparison with the champion);
// existing keys are overwritten. It runs as the owner: versions are
// otherwise immutable to the API's role. An unknown version is
// store.ErrNotFound.
func (r *Registry) AddMetrics(ctx context.Context, tenant, name string, version int, metrics map[string]float64) error {
	tag, err := r.db.Pool.Exec(ctx, `
		UPDATE model_versions SET metrics = metrics || $4::jsonb
		WHERE tenant_id = $1 AND name = $2 AND version = $3`, tenant, name, version, metrics)
	if err != nil {
		return fmt.Errorf("registry: add metrics to %s v%d: %w", name, version, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("registry: %s v%d: %w", name, version, store.ErrNotFound)
	}
	return nil
}
