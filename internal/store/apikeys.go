package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/apikey"
)

// APIKey is a stored key; the secret itself is never stored.
type APIKey struct {
	ID         string         `json:"id"`
	TenantID   string         `json:"tenant_id"`
	Name       string         `json:"name"`
	Prefix     string         `json:"prefix"`
	SecretHash []byte         `json:"-"`
	Scopes     []apikey.Scope `json:"scopes"`
	CreatedAt  time.Time      `json:"created_at"`
	ExpiresAt  *time.Time     `json:"expires_at,omitempty"`
	RevokedAt  *time.Time     `json:"revoked_at,omitempty"`
	LastUsedAt *time.Time     `json:"last_used_at,omitempty"`
}

// Active reports whether the key may be used at now.
func (k APIKey) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

const apiKeyColumns = `id, tenant_id, name, prefix, secret_hash, scopes, created_at, expires_at, revoked_at, last_used_at`

func scanAPIKey(row pgx.Row) (APIKey, error) {
	var k APIKey
	var scopes []string
	err := row.Scan(&k.ID, &k.TenantID, &k.Name, &k.Prefix, &k.SecretHash, &scopes, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt)
	for _, s := range scopes {
		k.Scopes = append(k.Scopes, apikey.Scope(s))
	}
	return k, err
}

// CreateAPIKey stores a key for tenant (owner role: keys are made by admins
// and the CLI) and returns the record; the plaintext is the caller's to show.
func (db *DB) CreateAPIKey(ctx context.Context, tenant, name, prefix string, hash []byte, scopes []apikey.Scope, expires *time.Time) (APIKey, error) {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	k, err := scanAPIKey(db.Pool.QueryRow(ctx, `
		INSERT INTO api_keys (tenant_id, name, prefix, secret_hash, scopes, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+apiKeyColumns, tenant, name, prefix, hash, names, expires))
	if err != nil {
		return APIKey{}, fmt.Errorf("store: create api key: %w", mapError(err))
	}
	return k, nil
}

// APIKeyByPrefix looks a key up for authentication (owner role: the tenant
// is not known until the key is found).
func (db *DB) APIKeyByPrefix(ctx context.Context, prefix string) (APIKey, error) {
	k, err := scanAPIKey(db.Pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, ErrNotFound
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("store: api key lookup: %w", err)
	}
	return k, nil
}

// ListAPIKeys returns the keys of tenant, or of every tenant when tenant is "".
func (db *DB) ListAPIKeys(ctx context.Context, tenant string) ([]APIKey, error) {
	keys, err := Collect(ctx, db.Pool, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE $1 = '' OR tenant_id = $1 ORDER BY tenant_id, created_at`, tenant)
	if err != nil {
		return nil, fmt.Errorf("store: list api keys: %w", err)
	}
	return keys, nil
}

// RevokeAPIKey marks the key with the given prefix revoked.
func (db *DB) RevokeAPIKey(ctx context.Context, prefix string) error {
	tag, err := db.Pool.Exec(ctx, `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = $1`, prefix)
	if err != nil {
		return fmt.Errorf("store: revoke api key: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("store: api key %q: %w", prefix, ErrNotFound)
	}
	return nil
}

// TouchAPIKeys records when keys were last used; called in batches by the
// authenticator, never per request.
func (db *DB) TouchAPIKeys(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	prefixes := make([]string, 0, len(used))
	times := make([]time.Time, 0, len(used))
	for p, t := range used {
		prefixes = append(prefixes, p)
		times = append(times, t)
	}
	_, err := db.Pool.Exec(ctx, `
		UPDATE api_keys k SET last_used_at = u.t
		FROM unnest($1::text[], $2::timestamptz[]) AS u(p, t)
		WHERE k.prefix = u.p AND (k.last_used_at IS NULL OR k.last_used_at < u.t)`, prefixes, times)
	if err != nil {
		return fmt.Errorf("store: touch api keys: %w", err)
	}
	return nil
}
