package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/smartmaint/smartmaint/internal/incident"
)

// IncidentPolicy returns tenant's policy, or the default.
func (db *DB) IncidentPolicy(ctx context.Context, tenant string) (incident.Policy, error) {
	p := incident.DefaultPolicy()
	var collect, approval, clearAfter int
	err := db.Pool.QueryRow(ctx, `
		SELECT collect_window_seconds, reject_below, auto_approve_at, approval_timeout_seconds,
			escalation_stages, timeout_decision, clear_after_seconds, persistence_readings, min_severity
		FROM incident_policies WHERE tenant_id = $1`, tenant).Scan(
		&collect, &p.RejectBelow, &p.AutoApproveAt, &approval, &p.EscalationStages, &p.TimeoutDecision, &clearAfter, &p.PersistenceReadings, &p.MinSeverity)
	if errors.Is(err, pgx.ErrNoRows) {
		return incident.DefaultPolicy(), nil
	}
	if err != nil {
		return p, fmt.Errorf("store: incident policy: %w", err)
	}
	p.CollectWindow = incident.Duration(time.Duration(collect) * time.Second)
	p.ApprovalTimeout = incident.Duration(time.Duration(approval) * time.Second)
	p.ClearAfter = incident.Duration(time.Duration(clearAfter) * time.Second)
	return p, nil
}

// PutIncidentPolicy stores tenant's policy.
func (db *DB) PutIncidentPolicy(ctx context.Context, tenant string, p incident.Policy) error {
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO incident_policies (tenant_id, collect_window_seconds, reject_below, auto_approve_at,
				approval_timeout_seconds, escalation_stages, timeout_decision, clear_after_seconds, persistence_readings, min_severity, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now())
			ON CONFLICT (tenant_id) DO UPDATE SET
				collect_window_seconds = excluded.collect_window_seconds, reject_below = excluded.reject_below,
				auto_approve_at = excluded.auto_approve_at, approval_timeout_seconds = excluded.approval_timeout_seconds,
				escalation_stages = excluded.escalation_stages, timeout_decision = excluded.timeout_decision,
				clear_after_seconds = excluded.clear_after_seconds, persistence_readings = excluded.persistence_readings,
				min_severity = excluded.min_severity, updated_at = now()`,
			tenant, seconds(p.CollectWindow), p.RejectBelow, p.AutoApproveAt, seconds(p.ApprovalTimeout),
			p.EscalationStages, p.TimeoutDecision, seconds(p.ClearAfter), p.PersistenceReadings, p.MinSeverity)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: put incident policy: %w", mapError(err))
	}
	return nil
}

// seconds is d in whole seconds, as the policy's columns keep it.
func seconds(d incident.Duration) int { return int(time.Duration(d) / time.Second) }

// LogEntry is one line of the maintenance log.
type LogEntry struct {
	TenantID   string         `json:"-"`
	AssetID    string         `json:"asset_id"`
	IncidentID string         `json:"incident_id"`
	Seq        int            `json:"seq"`
	At         time.Time      `json:"at"`
	Actor      string         `json:"actor"`
	Event      string         `json:"event"`
	Message    string         `json:"message"`
	Details    map[string]any `json:"details,omitempty"`
}

// RecordIncident writes an incident's projection and new log entries in one
// transaction. Retries are harmless: the projection only moves to a higher
// Seq and a log entry is written once per (incident, seq).
func (db *DB) RecordIncident(ctx context.Context, inc incident.Projection, entries []LogEntry) error {
	if inc.Summary == nil {
		inc.Summary = json.RawMessage(`{}`)
	}
	b := &pgx.Batch{}
	b.Queue(`
		INSERT INTO incidents (tenant_id, id, asset_id, workflow_id, status, resolution, severity, active, acknowledged,
			assignee, confidence, anomalies, work_order_id, summary, seq, opened_at, updated_at, closed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (tenant_id, id) DO UPDATE SET
			status = excluded.status, resolution = excluded.resolution, severity = excluded.severity,
			active = excluded.active, acknowledged = excluded.acknowledged, assignee = excluded.assignee,
			confidence = excluded.confidence, anomalies = excluded.anomalies, work_order_id = excluded.work_order_id,
			summary = excluded.summary, seq = excluded.seq, updated_at = excluded.updated_at, closed_at = excluded.closed_at
		WHERE incidents.seq < excluded.seq`,
		inc.TenantID, inc.ID, inc.AssetID, inc.WorkflowID, inc.Status, inc.Resolution, inc.Severity, inc.Active, inc.Acknowledged,
		inc.Assignee, inc.Confidence, inc.Anomalies, inc.WorkOrderID, inc.Summary, inc.Seq, inc.OpenedAt, inc.UpdatedAt, inc.ClosedAt)
	for _, e := range entries {
		details := e.Details
		if details == nil {
			details = map[string]any{}
		}
		b.Queue(`
			INSERT INTO maintenance_log (tenant_id, asset_id, incident_id, seq, at, actor, event, message, details)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (tenant_id, incident_id, seq) DO NOTHING`,
			inc.TenantID, inc.AssetID, inc.ID, e.Seq, e.At, e.Actor, e.Event, e.Message, details)
	}
	// A pipelined batch without BEGIN runs as one implicit transaction.
	if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store: record incident %s: %w", inc.ID, mapError(err))
	}
	return nil
}

// incidentColumns are the projection's columns scanIncident reads.
const incidentColumns = `tenant_id, id, asset_id, workflow_id, status, resolution, severity, active, acknowledged, assignee,
	confidence, anomalies, work_order_id::text, summary, seq, opened_at, updated_at, closed_at`

func scanIncident(row pgx.Row) (incident.Projection, error) {
	var i incident.Projection
	err := row.Scan(&i.TenantID, &i.ID, &i.AssetID, &i.WorkflowID, &i.Status, &i.Resolution, &i.Severity, &i.Active, &i.Acknowledged,
		&i.Assignee, &i.Confidence, &i.Anomalies, &i.WorkOrderID, &i.Summary, &i.Seq, &i.OpenedAt, &i.UpdatedAt, &i.ClosedAt)
	return i, err
}

// IncidentFilter narrows ListIncidents.
type IncidentFilter struct {
	AssetID string
	// Status is a status, or "open"/"closed" for any open or closed one.
	Status string
	Limit  int
	// Before pages backwards by opened_at.
	Before time.Time
}

// ListIncidents returns tenant's incidents, newest first.
func (db *DB) ListIncidents(ctx context.Context, tenant string, f IncidentFilter) ([]incident.Projection, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	before := f.Before
	if before.IsZero() {
		before = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	out := []incident.Projection{}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+incidentColumns+` FROM incidents
			WHERE ($1 = '' OR asset_id = $1)
			  AND ($2 = '' OR ($2 = 'open' AND closed_at IS NULL) OR ($2 = 'closed' AND closed_at IS NOT NULL) OR status = $2)
			  AND opened_at < $3
			ORDER BY opened_at DESC LIMIT $4`, f.AssetID, f.Status, before, f.Limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (incident.Projection, error) { return scanIncident(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list incidents: %w", err)
	}
	return out, nil
}

// GetIncident returns one incident of tenant.
func (db *DB) GetIncident(ctx context.Context, tenant, id string) (incident.Projection, error) {
	var out incident.Projection
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = scanIncident(tx.QueryRow(ctx, `SELECT `+incidentColumns+` FROM incidents WHERE id = $1`, id))
		return err
	})
	return out, notFound(err, "incident", id)
}

// MaintenanceLog returns an asset's log, newest first; incidentID narrows
// it to one incident when set.
func (db *DB) MaintenanceLog(ctx context.Context, tenant, assetID, incidentID string, limit int) ([]LogEntry, error) {
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	out := []LogEntry{}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+logColumns+` FROM maintenance_log
			WHERE ($1 = '' OR asset_id = $1) AND ($2 = '' OR incident_id = $2)
			ORDER BY at DESC, seq DESC LIMIT $3`, assetID, incidentID, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanLogEntry)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: maintenance log: %w", err)
	}
	return out, nil
}

// logColumns are the maintenance-log columns scanLogEntry reads.
const logColumns = `asset_id, incident_id, seq, at, actor, event, message, details`

func scanLogEntry(r pgx.CollectableRow) (LogEntry, error) {
	var e LogEntry
	return e, r.Scan(&e.AssetID, &e.IncidentID, &e.Seq, &e.At, &e.Actor, &e.Event, &e.Message, &e.Details)
}

// DecisionCounts counts an asset's incidents closed as rejected by a human
// and those approved, since a time: the learned false-positive feedback.
func (db *DB) DecisionCounts(ctx context.Context, tenant, assetID string, since time.Time) (approved, rejected int, err error) {
	err = db.Pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE `+incident.ApprovedSQL("")+`), count(*) FILTER (WHERE resolution = $4)
		FROM incidents WHERE tenant_id = $1 AND asset_id = $2 AND opened_at >= $3`, tenant, assetID, since, incident.ResolutionRejected).Scan(&approved, &rejected)
	if err != nil {
		return 0, 0, fmt.Errorf("store: decision counts: %w", err)
	}
	return approved, rejected, nil
}

// Baseline summarises a sensor's hourly rollups in [from, to).
type Baseline struct {
	N    int64
	Mean float64
	Std  float64
}

// SensorBaseline returns the mean and standard deviation of a sensor's
// readings in [from, to) from the hourly rollup.
func (db *DB) SensorBaseline(ctx context.Context, tenant, assetID, sensorID string, from, to time.Time) (Baseline, error) {
	var b Baseline
	var sum, sq *float64
	err := db.Pool.QueryRow(ctx, `
		SELECT coalesce(sum(h.n), 0)::bigint, sum(h.sum), sum(h.sum_sq)
		FROM readings_hourly h JOIN sensors s ON s.key = h.sensor_key
		WHERE s.tenant_id = $1 AND s.asset_id = $2 AND s.id = $3 AND h.bucket >= $4 AND h.bucket < $5`,
		tenant, assetID, sensorID, from, to).Scan(&b.N, &sum, &sq)
	if err != nil {
		return b, fmt.Errorf("store: sensor baseline: %w", err)
	}
	if b.N > 1 && sum != nil && sq != nil {
		n := float64(b.N)
		b.Mean = *sum / n
		variance := (*sq - n*b.Mean*b.Mean) / (n - 1)
		if variance > 0 {
			b.Std = math.Sqrt(variance)
		}
	}
	return b, nil
}

// RecentPoints returns a sensor's last readings since a time, oldest first.
func (db *DB) RecentPoints(ctx context.Context, tenant, assetID, sensorID string, since time.Time, limit int) ([]Point, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT ts, value FROM (
			SELECT r.ts, r.value FROM readings r JOIN sensors s ON s.key = r.sensor_key
			WHERE s.tenant_id = $1 AND s.asset_id = $2 AND s.id = $3 AND r.ts >= $4
			ORDER BY r.ts DESC LIMIT $5) x
		ORDER BY ts`, tenant, assetID, sensorID, since, limit)
	if err != nil {
		return nil, fmt.Errorf("store: recent points: %w", err)
	}
	pts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Point, error) {
		var p Point
		return p, r.Scan(&p.TS, &p.Value)
	})
	if err != nil {
		return nil, fmt.Errorf("store: recent points: %w", err)
	}
	return pts, nil
}

// SensorOf returns a sensor by tenant, asset and id (owner role; for
// activities).
func (db *DB) SensorOf(ctx context.Context, tenant, assetID, sensorID string) (Sensor, error) {
	s, err := scanSensor(db.Pool.QueryRow(ctx, `SELECT `+sensorColumns+` FROM sensors WHERE tenant_id = $1 AND asset_id = $2 AND id = $3`, tenant, assetID, sensorID))
	return s, notFound(err, "sensor", assetID+"/"+sensorID)
}

// AssetOf returns an asset by tenant and id (owner role; for activities).
func (db *DB) AssetOf(ctx context.Context, tenant, assetID string) (Asset, error) {
	a, err := scanAsset(db.Pool.QueryRow(ctx, `SELECT `+assetColumns+` FROM assets WHERE tenant_id = $1 AND id = $2`, tenant, assetID))
	return a, notFound(err, "asset", assetID)
}
