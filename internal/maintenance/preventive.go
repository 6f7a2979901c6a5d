package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// PreventiveKind says what triggers a preventive schedule.
type PreventiveKind string

// The preventive schedule kinds.
const (
	// PreventiveCalendar is due every IntervalDays after it was last done.
	PreventiveCalendar PreventiveKind = "calendar"
	// PreventiveMeter is due every MeterInterval units of a cumulative
	// sensor (running hours, cycles, kilometres) after it was last done.
	PreventiveMeter PreventiveKind = "meter"
)

// PreventiveSchedule is recurring maintenance of an asset, the template of
// the work orders it raises.
type PreventiveSchedule struct {
	ID               string             `json:"id"`
	AssetID          string             `json:"asset_id"`
	Title            string             `json:"title"`
	Description      string             `json:"description"`
	Priority         workorder.Priority `json:"priority"`
	RequiredSkills   []string           `json:"required_skills"`
	EstimatedMinutes int                `json:"estimated_minutes"`
	Checklist        []string           `json:"checklist"`
	Parts            []Part             `json:"parts"`
	Kind             PreventiveKind     `json:"kind"`
	// IntervalDays is the calendar interval (kind calendar).
	IntervalDays *int `json:"interval_days,omitempty"`
	// SensorID is the asset's cumulative meter (kind meter).
	SensorID string `json:"sensor_id,omitempty"`
	// MeterInterval is the meter advance between services (kind meter).
	MeterInterval    *float64   `json:"meter_interval,omitempty"`
	LastDoneAt       *time.Time `json:"last_done_at,omitempty"`
	LastMeterReading *float64   `json:"last_meter_reading,omitempty"`
	Active           bool       `json:"active"`
	// NextDueAt is when a calendar schedule falls due: IntervalDays after it
	// was last done, or after it was created if never.
	NextDueAt *time.Time `json:"next_due_at,omitempty"`
	// NextDueReading is the meter reading at which a meter schedule falls
	// due: MeterInterval past the last service's reading (or past 0).
	NextDueReading *float64  `json:"next_due_reading,omitempty"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

const preventiveColumns = `id::text, asset_id, title, description, priority, required_skills, estimated_minutes, checklist, parts,
	kind, interval_days, coalesce(sensor_id, ''), meter_interval, last_done_at, last_meter_reading, active, created_at, updated_at`

func scanPreventive(row pgx.Row) (PreventiveSchedule, error) {
	return scanPreventiveAnd(row)
}

// scanPreventiveAnd scans preventiveColumns followed by extra columns.
func scanPreventiveAnd(row pgx.Row, extra ...any) (PreventiveSchedule, error) {
	var p PreventiveSchedule
	err := row.Scan(append([]any{&p.ID, &p.AssetID, &p.Title, &p.Description, &p.Priority, &p.RequiredSkills, &p.EstimatedMinutes,
		&p.Checklist, &p.Parts, &p.Kind, &p.IntervalDays, &p.SensorID, &p.MeterInterval, &p.LastDoneAt, &p.LastMeterReading,
		&p.Active, &p.CreatedAt, &p.UpdatedAt}, extra...)...)
	p.normalize()
	switch {
	case p.Kind == PreventiveCalendar && p.IntervalDays != nil:
		base := p.CreatedAt
		if p.LastDoneAt != nil {
			base = *p.LastDoneAt
		}
		due := base.AddDate(0, 0, *p.IntervalDays)
		p.NextDueAt = &due
	case p.Kind == PreventiveMeter && p.MeterInterval != nil:
		due := *p.MeterInterval
		if p.LastMeterReading != nil {
			due += *p.LastMeterReading
		}
		p.NextDueReading = &due
	}
	return p, err
}

func (p *PreventiveSchedule) normalize() {
	if p.RequiredSkills == nil {
		p.RequiredSkills = []string{}
	}
	if p.Checklist == nil {
		p.Checklist = []string{}
	}
	if p.Parts == nil {
		p.Parts = []Part{}
	}
	if p.Priority == "" {
		p.Priority = workorder.Medium
	}
}

// CreatePreventiveSchedule inserts p. store.ErrNotFound when the asset (or the
// meter sensor) does not exist; store.ErrInvalid when the kind's fields are
// inconsistent.
func (s *Store) CreatePreventiveSchedule(ctx context.Context, tenant string, p PreventiveSchedule) (PreventiveSchedule, error) {
	p.normalize()
	var out PreventiveSchedule
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = scanPreventive(tx.QueryRow(ctx, `
			INSERT INTO preventive_schedules (tenant_id, asset_id, title, description, priority, required_skills,
				estimated_minutes, checklist, parts, kind, interval_days, sensor_id, meter_interval, last_done_at,
				last_meter_reading, active)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
			RETURNING `+preventiveColumns,
			tenant, p.AssetID, p.Title, p.Description, p.Priority, p.RequiredSkills, p.EstimatedMinutes, p.Checklist, p.Parts,
			p.Kind, p.IntervalDays, nullIfEmpty(p.SensorID), p.MeterInterval, p.LastDoneAt, p.LastMeterReading, p.Active))
		return err
	})
	if err != nil {
		return PreventiveSchedule{}, fmt.Errorf("store: create preventive schedule: %w", store.MapError(err))
	}
	return out, nil
}

// UpdatePreventiveSchedule replaces the mutable fields of schedule p.ID (its
// asset cannot change).
func (s *Store) UpdatePreventiveSchedule(ctx context.Context, tenant string, p PreventiveSchedule) (PreventiveSchedule, error) {
	if uuid.Validate(p.ID) != nil {
		return PreventiveSchedule{}, fmt.Errorf("store: preventive schedule %q: %w", p.ID, store.ErrNotFound)
	}
	p.normalize()
	var out PreventiveSchedule
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = scanPreventive(tx.QueryRow(ctx, `
			UPDATE preventive_schedules SET title = $2, description = $3, priority = $4, required_skills = $5,
				estimated_minutes = $6, checklist = $7, parts = $8, kind = $9, interval_days = $10, sensor_id = $11,
				meter_interval = $12, last_done_at = $13, last_meter_reading = $14, active = $15, updated_at = now()
			WHERE id = $1
			RETURNING `+preventiveColumns,
			p.ID, p.Title, p.Description, p.Priority, p.RequiredSkills, p.EstimatedMinutes, p.Checklist, p.Parts,
			p.Kind, p.IntervalDays, nullIfEmpty(p.SensorID), p.MeterInterval, p.LastDoneAt, p.LastMeterReading, p.Active))
		return err
	})
	return out, store.NotFound(err, "preventive schedule", p.ID)
}

// GetPreventiveSchedule returns the preventive schedule with id.
func (s *Store) GetPreventiveSchedule(ctx context.Context, tenant, id string) (PreventiveSchedule, error) {
	return store.GetByID(ctx, s.DB, tenant, "preventive schedule", id, `SELECT `+preventiveColumns+` FROM preventive_schedules WHERE id = $1`, scanPreventive)
}

// ListPreventiveSchedules returns the preventive schedules ordered by asset
// and title, optionally of one asset.
func (s *Store) ListPreventiveSchedules(ctx context.Context, tenant, assetID string) ([]PreventiveSchedule, error) {
	out := []PreventiveSchedule{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+preventiveColumns+` FROM preventive_schedules
			WHERE $1 = '' OR asset_id = $1
			ORDER BY asset_id, title, id`, assetID)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (PreventiveSchedule, error) { return scanPreventive(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list preventive schedules: %w", err)
	}
	return out, nil
}

// DeletePreventiveSchedule removes a preventive schedule; the work orders it
// raised stay.
func (s *Store) DeletePreventiveSchedule(ctx context.Context, tenant, id string) error {
	return store.DeleteByID(ctx, s.DB, tenant, "preventive schedule", id, `DELETE FROM preventive_schedules WHERE id = $1`)
}

// OpenWorkOrderForSchedule returns the preventive schedule's scheduled or
// in-progress work order; store.ErrNotFound when it has none.
func (s *Store) OpenWorkOrderForSchedule(ctx context.Context, tenant, scheduleID string) (WorkOrder, error) {
	return store.GetByID(ctx, s.DB, tenant, "open work order of preventive schedule", scheduleID,
		`SELECT `+workOrderColumns+` FROM work_orders WHERE preventive_schedule_id = $1 AND `+openPreventive, scanWorkOrder)
}

// markPreventiveDone records in w's preventive schedule that the service
// was done when w was completed, with the meter's reading at that time, so
// the schedule's next due date or reading moves on.
func markPreventiveDone(ctx context.Context, tx pgx.Tx, w WorkOrder) error {
	_, err := tx.Exec(ctx, `
		UPDATE preventive_schedules p SET last_done_at = $2, updated_at = now(),
			last_meter_reading = CASE WHEN p.kind = 'meter' THEN coalesce((
				SELECT r.value FROM readings r JOIN sensors s ON s.key = r.sensor_key
				WHERE s.asset_id = p.asset_id AND s.id = p.sensor_id AND r.ts <= $2
				ORDER BY r.ts DESC LIMIT 1), p.last_meter_reading) ELSE p.last_meter_reading END
		WHERE p.id = $1`, w.PreventiveScheduleID, w.CompletedAt)
	if err != nil {
		return fmt.Errorf("mark preventive schedule %s done: %w", w.PreventiveScheduleID, err)
	}
	return nil
}
