package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Tenant is an organisation whose data is kept apart from every other's.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Asset is a monitored machine.
type Asset struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	Location  string         `json:"location"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Sensor is one measured quantity of an asset.
type Sensor struct {
	// Key is the compact id readings refer to; internal.
	Key       int64     `json:"-"`
	TenantID  string    `json:"-"`
	AssetID   string    `json:"asset_id"`
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Unit      string    `json:"unit"`
	MinValid  *float64  `json:"min_valid"`
	MaxValid  *float64  `json:"max_valid"`
	WarnLow   *float64  `json:"warn_low"`
	WarnHigh  *float64  `json:"warn_high"`
	AlarmLow  *float64  `json:"alarm_low"`
	AlarmHigh *float64  `json:"alarm_high"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Page bounds a listing: at most Limit rows with ids after After.
type Page struct {
	Limit int
	After string
}

// Size is the number of rows to read: Limit, or 100 when Limit is not
// within 1 to 1000.
func (p Page) Size() int {
	if p.Limit <= 0 || p.Limit > 1000 {
		return 100
	}
	return p.Limit
}

// EnsureTenant creates the tenant when missing (owner role; used by the
// admin CLI and dev bootstrap).
func (db *DB) EnsureTenant(ctx context.Context, id, name string) error {
	_, err := db.Pool.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, name)
	if err != nil {
		return fmt.Errorf("store: ensure tenant %q: %w", id, mapError(err))
	}
	return nil
}

// ListTenants returns every tenant (owner role; for schedules that fan out
// per tenant).
func (db *DB) ListTenants(ctx context.Context) ([]Tenant, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, name, created_at FROM tenants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: list tenants: %w", err)
	}
	ts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Tenant])
	if err != nil {
		return nil, fmt.Errorf("store: list tenants: %w", err)
	}
	return ts, nil
}

const assetColumns = `id, type, name, location, metadata, created_at, updated_at`

func scanAsset(row pgx.Row) (Asset, error) {
	var a Asset
	err := row.Scan(&a.ID, &a.Type, &a.Name, &a.Location, &a.Metadata, &a.CreatedAt, &a.UpdatedAt)
	return a, err
}

// CreateAsset inserts a; ErrConflict when the id is taken.
func (db *DB) CreateAsset(ctx context.Context, tenant string, a Asset) (Asset, error) {
	if a.Metadata == nil {
		a.Metadata = map[string]any{}
	}
	out, err := queryOne(ctx, db, tenant, scanAsset, `
			INSERT INTO assets (tenant_id, id, type, name, location, metadata)
			VALUES ($1, $2, $3, $4, $5, $6)
			RETURNING `+assetColumns, tenant, a.ID, a.Type, a.Name, a.Location, a.Metadata)
	if err != nil {
		return Asset{}, fmt.Errorf("store: create asset %q: %w", a.ID, mapError(err))
	}
	return out, nil
}

// UpdateAsset replaces the mutable fields of asset a.ID.
func (db *DB) UpdateAsset(ctx context.Context, tenant string, a Asset) (Asset, error) {
	if a.Metadata == nil {
		a.Metadata = map[string]any{}
	}
	out, err := queryOne(ctx, db, tenant, scanAsset, `
			UPDATE assets SET type = $2, name = $3, location = $4, metadata = $5, updated_at = now()
			WHERE id = $1
			RETURNING `+assetColumns, a.ID, a.Type, a.Name, a.Location, a.Metadata)
	return out, notFound(err, "asset", a.ID)
}

// GetAsset returns the asset with id.
func (db *DB) GetAsset(ctx context.Context, tenant, id string) (Asset, error) {
	out, err := queryOne(ctx, db, tenant, scanAsset, `SELECT `+assetColumns+` FROM assets WHERE id = $1`, id)
	return out, notFound(err, "asset", id)
}

// ListAssets returns assets ordered by id, optionally of one type.
func (db *DB) ListAssets(ctx context.Context, tenant, assetType string, p Page) ([]Asset, error) {
	out, err := queryAll(ctx, db, tenant, scanAsset, `
			SELECT `+assetColumns+` FROM assets
			WHERE id > $1 AND ($2 = '' OR type = $2)
			ORDER BY id LIMIT $3`, p.After, assetType, p.Size())
	if err != nil {
		return nil, fmt.Errorf("store: list assets: %w", err)
	}
	return out, nil
}

// DeleteAsset removes an asset, its sensors and their readings.
func (db *DB) DeleteAsset(ctx context.Context, tenant, id string) error {
	keys, err := db.sensorKeysOfAsset(ctx, tenant, id)
	if err != nil {
		return err
	}
	err = db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM assets WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return nil
	})
	if err := notFound(err, "asset", id); err != nil {
		return err
	}
	return db.purgeReadings(ctx, keys)
}

const sensorColumns = `key, tenant_id, asset_id, id, kind, unit, min_valid, max_valid, warn_low, warn_high, alarm_low, alarm_high, created_at, updated_at`

func scanSensor(row pgx.Row) (Sensor, error) {
	var s Sensor
	err := row.Scan(&s.Key, &s.TenantID, &s.AssetID, &s.ID, &s.Kind, &s.Unit, &s.MinValid, &s.MaxValid,
		&s.WarnLow, &s.WarnHigh, &s.AlarmLow, &s.AlarmHigh, &s.CreatedAt, &s.UpdatedAt)
	return s, err
}

// CreateSensor inserts s; ErrNotFound when its asset does not exist.
func (db *DB) CreateSensor(ctx context.Context, tenant string, s Sensor) (Sensor, error) {
	out, err := queryOne(ctx, db, tenant, scanSensor, `
			INSERT INTO sensors (tenant_id, asset_id, id, kind, unit, min_valid, max_valid, warn_low, warn_high, alarm_low, alarm_high)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			RETURNING `+sensorColumns,
		tenant, s.AssetID, s.ID, s.Kind, s.Unit, s.MinValid, s.MaxValid, s.WarnLow, s.WarnHigh, s.AlarmLow, s.AlarmHigh)
	if err != nil {
		return Sensor{}, fmt.Errorf("store: create sensor %s/%s: %w", s.AssetID, s.ID, mapError(err))
	}
	return out, nil
}

// UnitChangeError is returned by UpdateSensor for a change of unit under
// existing readings: they were validated, scored and stored in the old
// unit, and would silently read as the new one. It wraps ErrConflict.
type UnitChangeError struct {
	AssetID, SensorID string
	// From is the unit the readings are in; To the unit asked for.
	From, To string
}

func (e *UnitChangeError) Error() string {
	return fmt.Sprintf("store: sensor %s/%s has readings in %q; its unit cannot change to %q under them", e.AssetID, e.SensorID, e.From, e.To)
}

func (e *UnitChangeError) Unwrap() error { return ErrConflict }

// UpdateSensor replaces the mutable fields of sensor s.AssetID/s.ID. Its
// unit may change only while it has no readings (nor hourly rollups);
// otherwise the error is a *UnitChangeError and nothing changes.
func (db *DB) UpdateSensor(ctx context.Context, tenant string, s Sensor) (Sensor, error) {
	var out Sensor
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var key int64
		var unit string
		err := tx.QueryRow(ctx, `SELECT key, unit FROM sensors WHERE asset_id = $1 AND id = $2 FOR UPDATE`, s.AssetID, s.ID).Scan(&key, &unit)
		if err != nil {
			return err
		}
		if unit != s.Unit {
			var used bool
			err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM readings WHERE sensor_key = $1)
				OR EXISTS (SELECT 1 FROM readings_hourly WHERE sensor_key = $1)`, key).Scan(&used)
			if err != nil {
				return err
			}
			if used {
				return &UnitChangeError{AssetID: s.AssetID, SensorID: s.ID, From: unit, To: s.Unit}
			}
		}
		out, err = scanSensor(tx.QueryRow(ctx, `
			UPDATE sensors SET kind = $3, unit = $4, min_valid = $5, max_valid = $6,
				warn_low = $7, warn_high = $8, alarm_low = $9, alarm_high = $10, updated_at = now()
			WHERE asset_id = $1 AND id = $2
			RETURNING `+sensorColumns,
			s.AssetID, s.ID, s.Kind, s.Unit, s.MinValid, s.MaxValid, s.WarnLow, s.WarnHigh, s.AlarmLow, s.AlarmHigh))
		return err
	})
	var uc *UnitChangeError
	if errors.As(err, &uc) {
		return Sensor{}, err
	}
	return out, notFound(err, "sensor", s.AssetID+"/"+s.ID)
}

// GetSensor returns one sensor of an asset.
func (db *DB) GetSensor(ctx context.Context, tenant, assetID, id string) (Sensor, error) {
	out, err := queryOne(ctx, db, tenant, scanSensor, `SELECT `+sensorColumns+` FROM sensors WHERE asset_id = $1 AND id = $2`, assetID, id)
	return out, notFound(err, "sensor", assetID+"/"+id)
}

// ListSensors returns the sensors of an asset ordered by id.
func (db *DB) ListSensors(ctx context.Context, tenant, assetID string) ([]Sensor, error) {
	out, err := queryAll(ctx, db, tenant, scanSensor, `SELECT `+sensorColumns+` FROM sensors WHERE asset_id = $1 ORDER BY id`, assetID)
	if err != nil {
		return nil, fmt.Errorf("store: list sensors of %q: %w", assetID, err)
	}
	return out, nil
}

// DeleteSensor removes a sensor and its readings.
func (db *DB) DeleteSensor(ctx context.Context, tenant, assetID, id string) error {
	var key int64
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `DELETE FROM sensors WHERE asset_id = $1 AND id = $2 RETURNING key`, assetID, id).Scan(&key)
	})
	if err := notFound(err, "sensor", assetID+"/"+id); err != nil {
		return err
	}
	return db.purgeReadings(ctx, []int64{key})
}

// SensorsOfTenant returns every sensor of a tenant (owner role; used to fill
// the ingest cache).
func (db *DB) SensorsOfTenant(ctx context.Context, tenant string) ([]Sensor, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+sensorColumns+` FROM sensors WHERE tenant_id = $1`, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: sensors of tenant %q: %w", tenant, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sensor, error) { return scanSensor(r) })
	if err != nil {
		return nil, fmt.Errorf("store: sensors of tenant %q: %w", tenant, err)
	}
	return out, nil
}

func (db *DB) sensorKeysOfAsset(ctx context.Context, tenant, assetID string) ([]int64, error) {
	var keys []int64
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT key FROM sensors WHERE asset_id = $1`, assetID)
		if err != nil {
			return err
		}
		keys, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: sensors of asset %q: %w", assetID, err)
	}
	return keys, nil
}

// purgeReadings deletes the readings and rollups of deleted sensors. It runs
// as the owner because smartmaint_app may only read readings.
func (db *DB) purgeReadings(ctx context.Context, keys []int64) error {
	if len(keys) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue(`DELETE FROM readings WHERE sensor_key = ANY($1)`, keys)
	b.Queue(`DELETE FROM readings_hourly WHERE sensor_key = ANY($1)`, keys)
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store: purge readings: %w", err)
	}
	return nil
}

// notFound wraps err, turning "no rows" into ErrNotFound naming the object.
func notFound(err error, kind, id string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: %s %q: %w", kind, id, ErrNotFound)
	}
	return fmt.Errorf("store: %s %q: %w", kind, id, mapError(err))
}

// NotFound is notFound for the repositories outside this package: err
// wrapped as "store: kind "id": ...", no rows becoming ErrNotFound and
// constraint errors mapped by MapError.
func NotFound(err error, kind, id string) error { return notFound(err, kind, id) }

// GetByID runs query (one uuid parameter) in tenant and scans its row: the
// lookup every repository of uuid-keyed rows shares. A malformed id is simply
// not found.
func GetByID[T any](ctx context.Context, db *DB, tenant, kind, id, query string, scan func(pgx.Row) (T, error)) (T, error) {
	var out T
	if uuid.Validate(id) != nil {
		return out, fmt.Errorf("store: %s %q: %w", kind, id, ErrNotFound)
	}
	out, err := queryOne(ctx, db, tenant, scan, query, id)
	return out, notFound(err, kind, id)
}

// queryOne runs query with args in tenant and scans its row.
func queryOne[T any](ctx context.Context, db *DB, tenant string, scan func(pgx.Row) (T, error), query string, args ...any) (T, error) {
	var out T
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = scan(tx.QueryRow(ctx, query, args...))
		return err
	})
	return out, err
}

// queryAll runs query with args in tenant and scans all its rows, an empty
// slice rather than nil when there are none.
func queryAll[T any](ctx context.Context, db *DB, tenant string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	out := []T{}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = Collect(ctx, tx, scan, query, args...)
		return err
	})
	return out, err
}

// Querier is what Collect runs its query on: a pgx.Tx, or the pool
// (DB.Pool) for the owner role's reads across tenants.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Collect runs query with args in tx and scans all its rows with scan, an
// empty slice rather than nil when there are none: the listing every
// repository's tenant transaction (or cross-tenant read) shares.
func Collect[T any](ctx context.Context, tx Querier, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
}

// DeleteByID runs the DELETE statement (one uuid parameter) in tenant;
// ErrNotFound when it removed nothing, ErrConflict when other rows still
// refer to it.
func DeleteByID(ctx context.Context, db *DB, tenant, kind, id, statement string) error {
	if uuid.Validate(id) != nil {
		return fmt.Errorf("store: %s %q: %w", kind, id, ErrNotFound)
	}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, statement, id)
		if err == nil && tag.RowsAffected() == 0 {
			return pgx.ErrNoRows
		}
		return err
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation: still referenced
		return fmt.Errorf("store: %s %q is still in use: %w", kind, id, ErrConflict)
	}
	return notFound(err, kind, id)
}
