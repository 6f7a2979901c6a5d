package binding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Store keeps bindings in the model_bindings table, tenant by tenant under
// row-level security; All reads every tenant's, for the Cache.
type Store struct {
	DB *store.DB
}

const columns = `tenant_id, asset_type, kind, model, features, threshold, updated_by, created_at, updated_at`

func scan(row pgx.Row) (Binding, error) {
	var b Binding
	var kind string
	var features []byte
	err := row.Scan(&b.TenantID, &b.AssetType, &kind, &b.Model, &features, &b.Threshold, &b.UpdatedBy, &b.CreatedAt, &b.UpdatedAt)
	if err != nil {
		return Binding{}, err
	}
	b.Kind = modelkind.Kind(kind)
	if err := json.Unmarshal(features, &b.Features); err != nil {
		return Binding{}, fmt.Errorf("features of %s/%s: %w", b.AssetType, kind, err)
	}
	if b.Features == nil {
		b.Features = map[string]string{}
	}
	return b, nil
}

// Put stores b (replacing the binding of its asset type and kind) and
// returns it as stored. The model must be registered:
// store.ErrNotFound otherwise; a threshold that is not positive is
// store.ErrInvalid.
func (s *Store) Put(ctx context.Context, b Binding) (Binding, error) {
	if !b.Kind.Valid() {
		return Binding{}, fmt.Errorf("binding: put: %w: kind %q", store.ErrInvalid, b.Kind)
	}
	if b.Features == nil {
		b.Features = map[string]string{}
	}
	features, err := json.Marshal(b.Features)
	if err != nil {
		return Binding{}, fmt.Errorf("binding: put: %w", err)
	}
	var out Binding
	err = s.DB.InTenant(ctx, b.TenantID, func(tx pgx.Tx) error {
		var err error
		out, err = scan(tx.QueryRow(ctx, `
			INSERT INTO model_bindings (tenant_id, asset_type, kind, model, features, threshold, updated_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant_id, asset_type, kind) DO UPDATE
			SET model = excluded.model, features = excluded.features, threshold = excluded.threshold,
			    updated_by = excluded.updated_by, updated_at = now()
			RETURNING `+columns,
			b.TenantID, b.AssetType, string(b.Kind), b.Model, features, b.Threshold, b.UpdatedBy))
		return err
	})
	if err != nil {
		return Binding{}, fmt.Errorf("binding: put %s/%s: %w", b.AssetType, b.Kind, store.MapError(err))
	}
	return out, nil
}

// Get returns the stored binding of assetType and kind; store.ErrNotFound
// when there is none (see Default).
func (s *Store) Get(ctx context.Context, tenant, assetType string, kind modelkind.Kind) (Binding, error) {
	var out Binding
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = scan(tx.QueryRow(ctx, `SELECT `+columns+` FROM model_bindings WHERE asset_type = $1 AND kind = $2`, assetType, string(kind)))
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Binding{}, fmt.Errorf("binding: no %s binding for asset type %q: %w", kind, assetType, store.ErrNotFound)
	}
	if err != nil {
		return Binding{}, fmt.Errorf("binding: get %s/%s: %w", assetType, kind, err)
	}
	return out, nil
}

// List returns the stored bindings of assetType (every asset type when
// empty), by asset type and kind.
func (s *Store) List(ctx context.Context, tenant, assetType string) ([]Binding, error) {
	var out []Binding
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = store.Collect(ctx, tx, scan, `SELECT `+columns+` FROM model_bindings WHERE $1 = '' OR asset_type = $1 ORDER BY asset_type, kind`, assetType)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("binding: list %q: %w", assetType, err)
	}
	return out, nil
}

// Delete removes the binding of assetType and kind; store.ErrNotFound when
// there is none.
func (s *Store) Delete(ctx context.Context, tenant, assetType string, kind modelkind.Kind) error {
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM model_bindings WHERE asset_type = $1 AND kind = $2`, assetType, string(kind))
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("no %s binding for asset type %q: %w", kind, assetType, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("binding: delete %s/%s: %w", assetType, kind, err)
	}
	return nil
}

// All returns every tenant's bindings. It runs as the owner role, past
// row-level security: the Cache serves every tenant.
func (s *Store) All(ctx context.Context) ([]Binding, error) {
	out, err := store.Collect(ctx, s.DB.Pool, scan, `SELECT `+columns+` FROM model_bindings`)
	if err != nil {
		return nil, fmt.Errorf("binding: all: %w", err)
	}
	return out, nil
}
