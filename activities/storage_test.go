package activities

import (
	"context"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/testenv"
	"go.temporal.io/sdk/testsuite"
)

func TestStorageDropExpired(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	now := time.Now().UTC()
	a := &Storage{DB: db, Retention: 30 * 24 * time.Hour, RollupRetention: 365 * 24 * time.Hour, Lookahead: 7 * 24 * time.Hour}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	run := func(f any, in PartitionsInput) (PartitionsResult, error) {
		var res PartitionsResult
		v, err := env.ExecuteActivity(f, in)
		if err == nil {
			err = v.Get(&res)
		}
		return res, err
	}
	created, err := run(a.EnsurePartitions, PartitionsInput{Now: now})
	if err != nil || len(created.Created) < 37 {
		t.Fatalf("created %d partitions, %v", len(created.Created), err)
	}
	// Old outbox rows: one dispatched (trimmed), one not (kept for the sweeper).
	_, err = db.Pool.Exec(ctx, `
		INSERT INTO anomalies (id, tenant_id, asset_id, sensor_id, ts, value, score, severity, detector, reason, created_at, dispatched_at) VALUES
		(gen_random_uuid(), 'acme', 'a', 's', now(), 1, 1, 'major', 't', 'r', now() - interval '40 days', now() - interval '40 days'),
		(gen_random_uuid(), 'acme', 'a', 's', now(), 1, 1, 'major', 't', 'r', now() - interval '40 days', NULL),
		(gen_random_uuid(), 'acme', 'a', 's', now(), 1, 1, 'major', 't', 'r', now(), now())`)
	if err != nil {
		t.Fatal(err)
	}
	// A month later the oldest daily partitions and the dispatched outbox
	// rows go; the undispatched one stays for the sweeper.
	res, err := run(a.DropExpired, PartitionsInput{Now: now.Add(31 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Dropped) == 0 || res.AnomaliesDeleted != 2 {
		t.Errorf("result %+v", res)
	}
	var left int
	db.Pool.QueryRow(ctx, `SELECT count(*) FROM anomalies`).Scan(&left)
	if left != 1 {
		t.Errorf("%d outbox rows left, want 1", left)
	}
	// Idempotent.
	again, err := run(a.DropExpired, PartitionsInput{Now: now.Add(31 * 24 * time.Hour)})
	if err != nil || len(again.Dropped) != 0 || again.AnomaliesDeleted != 0 {
		t.Errorf("second run %+v, %v", again, err)
	}
}
