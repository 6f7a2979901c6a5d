// Package migrations holds smartmaint's numbered SQL migrations and applies
// them with tern. Files are Go templates: `.timescale` is true when the
// TimescaleDB extension is available on the server, so one migration can take
// the hypertable path or the plain partitioned path.
//
// Numbers are sequential without gaps (tern's rule); add a new file with the
// next number and never edit one that has shipped.
package migrations

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed *.sql
var files embed.FS

// VersionTable records the applied migration version.
const VersionTable = "schema_version"

// Up applies every pending migration on conn. Concurrent callers are safe:
// tern serialises them with an advisory lock.
func Up(ctx context.Context, conn *pgx.Conn) error {
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	timescale, err := TimescaleAvailable(ctx, conn)
	if err != nil {
		return err
	}
	m.Data["timescale"] = timescale
	if err := m.LoadMigrations(files); err != nil {
		return fmt.Errorf("migrations: load: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrations: apply: %w", err)
	}
	return nil
}

// TimescaleAvailable reports whether the server can load TimescaleDB.
func TimescaleAvailable(ctx context.Context, conn *pgx.Conn) (bool, error) {
	var ok bool
	err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("migrations: check timescaledb: %w", err)
	}
	return ok, nil
}
