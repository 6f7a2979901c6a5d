package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func TestLastReadings(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	mill := seed(t, db, "acme", "mill-1", "torque", "speed")
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "idle", Type: "pump"}); err != nil {
		t.Fatal(err)
	}
	pump := seed(t, db, "rival", "pump-1", "temp")
	writeReadings(t, db, []store.Reading{
		{TenantID: "acme", SensorKey: mill["torque"].Key, TS: base, Value: 1},
		{TenantID: "acme", SensorKey: mill["torque"].Key, TS: base.Add(time.Minute), Value: 2},
		{TenantID: "acme", SensorKey: mill["speed"].Key, TS: base.Add(3 * time.Minute), Value: 3},
		{TenantID: "rival", SensorKey: pump["temp"].Key, TS: base.Add(time.Hour), Value: 4},
	})

	got, err := db.LastReadings(ctx, "acme", []string{"mill-1", "idle", "pump-1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !got["mill-1"].Equal(base.Add(3*time.Minute)) {
		t.Errorf("LastReadings = %v, want mill-1 at %s only (idle has no readings, pump-1 is another tenant's)", got, base.Add(3*time.Minute))
	}
	if got, err := db.LastReadings(ctx, "acme", nil); err != nil || len(got) != 0 {
		t.Errorf("LastReadings of no assets = %v, %v", got, err)
	}
}

// BenchmarkOpenIncidentGroups is one scrape of the incident gauges with
// 2,000 open incidents (100 tenants) among 50,000 closed ones.
func BenchmarkOpenIncidentGroups(b *testing.B) {
	db, _ := testenv.DB(b)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `
		INSERT INTO incidents (tenant_id, id, asset_id, workflow_id, status, severity, seq, opened_at, updated_at, closed_at)
		SELECT 't' || (i % 100), 'i' || i, 'a' || i, 'w' || i,
			CASE WHEN i < 2000 THEN (ARRAY['collecting','awaiting_approval','scheduled','in_progress'])[1 + i % 4] ELSE 'resolved' END,
			(ARRAY['warning','minor','major','critical'])[1 + (i / 100) % 4], 1, now(), now(),
			CASE WHEN i < 2000 THEN NULL ELSE now() END
		FROM generate_series(0, 51999) i`)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.Pool.Exec(ctx, `ANALYZE incidents`); err != nil {
		b.Fatal(err)
	}
	var groups []store.OpenIncidentGroup
	for b.Loop() {
		if groups, err = db.OpenIncidentGroups(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if len(groups) != 100*4 {
		b.Fatalf("%d groups", len(groups))
	}
}
