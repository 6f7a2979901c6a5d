package store_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func ptr(f float64) *float64 { return &f }

func seed(t *testing.T, db *store.DB, tenant, asset string, sensors ...string) map[string]store.Sensor {
	t.Helper()
	ctx := context.Background()
	testenv.Tenant(t, db, tenant)
	if _, err := db.CreateAsset(ctx, tenant, store.Asset{ID: asset, Type: "pump"}); err != nil {
		t.Fatal(err)
	}
	out := map[string]store.Sensor{}
	for _, id := range sensors {
		s, err := db.CreateSensor(ctx, tenant, store.Sensor{AssetID: asset, ID: id, Unit: "K", MinValid: ptr(0), MaxValid: ptr(1000)})
		if err != nil {
			t.Fatal(err)
		}
		out[id] = s
	}
	return out
}

func TestCatalogCRUD(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")

	a, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "pump-1", Type: "pump", Name: "Pump 1", Metadata: map[string]any{"line": "A"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Metadata["line"] != "A" || a.CreatedAt.IsZero() {
		t.Errorf("created asset = %+v", a)
	}
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "pump-1", Type: "pump"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate asset: err = %v, want ErrConflict", err)
	}
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "bad id!", Type: "pump"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad id: err = %v, want ErrInvalid", err)
	}
	a.Name = "Pump one"
	if got, err := db.UpdateAsset(ctx, "acme", a); err != nil || got.Name != "Pump one" {
		t.Errorf("update = %+v, %v", got, err)
	}
	if _, err := db.UpdateAsset(ctx, "acme", store.Asset{ID: "nope", Type: "pump"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update missing: err = %v, want ErrNotFound", err)
	}

	s, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "pump-1", ID: "temp", Unit: "K", MinValid: ptr(200), MaxValid: ptr(500)})
	if err != nil {
		t.Fatal(err)
	}
	if s.Key == 0 || *s.MaxValid != 500 {
		t.Errorf("sensor = %+v", s)
	}
	if _, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "ghost", ID: "temp", Unit: "K"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("sensor of missing asset: err = %v, want ErrNotFound", err)
	}
	if _, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "pump-1", ID: "p", Unit: "bar", MinValid: ptr(5), MaxValid: ptr(1)}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("min > max: err = %v, want ErrInvalid", err)
	}
	list, err := db.ListSensors(ctx, "acme", "pump-1")
	if err != nil || len(list) != 1 {
		t.Fatalf("list sensors = %v, %v", list, err)
	}

	// Deleting the asset removes its sensors and readings.
	now := time.Now().UTC().Truncate(time.Microsecond)
	writeReadings(t, db, []store.Reading{{TenantID: "acme", SensorKey: s.Key, TS: now, Value: 300}})
	if err := db.DeleteAsset(ctx, "acme", "pump-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GetSensor(ctx, "acme", "pump-1", "temp"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("sensor after asset delete: err = %v", err)
	}
	if n, _ := db.CountReadings(ctx, "acme"); n != 0 {
		t.Errorf("readings after asset delete = %d", n)
	}
	if err := db.DeleteAsset(ctx, "acme", "pump-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}

func TestTenantIsolation(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	a := seed(t, db, "tenant-a", "shared-id", "temp")
	seed(t, db, "tenant-b", "other", "temp")
	now := time.Now().UTC()
	writeReadings(t, db, []store.Reading{{TenantID: "tenant-a", SensorKey: a["temp"].Key, TS: now, Value: 1}})

	// Tenant B sees nothing of tenant A, even by id.
	if _, err := db.GetAsset(ctx, "tenant-b", "shared-id"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("B reads A's asset: err = %v", err)
	}
	assets, err := db.ListAssets(ctx, "tenant-b", "", store.Page{})
	if err != nil || len(assets) != 1 || assets[0].ID != "other" {
		t.Errorf("B lists %v, %v", assets, err)
	}
	series, err := db.QueryReadings(ctx, "tenant-b", store.ReadingsQuery{AssetID: "shared-id", From: now.Add(-time.Hour), To: now.Add(time.Hour), Limit: 10})
	if err != nil || len(series) != 0 {
		t.Errorf("B queries A's readings: %v, %v", series, err)
	}
	// B cannot write into A's asset, update it or delete it.
	if _, err := db.CreateSensor(ctx, "tenant-b", store.Sensor{AssetID: "shared-id", ID: "x", Unit: "K"}); err == nil {
		t.Error("B created a sensor on A's asset")
	}
	if _, err := db.UpdateAsset(ctx, "tenant-b", store.Asset{ID: "shared-id", Type: "hacked"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("B updates A's asset: err = %v", err)
	}
	if err := db.DeleteAsset(ctx, "tenant-b", "shared-id"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("B deletes A's asset: err = %v", err)
	}
	// Even raw SQL inside a tenant transaction cannot see the other tenant.
	err = db.InTenant(ctx, "tenant-b", func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM readings`).Scan(&n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("B counts %d readings", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.InTenant(ctx, "tenant-b", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO assets (tenant_id, id, type) VALUES ('tenant-a', 'sneaky', 'pump')`)
		return err
	})
	if err == nil {
		t.Error("B inserted a row for tenant A")
	}
	if got, err := db.GetAsset(ctx, "tenant-a", "shared-id"); err != nil || got.Type != "pump" {
		t.Errorf("A's asset changed: %+v, %v", got, err)
	}
}

func writeReadings(t testing.TB, db *store.DB, rows []store.Reading) {
	t.Helper()
	ctx := context.Background()
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
}

func TestReadingsQueryAndRollup(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	s := seed(t, db, "acme", "pump-1", "temp", "pressure")
	// Two whole hours starting on an even hour, so one 2-hour bucket
	// (aligned to 2000-01-01, like date_bin's origin) holds them all.
	base := time.Now().UTC().Truncate(2 * time.Hour).Add(-4 * time.Hour)
	var rows []store.Reading
	// Two hours of one reading a minute on temp: value = minute of the hour.
	for i := range 120 {
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: s["temp"].Key, TS: base.Add(time.Duration(i) * time.Minute), Value: float64(i % 60)})
	}
	rows = append(rows, store.Reading{TenantID: "acme", SensorKey: s["pressure"].Key, TS: base, Value: 7})
	// Split over two transactions (and two chunks) so the rollup upsert has
	// to add to existing rows.
	writeReadings(t, db, rows[:70])
	writeReadings(t, db, rows[70:])

	q := store.ReadingsQuery{AssetID: "pump-1", SensorIDs: []string{"temp"}, From: base, To: base.Add(2 * time.Hour), Limit: 1000}
	raw, err := db.QueryReadings(ctx, "acme", q)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 1 || raw[0].SensorID != "temp" || len(raw[0].Points) != 120 || raw[0].Source != "raw" {
		t.Fatalf("raw = %+v", raw)
	}
	q.Limit = 10
	raw, _ = db.QueryReadings(ctx, "acme", q)
	if len(raw[0].Points) != 10 || !raw[0].Truncated {
		t.Errorf("limit: %d points, truncated %v", len(raw[0].Points), raw[0].Truncated)
	}

	q.Limit, q.Step = 1000, time.Hour
	hourly, err := db.QueryReadings(ctx, "acme", q)
	if err != nil {
		t.Fatal(err)
	}
	b := hourly[0].Buckets
	if hourly[0].Source != "rollup" || len(b) != 2 {
		t.Fatalf("hourly = %+v", hourly)
	}
	for _, bk := range b {
		if bk.Count != 60 || bk.Min != 0 || bk.Max != 59 || math.Abs(bk.Mean-29.5) > 1e-9 {
			t.Errorf("bucket %+v, want count 60, min 0, max 59, mean 29.5", bk)
		}
	}

	q.Step = 2 * time.Hour
	two, _ := db.QueryReadings(ctx, "acme", q)
	if got := two[0].Buckets; len(got) != 1 || got[0].Count != 120 {
		t.Errorf("2h buckets = %+v", got)
	}

	q.Step = 15 * time.Minute
	quarter, _ := db.QueryReadings(ctx, "acme", q)
	if got := quarter[0].Buckets; quarter[0].Source != "raw" || len(got) != 8 || got[0].Count != 15 || got[0].Max != 14 {
		t.Errorf("15m buckets = %+v", got)
	}

	// All sensors when none is named.
	q = store.ReadingsQuery{AssetID: "pump-1", From: base, To: base.Add(time.Minute), Limit: 100}
	all, _ := db.QueryReadings(ctx, "acme", q)
	if len(all) != 2 || all[0].SensorID != "pressure" || all[1].SensorID != "temp" {
		t.Errorf("all sensors = %+v", all)
	}
}

func TestPartitions(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	s := seed(t, db, "acme", "pump-1", "temp")
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

	// A reading for a day without partition lands in the default partition...
	writeReadings(t, db, []store.Reading{{TenantID: "acme", SensorKey: s["temp"].Key, TS: day.Add(5 * time.Hour), Value: 1}})
	created, err := db.EnsurePartitions(ctx, day.Add(-24*time.Hour), day.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 2 || created[1] != "readings_p20260310" {
		t.Fatalf("created = %v", created)
	}
	// ...and moves into the new partition when it is created.
	var inDefault, inPartition int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM readings_default`).Scan(&inDefault)
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM readings_p20260310`).Scan(&inPartition)
	if inDefault != 0 || inPartition != 1 {
		t.Errorf("default %d, partition %d; want 0, 1", inDefault, inPartition)
	}
	// Idempotent.
	if again, err := db.EnsurePartitions(ctx, day.Add(-24*time.Hour), day.Add(24*time.Hour)); err != nil || len(again) != 0 {
		t.Errorf("second ensure = %v, %v", again, err)
	}
	// Drop what ends at or before the cutoff.
	dropped, err := db.DropPartitionsBefore(ctx, day)
	if err != nil || len(dropped) != 1 || dropped[0] != "readings_p20260309" {
		t.Errorf("dropped = %v, %v", dropped, err)
	}
	dropped, _ = db.DropPartitionsBefore(ctx, day.Add(time.Hour))
	if len(dropped) != 0 {
		t.Errorf("dropped a partition that still holds unexpired data: %v", dropped)
	}
	if n, _ := db.CountReadings(ctx, "acme"); n != 1 {
		t.Errorf("readings = %d, want 1", n)
	}
}

func TestEnsureDatabase(t *testing.T) {
	url := testenv.DatabaseURL(t)
	ctx := context.Background()
	// Exists already: no error.
	if err := store.EnsureDatabase(ctx, url); err != nil {
		t.Fatal(err)
	}
	// Missing: created. Use a name derived from the throwaway one and drop it after.
	missing := url[:len(url)-len("?sslmode=disable")] + "_x?sslmode=disable"
	t.Cleanup(func() {
		cfg, _ := pgx.ParseConfig(testenv.AdminURL())
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			name, _ := pgx.ParseConfig(missing)
			c.Exec(ctx, "DROP DATABASE IF EXISTS "+name.Database+" WITH (FORCE)")
			c.Close(ctx)
		}
	})
	if err := store.EnsureDatabase(ctx, missing); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, missing); err != nil {
		t.Fatalf("migrate created database: %v", err)
	}
	// Migrating twice is a no-op.
	if err := store.Migrate(ctx, missing); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
}

func TestWriteReadingsCopyPath(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	s := seed(t, db, "acme", "pump-1", "temp")
	base := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	// Two chunks together above CopyThreshold go through COPY; the rollup
	// and the extra statement commit with them.
	var a, b []store.Reading
	for i := range store.CopyThreshold {
		r := store.Reading{TenantID: "acme", SensorKey: s["temp"].Key, TS: base.Add(time.Duration(i) * time.Millisecond), Value: 2}
		if i%2 == 0 {
			a = append(a, r)
		} else {
			b = append(b, r)
		}
	}
	extra := func(pb *pgx.Batch) { pb.Queue(`CREATE TABLE marker (x int)`) }
	if err := db.WriteReadings(ctx, extra, a, b); err != nil {
		t.Fatal(err)
	}
	if n, _ := db.CountReadings(ctx, "acme"); n != store.CopyThreshold {
		t.Errorf("stored %d, want %d", n, store.CopyThreshold)
	}
	var n int64
	var sum float64
	db.Pool.QueryRow(ctx, `SELECT n, sum FROM readings_hourly WHERE sensor_key = $1`, s["temp"].Key).Scan(&n, &sum)
	if n != store.CopyThreshold || sum != 2*store.CopyThreshold {
		t.Errorf("rollup n=%d sum=%g", n, sum)
	}
	// A failing extra statement rolls the readings back, on both paths.
	bad := func(pb *pgx.Batch) { pb.Queue(`SELECT 1/0`) }
	for _, size := range []int{10, store.CopyThreshold} {
		if err := db.WriteReadings(ctx, bad, a[:size/2], b[:size/2]); err == nil {
			t.Fatalf("size %d: a failing extra statement did not fail the write", size)
		}
	}
	if got, _ := db.CountReadings(ctx, "acme"); got != store.CopyThreshold {
		t.Errorf("after failed writes: %d readings, want %d", got, store.CopyThreshold)
	}
}
