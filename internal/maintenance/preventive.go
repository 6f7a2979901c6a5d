package maintenance

import (
	"cmp"
	"context"
	"fmt"
	"time"

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
	p.RequiredSkills, p.Checklist, p.Parts = nonNil(p.RequiredSkills), nonNil(p.Checklist), nonNil(p.Parts)
	p.Priority = cmp.Or(p.Priority, workorder.Medium)
}

// CreatePreventiveSchedule inserts p. store.ErrNotFound when the asset (or the
// meter sensor) does not exist; store.ErrInvalid when the kind's fields are
// inconsistent.
func (s *Store) CreatePreventiveSchedule(ctx context.Context, tenant string, p PreventiveSchedule) (PreventiveSchedule, error) {
	p.normalize()
	out, err := queryRow(ctx, s.DB, tenant, scanPreventive, `
		INSERT INTO preventive_schedules (tenant_id, asset_id, title, description, priority, required_skills,
			estimated_minutes, checklist, parts, kind, interval_days, sensor_id, meter_interval, last_done_at,
			last_meter_reading, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		RETURNING `+preventiveColumns,
		tenant, p.AssetID, p.Title, p.Description, p.Priority, p.RequiredSkills, p.EstimatedMinutes, p.Checklist, p.Parts,
		p.Kind, p.IntervalDays, nullIfEmpty(p.SensorID), p.MeterInterval, p.LastDoneAt, p.LastMeterReading, p.Active)
	if err != nil {
		return PreventiveSchedule{}, fmt.Errorf("store: create preventive schedule: %w", store.MapError(err))
	}
	return out, nil
}

// UpdatePreventiveSchedule replaces the mutable fields of schedule p.ID (its
// asset cannot change).
func (s *Store) UpdatePreventiveSchedule(ctx context.Context, tenant string, p PreventiveSchedule) (PreventiveSchedule, error) {
	if err := checkID("preventive schedule", p.ID); err != nil {
		return PreventiveSchedule{}, err
	}
	p.normalize()
	out, err := queryRow(ctx, s.DB, tenant, scanPreventive, `
		UPDATE preventive_schedules SET title = $2, description = $3, priority = $4, required_skills = $5,
			estimated_minutes = $6, checklist = $7, parts = $8, kind = $9, interval_days = $10, sensor_id = $11,
			meter_interval = $12, last_done_at = $13, last_meter_reading = $14, active = $15, updated_at = now()
		WHERE id = $1
		RETURNING `+preventiveColumns,
		p.ID, p.Title, p.Description, p.Priority, p.RequiredSkills, p.EstimatedMinutes, p.Checklist, p.Parts,
		p.Kind, p.IntervalDays, nullIfEmpty(p.SensorID), p.MeterInterval, p.LastDoneAt, p.LastMeterReading, p.Active)
	return out, store.NotFound(err, "preventive schedule", p.ID)
}

// GetPreventiveSchedule returns the preventive schedule with id.
func (s *Store) GetPreventiveSchedule(ctx context.Context, tenant, id string) (PreventiveSchedule, error) {
	return store.GetByID(ctx, s.DB, tenant, "preventive schedule", id, `SELECT `+preventiveColumns+` FROM preventive_schedules WHERE id = $1`, scanPreventive)
}

// ListPreventiveSchedules returns the preventive schedules ordered by asset
// and title, optionally of one asset.
func (s *Store) ListPreventiveSchedules(ctx context.Context, tenant, assetID string) ([]PreventiveSchedule, error) {
	return list(ctx, s.DB, tenant, "list preventive schedules", scanPreventive, `
		SELECT `+preventiveColumns+` FROM preventive_schedules
		WHERE $1 = '' OR asset_id = $1
		ORDER BY asset_id, title, id`, assetID)
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

// MeterReading is the latest reading of a preventive schedule's meter and
// how fast the meter advances.
type MeterReading struct {
	Value float64   `json:"value"`
	At    time.Time `json:"at"`
	Unit  string    `json:"unit,omitempty"`
	// PerHour is the meter's advance per hour over up to the last 7 days of
	// readings; 0 when unknown (fewer than an hour of readings, or none
	// rising).
	PerHour float64 `json:"per_hour"`
}

// DuePreventive is a preventive schedule that needs a work order now.
type DuePreventive struct {
	TenantID string             `json:"tenant_id"`
	Schedule PreventiveSchedule `json:"schedule"`
	// Deadline is when the service falls due: the calendar date, or when
	// the meter reached (or is expected to reach) its due reading.
	Deadline time.Time `json:"deadline"`
	// Reason says why it is due, in words for the work order and notices.
	Reason string `json:"reason"`
	// Meter is the meter's latest reading (kind meter).
	Meter *MeterReading `json:"meter,omitempty"`
}

// meterRateWindow is how far back the meter's rate of advance is measured.
const meterRateWindow = 7 * 24 * time.Hour

// DuePreventiveSchedules returns tenant's active preventive schedules that
// have no open work order and fall due before now+lead: a calendar schedule
// by its next due date, a meter schedule when its meter has reached the due
// reading or, at its recent rate, will reach it within lead.
func (s *Store) DuePreventiveSchedules(ctx context.Context, tenant string, now time.Time, lead time.Duration) ([]DuePreventive, error) {
	scan := func(r pgx.Row) (DuePreventive, error) {
		var unit string
		var last, first *float64
		var lastAt, firstAt *time.Time
		p, err := scanPreventiveAnd(r, &unit, &last, &lastAt, &first, &firstAt)
		d := DuePreventive{TenantID: tenant, Schedule: p}
		if last != nil && lastAt != nil {
			d.Meter = &MeterReading{Value: *last, At: *lastAt, Unit: unit}
			if first != nil && firstAt != nil {
				if h := lastAt.Sub(*firstAt).Hours(); h >= 1 && *last > *first {
					d.Meter.PerHour = (*last - *first) / h
				}
			}
		}
		return d, err
	}
	out, err := inTenant(ctx, s.DB, tenant, func(tx pgx.Tx) ([]DuePreventive, error) {
		candidates, err := store.Collect(ctx, tx, scan, `
			WITH candidates AS (
				SELECT p.*, s.key AS meter_key, coalesce(s.unit, '') AS meter_unit
				FROM preventive_schedules p
				LEFT JOIN sensors s ON p.kind = 'meter' AND s.asset_id = p.asset_id AND s.id = p.sensor_id
				WHERE p.active AND NOT EXISTS (
					SELECT 1 FROM work_orders w WHERE w.preventive_schedule_id = p.id AND w.status IN `+workorder.OpenSQL+`)
			)
			SELECT `+preventiveColumns+`, meter_unit, latest.value, latest.ts, earliest.value, earliest.ts
			FROM candidates
			LEFT JOIN LATERAL (
				SELECT r.value, r.ts FROM readings r WHERE r.sensor_key = candidates.meter_key AND r.ts <= $1
				ORDER BY r.ts DESC LIMIT 1) latest ON true
			LEFT JOIN LATERAL (
				SELECT r.value, r.ts FROM readings r WHERE r.sensor_key = candidates.meter_key AND r.ts >= latest.ts - make_interval(secs => $2) AND r.ts <= latest.ts
				ORDER BY r.ts LIMIT 1) earliest ON true
			ORDER BY asset_id, title, id`, now, meterRateWindow.Seconds())
		if err != nil {
			return nil, err
		}
		due := []DuePreventive{}
		for _, d := range candidates {
			var ok bool
			if d.Deadline, d.Reason, ok = preventiveDue(d.Schedule, d.Meter, now, lead); ok {
				due = append(due, d)
			}
		}
		return due, nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: due preventive schedules: %w", err)
	}
	return out, nil
}

// preventiveDue decides whether p needs a work order at now, given lead
// time, and if so when the service falls due and why.
func preventiveDue(p PreventiveSchedule, meter *MeterReading, now time.Time, lead time.Duration) (time.Time, string, bool) {
	switch p.Kind {
	case PreventiveCalendar:
		if p.NextDueAt == nil || p.IntervalDays == nil || p.NextDueAt.After(now.Add(lead)) {
			return time.Time{}, "", false
		}
		since := "created " + p.CreatedAt.UTC().Format(time.DateOnly)
		if p.LastDoneAt != nil {
			since = "last done " + p.LastDoneAt.UTC().Format(time.DateOnly)
		}
		return *p.NextDueAt, fmt.Sprintf("calendar: every %d days, %s, due %s", *p.IntervalDays, since, p.NextDueAt.UTC().Format(time.DateOnly)), true
	case PreventiveMeter:
		if p.NextDueReading == nil || p.MeterInterval == nil || meter == nil {
			return time.Time{}, "", false
		}
		due := *p.NextDueReading
		reading := fmt.Sprintf("meter %s at %s (%s)", p.SensorID, quantity(meter.Value, meter.Unit), meter.At.UTC().Format(time.RFC3339))
		if p.LastMeterReading != nil && meter.Value < *p.LastMeterReading {
			// The meter went back: it was reset or replaced since the last
			// service. Count the interval from zero.
			due = *p.MeterInterval
			reading += fmt.Sprintf(", below the %s of the last service: counted from 0 as a reset meter", quantity(*p.LastMeterReading, meter.Unit))
		}
		every := fmt.Sprintf("every %s", quantity(*p.MeterInterval, meter.Unit))
		rate := ""
		if meter.PerHour > 0 {
			rate = fmt.Sprintf(", advancing %s a day", quantity(24*meter.PerHour, meter.Unit))
		}
		if meter.Value >= due {
			at := meter.At
			if meter.PerHour > 0 {
				at = meter.At.Add(-hours((meter.Value - due) / meter.PerHour))
			}
			return at, fmt.Sprintf("%s, %s: due at %s, reached%s", reading, every, quantity(due, meter.Unit), rate), true
		}
		if meter.PerHour <= 0 {
			return time.Time{}, "", false
		}
		eta := meter.At.Add(hours((due - meter.Value) / meter.PerHour))
		if eta.After(now.Add(lead)) {
			return time.Time{}, "", false
		}
		return eta, fmt.Sprintf("%s, %s: due at %s, expected %s%s", reading, every, quantity(due, meter.Unit),
			eta.UTC().Format(time.RFC3339), rate), true
	}
	return time.Time{}, "", false
}

// hours converts a (possibly huge) number of hours to a duration, capped
// at about 100 years.
func hours(h float64) time.Duration {
	const most = 100 * 365 * 24
	return time.Duration(min(h, most) * float64(time.Hour))
}

func quantity(v float64, unit string) string {
	if unit == "" {
		return fmt.Sprintf("%g", v)
	}
	return fmt.Sprintf("%g %s", v, unit)
}

// WorkOrder is the work order the schedule raises when due: its template
// with the deadline and the reason appended to the description.
func (d DuePreventive) WorkOrder() WorkOrder {
	p := d.Schedule
	deadline := d.Deadline
	desc := p.Description
	if desc != "" {
		desc += "\n\n"
	}
	desc += "Preventive maintenance (" + d.Reason + ")."
	items := make([]ChecklistItem, len(p.Checklist))
	for i, text := range p.Checklist {
		items[i] = ChecklistItem{Text: text}
	}
	return WorkOrder{
		AssetID: p.AssetID, PreventiveScheduleID: p.ID, Title: p.Title, Description: desc, Priority: p.Priority,
		RequiredSkills: p.RequiredSkills, EstimatedMinutes: p.EstimatedMinutes, Deadline: &deadline,
		Checklist: items, Parts: p.Parts,
	}
}
