package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AnomalyRow is one row of the anomaly outbox.
type AnomalyRow struct {
	ID        string
	TenantID  string
	AssetID   string
	SensorID  string
	TS        time.Time
	Value     float64
	Score     float64
	Severity  string
	Detector  string
	Reason    string
	Direction int
	CreatedAt time.Time
}

// QueueAnomalies queues the outbox insert of rows on b, so it commits with
// the readings they were found in.
func QueueAnomalies(b *pgx.Batch, rows []AnomalyRow) {
	if len(rows) == 0 {
		return
	}
	n := len(rows)
	ids, tenants, assets, sensors := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	tss := make([]time.Time, n)
	vals, scores := make([]float64, n), make([]float64, n)
	sevs, dets, reasons := make([]string, n), make([]string, n), make([]string, n)
	dirs := make([]int16, n)
	for i, r := range rows {
		dirs[i] = int16(r.Direction)
		ids[i], tenants[i], assets[i], sensors[i] = r.ID, r.TenantID, r.AssetID, r.SensorID
		tss[i], vals[i], scores[i] = r.TS, r.Value, r.Score
		sevs[i], dets[i], reasons[i] = r.Severity, r.Detector, r.Reason
	}
	b.Queue(`
		INSERT INTO anomalies (id, tenant_id, asset_id, sensor_id, ts, value, score, severity, detector, reason, direction)
		SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::float8[], $7::float8[], $8::text[], $9::text[], $10::text[], $11::int2[])
		ON CONFLICT (id) DO NOTHING`, ids, tenants, assets, sensors, tss, vals, scores, sevs, dets, reasons, dirs)
}

// MarkAnomaliesDispatched stamps anomalies as handed to their incident.
func (db *DB) MarkAnomaliesDispatched(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	// One round trip, and no wait for the WAL flush: a mark lost to a crash
	// only makes the sweeper send the anomaly again.
	b := &pgx.Batch{}
	b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
	b.Queue(`UPDATE anomalies SET dispatched_at = now() WHERE id = ANY($1::uuid[]) AND dispatched_at IS NULL`, ids)
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store: mark anomalies dispatched: %w", err)
	}
	return nil
}

// UndispatchedAnomalies returns outbox rows created before olderThan that
// were never dispatched, oldest first.
func (db *DB) UndispatchedAnomalies(ctx context.Context, olderThan time.Time, limit int) ([]AnomalyRow, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT id::text, tenant_id, asset_id, sensor_id, ts, value, score, severity, detector, reason, direction, created_at
		FROM anomalies WHERE dispatched_at IS NULL AND created_at < $1
		ORDER BY created_at LIMIT $2`, olderThan, limit)
	if err != nil {
		return nil, fmt.Errorf("store: undispatched anomalies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AnomalyRow, error) {
		var a AnomalyRow
		return a, r.Scan(&a.ID, &a.TenantID, &a.AssetID, &a.SensorID, &a.TS, &a.Value, &a.Score, &a.Severity, &a.Detector, &a.Reason, &a.Direction, &a.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("store: undispatched anomalies: %w", err)
	}
	return out, nil
}

// DeleteDispatchedAnomaliesBefore trims the outbox.
func (db *DB) DeleteDispatchedAnomaliesBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `DELETE FROM anomalies WHERE dispatched_at IS NOT NULL AND created_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("store: trim anomalies: %w", err)
	}
	return tag.RowsAffected(), nil
}
