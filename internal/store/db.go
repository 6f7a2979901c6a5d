// Package store is smartmaint's PostgreSQL layer: the connection pool,
// migrations, tenant-scoped transactions and the repositories for the
// catalogue (tenants, API keys, assets, sensors) and readings.
//
// Request-scoped work runs in InTenant, which switches to the role
// smartmaint_app and sets the tenant so row-level security applies. Trusted
// internal work (the ingest batcher, storage maintenance, migrations) uses the
// pool directly as the owner role.
package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smartmaint/smartmaint/migrations"
)

// Errors returned by repositories; handlers map them to HTTP statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
	// ErrInvalid wraps constraint violations caused by the caller's data.
	ErrInvalid = errors.New("invalid")
)

// DB is the pool plus what the repositories need to know about the schema.
type DB struct {
	Pool *pgxpool.Pool
	// Timescale is true when readings is a TimescaleDB hypertable.
	Timescale bool
}

// Open connects a pool to databaseURL and checks the connection.
func Open(ctx context.Context, databaseURL string, maxConns int32) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse DATABASE_URL: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("store: ping %s: %w", redact(databaseURL), err)
	}
	db := &DB{Pool: pool}
	if err := db.detectLayout(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the pool.
func (db *DB) Close() { db.Pool.Close() }

// Ping checks that PostgreSQL answers.
func (db *DB) Ping(ctx context.Context) error { return db.Pool.Ping(ctx) }

func (db *DB) detectLayout(ctx context.Context) error {
	err := db.Pool.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT 1 FROM pg_extension e
			WHERE e.extname = 'timescaledb'
			  AND to_regclass('readings') IS NOT NULL
			  AND NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass('readings')))`,
	).Scan(&db.Timescale)
	if err != nil {
		return fmt.Errorf("store: detect readings layout: %w", err)
	}
	return nil
}

// Migrate applies pending migrations using one dedicated connection.
func Migrate(ctx context.Context, databaseURL string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("store: migrate connect %s: %w", redact(databaseURL), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return migrations.Up(ctx, conn)
}

// EnsureDatabase creates the database named in databaseURL when it does not
// exist, connecting to the server's "postgres" database to do so.
func EnsureDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("store: parse DATABASE_URL: %w", err)
	}
	name := cfg.Database
	if name == "" {
		return fmt.Errorf("store: DATABASE_URL names no database")
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("store: connect to create database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("store: look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created meanwhile
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: create database %q: %w", name, err)
	}
	return nil
}

// InTenant runs fn in a transaction restricted to tenant by row-level
// security. fn must not keep tx after returning.
func (db *DB) InTenant(ctx context.Context, tenant string, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		// One round trip: SET LOCAL ROLE and the tenant setting together.
		if _, err := tx.Exec(ctx, `SELECT set_config('role', 'smartmaint_app', true), set_config('smartmaint.tenant_id', $1, true)`, tenant); err != nil {
			return fmt.Errorf("store: enter tenant: %w", err)
		}
		return fn(tx)
	})
}

// MapError turns PostgreSQL constraint errors into ErrConflict, ErrNotFound
// and ErrInvalid, for repositories in other packages that hold a *DB; other
// errors are returned as they are.
func MapError(err error) error { return mapError(err) }

// mapError turns PostgreSQL constraint errors into the package's errors.
func mapError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "23505": // unique_violation
		return fmt.Errorf("%w: %s", ErrConflict, pgErr.Detail)
	case "23503": // foreign_key_violation
		return fmt.Errorf("%w: %s", ErrNotFound, referenceDetail(pgErr))
	case "23514", "23502", "22P02", "22003": // check, not null, bad text repr, out of range
		return fmt.Errorf("%w: %s", ErrInvalid, pgErr.Message)
	case "42501": // insufficient_privilege: a row-level security WITH CHECK failed
		return fmt.Errorf("%w: %s", ErrNotFound, pgErr.Message)
	}
	return err
}

func referenceDetail(e *pgconn.PgError) string {
	if e.Detail != "" {
		return e.Detail
	}
	return e.Message
}

// redact hides the password of a connection URL for logs and errors.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return strings.TrimSpace(u.String())
}

// DropDatabase drops the database name (terminating its sessions),
// connecting through adminURL. Used by tools that need a fresh database.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("store: connect to drop database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("store: drop database %q: %w", name, err)
	}
	return nil
}
