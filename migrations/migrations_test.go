package migrations

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// freshDB creates an empty database (dropped when the test ends) and
// connects to it. It cannot use internal/testenv, which migrates through
// internal/store and so imports this package.
func freshDB(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		admin = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	cfg, err := pgx.ParseConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	a, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v", err)
	}
	name := "smartmaint_test_mig_" + strings.ToLower(rand.Text()[:12])
	if _, err := a.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		a.Close(context.Background())
	})
	cfg.Database = name
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func migrateTo(t *testing.T, conn *pgx.Conn, version int32) {
	t.Helper()
	ctx := context.Background()
	m, err := migrate.NewMigrator(ctx, conn, VersionTable)
	if err != nil {
		t.Fatal(err)
	}
	timescale, err := TimescaleAvailable(ctx, conn)
	if err != nil {
		t.Fatal(err)
	}
	m.Data["timescale"] = timescale
	if err := m.LoadMigrations(files); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, version); err != nil {
		t.Fatalf("migrate to %d: %v", version, err)
	}
}

// TestReadingsUniqueMigration: duplicates stored before migration 009 are
// removed (one copy of each kept), the rollups they inflated are recomputed
// from what remains, untouched rollups stay as they were, and from then on a
// second copy cannot be stored.
func TestReadingsUniqueMigration(t *testing.T) {
	ctx := context.Background()
	conn := freshDB(t)
	migrateTo(t, conn, 8)
	hour := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	// Sensor 1: 10.0 three times and 20.0 twice at two timestamps, 30.0
	// once; the rollup as the batcher kept it counted every copy. Sensor 2
	// has no duplicates and a rollup that must not change.
	_, err := conn.Exec(ctx, `
		INSERT INTO readings (tenant_id, sensor_key, ts, value) VALUES
			('acme', 1, $1, 10), ('acme', 1, $1, 10), ('acme', 1, $1, 10),
			('acme', 1, $1 + interval '1 minute', 20), ('acme', 1, $1 + interval '1 minute', 20),
			('acme', 1, $1 + interval '2 minutes', 30),
			('acme', 2, $1, 5)`, hour)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, `
		INSERT INTO readings_hourly (tenant_id, sensor_key, bucket, n, sum, sum_sq, min, max) VALUES
			('acme', 1, $1, 6, 100, 1400, 10, 30),
			('acme', 2, $1, 7, 35, 175, 5, 5)`, hour)
	if err != nil {
		t.Fatal(err)
	}
	migrateTo(t, conn, 9)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM readings`).Scan(&n); err != nil || n != 4 {
		t.Errorf("%d readings after the migration (%v), want 4", n, err)
	}
	rollups := map[int64][3]float64{}
	rows, _ := conn.Query(ctx, `SELECT sensor_key, n, sum, sum_sq FROM readings_hourly WHERE bucket = $1`, hour)
	for rows.Next() {
		var key int64
		var r [3]float64
		if err := rows.Scan(&key, &r[0], &r[1], &r[2]); err != nil {
			t.Fatal(err)
		}
		rollups[key] = r
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := map[int64][3]float64{1: {3, 60, 1400}, 2: {7, 35, 175}}; fmt.Sprint(rollups) != fmt.Sprint(want) {
		t.Errorf("rollups %v, want %v", rollups, want)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO readings (tenant_id, sensor_key, ts, value) VALUES ('acme', 2, $1, 6)`, hour); err == nil {
		t.Error("a second reading for one sensor and timestamp was stored")
	}
}
