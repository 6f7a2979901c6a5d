package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// LastReadings returns, for each of the given assets of tenant that has
// readings, the time of its newest reading (over all its sensors). Each
// sensor costs one backward step on the (sensor_key, ts) index.
func (db *DB) LastReadings(ctx context.Context, tenant string, assetIDs []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(assetIDs))
	if len(assetIDs) == 0 {
		return out, nil
	}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT s.asset_id, max(l.ts) FROM sensors s
			CROSS JOIN LATERAL (
				SELECT r.ts FROM readings r WHERE r.sensor_key = s.key ORDER BY r.ts DESC LIMIT 1) l
			WHERE s.asset_id = ANY($1)
			GROUP BY s.asset_id`, assetIDs)
		if err != nil {
			return err
		}
		var asset string
		var ts time.Time
		_, err = pgx.ForEachRow(rows, []any{&asset, &ts}, func() error {
			out[asset] = ts
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: last readings: %w", err)
	}
	return out, nil
}

// OpenIncidentGroup counts the open incidents of one tenant in one status
// and severity.
type OpenIncidentGroup struct {
	TenantID string
	Status   string
	Severity string
	Count    int
	// OldestUpdate is the least recent projection update in the group: how
	// long the stalest of these incidents has not moved.
	OldestUpdate time.Time
}

// OpenIncidentGroups counts the open incidents of every tenant by status and
// severity (owner role; for metrics). It reads only open incidents, through
// the partial index that keeps one open incident per asset, so its cost does
// not grow with the incident history.
func (db *DB) OpenIncidentGroups(ctx context.Context) ([]OpenIncidentGroup, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT tenant_id, status, severity, count(*)::int, min(updated_at) FROM incidents
		WHERE closed_at IS NULL
		GROUP BY tenant_id, status, severity
		ORDER BY tenant_id, status, severity`)
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OpenIncidentGroup, error) {
		var g OpenIncidentGroup
		return g, r.Scan(&g.TenantID, &g.Status, &g.Severity, &g.Count, &g.OldestUpdate)
	})
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	return out, nil
}
