package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/workorder"
)

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
	out := []DuePreventive{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
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
			return err
		}
		candidates, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (DuePreventive, error) {
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
		})
		if err != nil {
			return err
		}
		for _, d := range candidates {
			var due bool
			if d.Deadline, d.Reason, due = preventiveDue(d.Schedule, d.Meter, now, lead); due {
				out = append(out, d)
			}
		}
		return nil
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
