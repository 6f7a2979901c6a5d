package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/smartmaint/smartmaint/internal/incident"
)

// The queries behind reconciling the incident projection with Temporal:
// which incidents PostgreSQL holds open, what a new run needs to carry one
// on, and closing one that cannot be carried on. They run as the owner
// role, across tenants, for the worker.

// OpenIncidents returns every open incident of every tenant, oldest first.
func (db *DB) OpenIncidents(ctx context.Context) ([]incident.Projection, error) {
	rows, err := db.Pool.Query(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE closed_at IS NULL ORDER BY opened_at`)
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (incident.Projection, error) { return scanIncident(r) })
	if err != nil {
		return nil, fmt.Errorf("store: open incidents: %w", err)
	}
	return out, nil
}

// OpenIncidentOf returns the asset's open incident; ErrNotFound when it has
// none.
func (db *DB) OpenIncidentOf(ctx context.Context, tenant, assetID string) (incident.Projection, error) {
	i, err := scanIncident(db.Pool.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE tenant_id = $1 AND asset_id = $2 AND closed_at IS NULL`, tenant, assetID))
	return i, notFound(err, "open incident of asset", assetID)
}

// IncidentOf returns one incident of tenant (owner role).
func (db *DB) IncidentOf(ctx context.Context, tenant, id string) (incident.Projection, error) {
	i, err := scanIncident(db.Pool.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents
		WHERE tenant_id = $1 AND id = $2`, tenant, id))
	return i, notFound(err, "incident", id)
}

// LastLogSeq returns the highest maintenance-log sequence number of an
// incident, 0 when it has no entries.
func (db *DB) LastLogSeq(ctx context.Context, tenant, incidentID string) (int, error) {
	var seq int
	err := db.Pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM maintenance_log WHERE tenant_id = $1 AND incident_id = $2`,
		tenant, incidentID).Scan(&seq)
	if err != nil {
		return 0, fmt.Errorf("store: last log seq of %s: %w", incidentID, err)
	}
	return seq, nil
}

// ErrNotOpen is returned by CloseOpenIncident when the incident was closed
// meanwhile.
var ErrNotOpen = errors.New("store: incident is not open")

// CloseOpenIncident closes an open incident that no workflow carries any
// more, with status, resolution and a log entry saying why, in one
// transaction. It fails with ErrNotOpen when the incident is already
// closed.
func (db *DB) CloseOpenIncident(ctx context.Context, tenant, id string, status incident.Status, resolution incident.Resolution, actor, event, message string, now time.Time) error {
	tx, err := db.Pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: close incident %s: %w", id, err)
	}
	defer tx.Rollback(ctx)
	var asset string
	err = tx.QueryRow(ctx, `
		UPDATE incidents SET status = $3, resolution = $4, active = false, closed_at = $5, updated_at = $5, seq = seq + 1
		WHERE tenant_id = $1 AND id = $2 AND closed_at IS NULL RETURNING asset_id`,
		tenant, id, status, resolution, now).Scan(&asset)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: close incident %s: %w", id, ErrNotOpen)
	}
	if err != nil {
		return fmt.Errorf("store: close incident %s: %w", id, err)
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO maintenance_log (tenant_id, asset_id, incident_id, seq, at, actor, event, message, details)
		SELECT $1, $2, $3, coalesce(max(seq), 0) + 1, $4, $5, $6, $7, '{}'::jsonb
		FROM maintenance_log WHERE tenant_id = $1 AND incident_id = $3`,
		tenant, asset, id, now, actor, event, message)
	if err != nil {
		return fmt.Errorf("store: close incident %s: log: %w", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: close incident %s: %w", id, err)
	}
	return nil
}

// RecentLogEvents returns tenant's log entries named one of events since a
// time, newest first: for example the incidents re-attached at start-up.
func (db *DB) RecentLogEvents(ctx context.Context, tenant string, events []string, since time.Time, limit int) ([]LogEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	out := []LogEntry{}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+logColumns+` FROM maintenance_log
			WHERE event = ANY($1) AND at >= $2 ORDER BY at DESC, seq DESC LIMIT $3`, events, since, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanLogEntry)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: recent log events: %w", err)
	}
	return out, nil
}
