package maintenance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Technician is a person who carries out work orders: their skills and their
// working calendar (weekly shifts in their time zone, dated absences).
type Technician struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Skills   []string `json:"skills"`
	TimeZone string   `json:"time_zone"`
	// Shifts is the weekly calendar in TimeZone.
	Shifts schedule.Week `json:"shifts"`
	// Exceptions are dated absences (leave, training, holidays).
	Exceptions []schedule.Absence `json:"exceptions"`
	// Active technicians are the only ones work is scheduled for.
	Active bool `json:"active"`
	// UserID is the user (internal/account) who is this technician, if
	// linked; set through the users API, not here.
	UserID    string    `json:"user_id,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Location loads the technician's time zone.
func (t Technician) Location() (*time.Location, error) {
	loc, err := time.LoadLocation(t.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("store: technician %s: time zone %q: %w", t.ID, t.TimeZone, err)
	}
	return loc, nil
}

// TechnicianFilter narrows ListTechnicians.
type TechnicianFilter struct {
	// Skill keeps technicians holding it.
	Skill string
	// ActiveOnly keeps active technicians.
	ActiveOnly bool
}

const technicianColumns = `id::text, name, email, skills, time_zone, shifts, exceptions, active, coalesce(user_id::text, ''), created_at, updated_at`

func scanTechnician(row pgx.Row) (Technician, error) {
	var t Technician
	err := row.Scan(&t.ID, &t.Name, &t.Email, &t.Skills, &t.TimeZone, &t.Shifts, &t.Exceptions, &t.Active, &t.UserID, &t.CreatedAt, &t.UpdatedAt)
	t.Skills, t.Exceptions = nonNil(t.Skills), nonNil(t.Exceptions)
	return t, err
}

// normalize fills the defaults that keep the columns' checks satisfied.
func (t *Technician) normalize() {
	t.Skills, t.Exceptions = nonNil(t.Skills), nonNil(t.Exceptions)
	t.TimeZone = cmp.Or(t.TimeZone, "UTC")
}

// CreateTechnician inserts t and returns it with its new id.
func (s *Store) CreateTechnician(ctx context.Context, tenant string, t Technician) (Technician, error) {
	t.normalize()
	out, err := queryRow(ctx, s.DB, tenant, scanTechnician, `
		INSERT INTO technicians (tenant_id, name, email, skills, time_zone, shifts, exceptions, active)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING `+technicianColumns, tenant, t.Name, t.Email, t.Skills, t.TimeZone, t.Shifts, t.Exceptions, t.Active)
	if err != nil {
		return Technician{}, fmt.Errorf("store: create technician: %w", store.MapError(err))
	}
	return out, nil
}

// UpdateTechnician replaces the mutable fields of technician t.ID.
func (s *Store) UpdateTechnician(ctx context.Context, tenant string, t Technician) (Technician, error) {
	if err := checkID("technician", t.ID); err != nil {
		return Technician{}, err
	}
	t.normalize()
	out, err := queryRow(ctx, s.DB, tenant, scanTechnician, `
		UPDATE technicians SET name = $2, email = $3, skills = $4, time_zone = $5, shifts = $6, exceptions = $7,
			active = $8, updated_at = now()
		WHERE id = $1
		RETURNING `+technicianColumns, t.ID, t.Name, t.Email, t.Skills, t.TimeZone, t.Shifts, t.Exceptions, t.Active)
	return out, store.NotFound(err, "technician", t.ID)
}

// GetTechnician returns the technician with id.
func (s *Store) GetTechnician(ctx context.Context, tenant, id string) (Technician, error) {
	return store.GetByID(ctx, s.DB, tenant, "technician", id, `SELECT `+technicianColumns+` FROM technicians WHERE id = $1`, scanTechnician)
}

// ListTechnicians returns technicians ordered by name, then id; p.After is
// the id of the last technician of the previous page.
func (s *Store) ListTechnicians(ctx context.Context, tenant string, f TechnicianFilter, p store.Page) ([]Technician, error) {
	if !optionalID(p.After) {
		return nil, fmt.Errorf("store: list technicians: %w: after must be a technician id", store.ErrInvalid)
	}
	return list(ctx, s.DB, tenant, "list technicians", scanTechnician, `
		SELECT `+technicianColumns+` FROM technicians
		WHERE ($1 = '' OR skills @> ARRAY[$1])
		  AND (NOT $2 OR active)
		  AND ($3 = '' OR (name, id) > (SELECT name, id FROM technicians WHERE id = $3::uuid))
		ORDER BY name, id LIMIT $4`, f.Skill, f.ActiveOnly, p.After, p.Size())
}

// DeleteTechnician removes a technician. A technician who has work orders
// cannot be deleted (store.ErrConflict): their history would lose its author, so
// deactivate them instead.
func (s *Store) DeleteTechnician(ctx context.Context, tenant, id string) error {
	err := store.DeleteByID(ctx, s.DB, tenant, "technician", id, `DELETE FROM technicians WHERE id = $1`)
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("store: technician %q has work orders; deactivate them instead: %w", id, store.ErrConflict)
	}
	return err
}

// SchedulingTechnicians returns the active technicians holding every skill,
// ready for the schedule package: their calendars and their bookings that
// overlap [from, to), the scheduled (not started) ones also as Movable.
func (s *Store) SchedulingTechnicians(ctx context.Context, tenant string, skills []string, from, to time.Time) ([]schedule.Technician, error) {
	out, err := inTenant(ctx, s.DB, tenant, func(tx pgx.Tx) ([]schedule.Technician, error) {
		return schedulingTechnicians(ctx, tx, skills, from, to, nil)
	})
	if err != nil {
		return nil, fmt.Errorf("store: scheduling technicians: %w", err)
	}
	return out, nil
}

// schedulingTechnicians is SchedulingTechnicians inside tx, leaving out the
// bookings of the work orders in exclude (those being planned again).
func schedulingTechnicians(ctx context.Context, tx pgx.Tx, skills []string, from, to time.Time, exclude []string) ([]schedule.Technician, error) {
	skills = nonNil(skills)
	techs, err := store.Collect(ctx, tx, scanTechnician, `SELECT `+technicianColumns+` FROM technicians WHERE active AND skills @> $1 ORDER BY id`, skills)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(techs))
	for i, t := range techs {
		ids[i] = t.ID
	}
	bookings, err := queryBookings(ctx, tx, from, to, ids, exclude)
	if err != nil {
		return nil, err
	}
	byTech := make(map[string][]schedule.Interval, len(techs))
	movable := make(map[string][]schedule.Movable)
	for _, b := range bookings {
		iv := schedule.Interval{Start: b.Start, End: b.End}
		byTech[b.TechnicianID] = append(byTech[b.TechnicianID], iv)
		if b.status == workorder.Scheduled {
			movable[b.TechnicianID] = append(movable[b.TechnicianID], schedule.Movable{ID: b.WorkOrderID, Interval: iv, Weight: b.priority.Weight()})
		}
	}
	out := make([]schedule.Technician, 0, len(techs))
	for _, t := range techs {
		loc, err := t.Location()
		if err != nil {
			return nil, err
		}
		out = append(out, schedule.Technician{
			ID: t.ID, Skills: t.Skills, Location: loc, Week: t.Shifts, Absences: t.Exceptions, Bookings: byTech[t.ID],
			Movable: movable[t.ID],
		})
	}
	return out, nil
}
