package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// ChecklistItem is one step of a work order.
type ChecklistItem struct {
	Text   string     `json:"text"`
	Done   bool       `json:"done"`
	DoneBy string     `json:"done_by,omitempty"`
	DoneAt *time.Time `json:"done_at,omitempty"`
}

// Part is a spare part or consumable a job needs.
type Part struct {
	PartNumber  string  `json:"part_number"`
	Description string  `json:"description,omitempty"`
	Quantity    float64 `json:"quantity"`
	Unit        string  `json:"unit,omitempty"`
}

// SignOff records who accepted finished work.
type SignOff struct {
	By   string    `json:"by"`
	At   time.Time `json:"at"`
	Note string    `json:"note,omitempty"`
}

// WorkOrder is a maintenance job on an asset.
type WorkOrder struct {
	ID      string `json:"id"`
	AssetID string `json:"asset_id"`
	// IncidentID is the incident the work order answers; at most one work
	// order per incident. Empty for manual and preventive work.
	IncidentID string `json:"incident_id,omitempty"`
	// PreventiveScheduleID is the preventive schedule that raised it.
	PreventiveScheduleID string             `json:"preventive_schedule_id,omitempty"`
	Title                string             `json:"title"`
	Description          string             `json:"description"`
	Priority             workorder.Priority `json:"priority"`
	Status               workorder.Status   `json:"status"`
	RequiredSkills       []string           `json:"required_skills"`
	EstimatedMinutes     int                `json:"estimated_minutes"`
	// TechnicianID is the assignee; empty while unassigned.
	TechnicianID   string     `json:"technician_id,omitempty"`
	ScheduledStart *time.Time `json:"scheduled_start,omitempty"`
	ScheduledEnd   *time.Time `json:"scheduled_end,omitempty"`
	Deadline       *time.Time `json:"deadline,omitempty"`
	// Late is set when the slot ends after the deadline.
	Late        bool            `json:"late"`
	Checklist   []ChecklistItem `json:"checklist"`
	Parts       []Part          `json:"parts"`
	SignOff     *SignOff        `json:"sign_off,omitempty"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	CompletedAt *time.Time      `json:"completed_at,omitempty"`
	CancelledAt *time.Time      `json:"cancelled_at,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	UpdatedAt   time.Time       `json:"updated_at"`
}

// Job is the schedule.Job for w, to be placed no earlier than earliest.
func (w WorkOrder) Job(earliest time.Time) schedule.Job {
	j := schedule.Job{
		ID: w.ID, Skills: w.RequiredSkills, Duration: time.Duration(w.EstimatedMinutes) * time.Minute,
		EarliestStart: earliest, Weight: w.Priority.Weight(),
	}
	if w.Deadline != nil {
		j.Deadline = *w.Deadline
	}
	return j
}

// ErrSlotTaken is returned when a booking would overlap another open work
// order of the same technician; it wraps ErrConflict.
var ErrSlotTaken = fmt.Errorf("%w: the technician is already booked in that slot", ErrConflict)

// TransitionError is returned for a status change the lifecycle forbids; it
// matches ErrConflict.
type TransitionError struct {
	From, To workorder.Status
	// Reason explains a refusal between statuses that are otherwise allowed
	// (such as unfinished checklist items).
	Reason string
}

func (e *TransitionError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("work order cannot become %s: %s", e.To, e.Reason)
	}
	if len(e.From.Next()) == 0 {
		return fmt.Sprintf("work order is %s, which is final", e.From)
	}
	return fmt.Sprintf("work order cannot go from %s to %s (allowed: %v)", e.From, e.To, e.From.Next())
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *TransitionError) Unwrap() error { return ErrConflict }

const workOrderColumns = `id::text, asset_id, coalesce(incident_id, ''), coalesce(preventive_schedule_id::text, ''), title, description,
	priority, status, required_skills, estimated_minutes, coalesce(technician_id::text, ''), scheduled_start, scheduled_end,
	deadline, late, checklist, parts, signed_off_by, signed_off_at, sign_off_note, started_at, completed_at, cancelled_at,
	created_at, updated_at`

func scanWorkOrder(row pgx.Row) (WorkOrder, error) {
	var w WorkOrder
	var signedBy, signNote *string
	var signedAt *time.Time
	err := row.Scan(&w.ID, &w.AssetID, &w.IncidentID, &w.PreventiveScheduleID, &w.Title, &w.Description,
		&w.Priority, &w.Status, &w.RequiredSkills, &w.EstimatedMinutes, &w.TechnicianID, &w.ScheduledStart, &w.ScheduledEnd,
		&w.Deadline, &w.Late, &w.Checklist, &w.Parts, &signedBy, &signedAt, &signNote, &w.StartedAt, &w.CompletedAt, &w.CancelledAt,
		&w.CreatedAt, &w.UpdatedAt)
	if signedBy != nil && signedAt != nil {
		w.SignOff = &SignOff{By: *signedBy, At: *signedAt}
		if signNote != nil {
			w.SignOff.Note = *signNote
		}
	}
	w.normalize()
	return w, err
}

func (w *WorkOrder) normalize() {
	if w.RequiredSkills == nil {
		w.RequiredSkills = []string{}
	}
	if w.Checklist == nil {
		w.Checklist = []ChecklistItem{}
	}
	if w.Parts == nil {
		w.Parts = []Part{}
	}
	if w.Priority == "" {
		w.Priority = workorder.Medium
	}
}

// mapBookingError turns an exclusion violation of the booking constraint into
// ErrSlotTaken and anything else through mapError.
func mapBookingError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23P01" || pgErr.Code == "40P01") {
		// 23P01: the exclusion constraint found an overlapping booking.
		// 40P01: two transactions booking overlapping slots at once can each
		// wait for the other's constraint check; PostgreSQL aborts one as a
		// deadlock and the other keeps the slot, so for the loser it is
		// the same answer.
		return ErrSlotTaken
	}
	return mapError(err)
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func insertWorkOrder(ctx context.Context, tx pgx.Tx, tenant string, w WorkOrder, onConflict string) (WorkOrder, error) {
	return scanWorkOrder(tx.QueryRow(ctx, `
		INSERT INTO work_orders (tenant_id, asset_id, incident_id, preventive_schedule_id, title, description, priority, status,
			required_skills, estimated_minutes, technician_id, scheduled_start, scheduled_end, deadline, late, checklist, parts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'scheduled', $8, $9, $10, $11, $12, $13, $14, $15, $16)
		`+onConflict+`
		RETURNING `+workOrderColumns,
		tenant, w.AssetID, nullIfEmpty(w.IncidentID), nullIfEmpty(w.PreventiveScheduleID), w.Title, w.Description, w.Priority,
		w.RequiredSkills, w.EstimatedMinutes, nullIfEmpty(w.TechnicianID), w.ScheduledStart, w.ScheduledEnd, w.Deadline, w.Late,
		w.Checklist, w.Parts))
}

// CreateWorkOrder inserts w as a scheduled work order (assigned when
// TechnicianID and the slot are set). ErrSlotTaken when the slot overlaps
// another open work order of the technician; ErrNotFound when the asset or
// technician does not exist.
func (db *DB) CreateWorkOrder(ctx context.Context, tenant string, w WorkOrder) (WorkOrder, error) {
	w.normalize()
	var out WorkOrder
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = insertWorkOrder(ctx, tx, tenant, w, "")
		return err
	})
	if err != nil {
		return WorkOrder{}, fmt.Errorf("store: create work order: %w", mapBookingError(err))
	}
	return out, nil
}

// CreateWorkOrderForIncident inserts w unless the incident w.IncidentID
// already has a work order, in which case that one is returned and created
// is false: a retried activity never makes two.
func (db *DB) CreateWorkOrderForIncident(ctx context.Context, tenant string, w WorkOrder) (out WorkOrder, created bool, err error) {
	if w.IncidentID == "" {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for incident: %w: incident id is empty", ErrInvalid)
	}
	out, created, err = db.createWorkOrderOnce(ctx, tenant, w, `ON CONFLICT (tenant_id, incident_id) DO NOTHING`,
		`SELECT `+workOrderColumns+` FROM work_orders WHERE incident_id = $1`, w.IncidentID)
	if err != nil {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for incident %q: %w", w.IncidentID, err)
	}
	return out, created, nil
}

// CreateWorkOrderForSchedule inserts w unless the preventive schedule
// w.PreventiveScheduleID already has an open (scheduled or in progress)
// work order, in which case that one is returned and created is false.
func (db *DB) CreateWorkOrderForSchedule(ctx context.Context, tenant string, w WorkOrder) (out WorkOrder, created bool, err error) {
	if uuid.Validate(w.PreventiveScheduleID) != nil {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for preventive schedule %q: %w", w.PreventiveScheduleID, ErrNotFound)
	}
	out, created, err = db.createWorkOrderOnce(ctx, tenant, w,
		`ON CONFLICT (tenant_id, preventive_schedule_id) WHERE `+openPreventive+` DO NOTHING`,
		`SELECT `+workOrderColumns+` FROM work_orders WHERE preventive_schedule_id = $1 AND `+openPreventive, w.PreventiveScheduleID)
	if err != nil {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for preventive schedule %q: %w", w.PreventiveScheduleID, err)
	}
	return out, created, nil
}

// openPreventive is the predicate of the unique index that allows one open
// work order per preventive schedule (migration 008).
const openPreventive = `preventive_schedule_id IS NOT NULL AND status IN ('scheduled', 'in_progress')`

// createWorkOrderOnce inserts w with onConflict; when the insert yields no
// row, existing (one parameter, key) reads the work order that won.
func (db *DB) createWorkOrderOnce(ctx context.Context, tenant string, w WorkOrder, onConflict, existing, key string) (out WorkOrder, created bool, err error) {
	w.normalize()
	err = db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = insertWorkOrder(ctx, tx, tenant, w, onConflict)
		if err == nil {
			created = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		out, err = scanWorkOrder(tx.QueryRow(ctx, existing, key))
		return err
	})
	if err != nil {
		return WorkOrder{}, false, mapBookingError(err)
	}
	return out, created, nil
}

// WorkOrderForIncident returns the work order of an incident.
func (db *DB) WorkOrderForIncident(ctx context.Context, tenant, incidentID string) (WorkOrder, error) {
	var out WorkOrder
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = scanWorkOrder(tx.QueryRow(ctx, `SELECT `+workOrderColumns+` FROM work_orders WHERE incident_id = $1`, incidentID))
		return err
	})
	return out, notFound(err, "work order for incident", incidentID)
}

// PlannedWorkOrder is the outcome of PlanWorkOrder.
type PlannedWorkOrder struct {
	WorkOrder WorkOrder `json:"work_order"`
	// Created is false when the incident already had this work order.
	Created bool `json:"created"`
	// Unassigned explains why no technician was booked (no one has the
	// skills, or no one is free within the horizon); empty when assigned.
	Unassigned string `json:"unassigned,omitempty"`
	// Displaced lists the work orders this one took the slot of (each has a
	// "displaced" event); empty for a work order returned again.
	Displaced []string `json:"displaced,omitempty"`
}

// planAttempts bounds how often PlanWorkOrder re-plans after losing a slot
// to a concurrent planner.
const planAttempts = 4

// PlanWorkOrder creates w booked on the technician who can finish it first
// (schedule.Assign over the active technicians with the skills and their
// open work orders), no earlier than now. When that slot is late, w may
// displace lower-priority work orders that have not started
// (schedule.AssignPreempting): in the same transaction they lose their slot,
// w takes it, they are booked again (schedule.Assign around the new
// booking, possibly unassigned) and each gets a "displaced" event
// (WorkOrderEvents). Work in progress is never displaced. When nobody can
// take it, the work order is created unassigned and Unassigned says why.
// With w.IncidentID
// set it is idempotent: an incident that already has a work order gets that
// one back, unchanged. So is it with w.PreventiveScheduleID: a schedule
// with an open work order gets that one back.
func (db *DB) PlanWorkOrder(ctx context.Context, tenant string, w WorkOrder, now time.Time, opts schedule.Options) (PlannedWorkOrder, error) {
	var existing WorkOrder
	var err error
	switch {
	case w.IncidentID != "":
		existing, err = db.WorkOrderForIncident(ctx, tenant, w.IncidentID)
	case w.PreventiveScheduleID != "":
		existing, err = db.OpenWorkOrderForSchedule(ctx, tenant, w.PreventiveScheduleID)
	default:
		err = ErrNotFound
	}
	if err == nil {
		return PlannedWorkOrder{WorkOrder: existing}, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return PlannedWorkOrder{}, err
	}
	w.normalize()
	job := w.Job(now)
	until := horizonEnd(w, now, opts.Horizon)
	for attempt := 1; ; attempt++ {
		techs, err := db.SchedulingTechnicians(ctx, tenant, w.RequiredSkills, now, until)
		if err != nil {
			return PlannedWorkOrder{}, err
		}
		plan := w
		var unassigned string
		a, err := schedule.AssignPreempting(job, techs, opts)
		switch {
		case errors.Is(err, schedule.ErrNoQualifiedTechnician), errors.Is(err, schedule.ErrNoSlot):
			unassigned = err.Error()
		case err != nil:
			return PlannedWorkOrder{}, fmt.Errorf("store: plan work order: %w: %w", ErrInvalid, err)
		default:
			plan.TechnicianID, plan.ScheduledStart, plan.ScheduledEnd, plan.Late = a.TechnicianID, &a.Start, &a.End, a.Late
		}
		var out PlannedWorkOrder
		switch {
		case len(a.Displaced) > 0:
			out, err = db.createDisplacing(ctx, tenant, plan, a.Displaced, now, opts)
		case w.IncidentID != "":
			out.WorkOrder, out.Created, err = db.CreateWorkOrderForIncident(ctx, tenant, plan)
		case w.PreventiveScheduleID != "":
			out.WorkOrder, out.Created, err = db.CreateWorkOrderForSchedule(ctx, tenant, plan)
		default:
			out.WorkOrder, err = db.CreateWorkOrder(ctx, tenant, plan)
			out.Created = err == nil
		}
		if errors.Is(err, ErrSlotTaken) && attempt < planAttempts {
			continue // a concurrent planner took the slot: plan again
		}
		if err != nil {
			return PlannedWorkOrder{}, err
		}
		if out.Created {
			out.Unassigned = unassigned
		}
		return out, nil
	}
}

// errAlreadyPlanned rolls back a displacing plan whose work order a
// concurrent attempt already created.
var errAlreadyPlanned = errors.New("work order already planned")

// createDisplacing inserts w, booked in a slot that the scheduled work
// orders displaced now overlap, and books those again. It locks the
// displaced work orders first and answers ErrSlotTaken, for the caller to
// plan again, when any of them has since started, moved or gone. An
// incident or preventive schedule that meanwhile got its work order gets
// that one back and nothing is displaced.
func (db *DB) createDisplacing(ctx context.Context, tenant string, w WorkOrder, displaced []string, now time.Time, opts schedule.Options) (PlannedWorkOrder, error) {
	out := PlannedWorkOrder{Created: true, Displaced: displaced}
	onConflict := ""
	switch {
	case w.IncidentID != "":
		onConflict = `ON CONFLICT (tenant_id, incident_id) DO NOTHING`
	case w.PreventiveScheduleID != "":
		onConflict = `ON CONFLICT (tenant_id, preventive_schedule_id) WHERE ` + openPreventive + ` DO NOTHING`
	}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+workOrderColumns+` FROM work_orders
			WHERE id = ANY ($1::uuid[]) AND status = 'scheduled' AND technician_id = $2::uuid
			  AND scheduled_start < $4 AND scheduled_end > $3
			ORDER BY id
			FOR UPDATE`, displaced, w.TechnicianID, *w.ScheduledStart, *w.ScheduledEnd)
		if err != nil {
			return err
		}
		moved, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkOrder, error) { return scanWorkOrder(r) })
		if err != nil {
			return err
		}
		if len(moved) != len(displaced) {
			return ErrSlotTaken // one started, moved or went since the calendar was read
		}
		if _, err := tx.Exec(ctx, `
			UPDATE work_orders SET technician_id = NULL, scheduled_start = NULL, scheduled_end = NULL, late = false, updated_at = now()
			WHERE id = ANY ($1::uuid[])`, displaced); err != nil {
			return err
		}
		out.WorkOrder, err = insertWorkOrder(ctx, tx, tenant, w, onConflict)
		if errors.Is(err, pgx.ErrNoRows) {
			return errAlreadyPlanned
		}
		if err != nil {
			return err
		}
		// The most urgent displaced work books its new slot first.
		slices.SortStableFunc(moved, func(a, b WorkOrder) int {
			if c := cmp.Compare(b.Priority.Weight(), a.Priority.Weight()); c != 0 {
				return c
			}
			return cmp.Compare(deadlineOf(a), deadlineOf(b))
		})
		for _, m := range moved {
			before := slotOf(m.TechnicianID, *m.ScheduledStart, *m.ScheduledEnd, m.Deadline)
			techs, err := schedulingTechnicians(ctx, tx, m.RequiredSkills, now, horizonEnd(m, now, opts.Horizon), nil)
			if err != nil {
				return err
			}
			details := map[string]any{"by_work_order_id": out.WorkOrder.ID, "by_priority": out.WorkOrder.Priority, "before": before}
			message := fmt.Sprintf("displaced from %s by %s work order %s (%s)", before.Start.UTC().Format(time.RFC3339),
				out.WorkOrder.Priority, out.WorkOrder.ID, out.WorkOrder.Title)
			a, err := schedule.Assign(m.Job(now), techs, opts)
			switch {
			case err != nil:
				details["unassigned"] = err.Error()
				message += "; no new slot: " + err.Error()
			default:
				after := slotOf(a.TechnicianID, a.Start, a.End, m.Deadline)
				details["after"] = after
				message += fmt.Sprintf("; booked again from %s", a.Start.UTC().Format(time.RFC3339))
				if err := setBooking(ctx, tx, m.ID, &a.TechnicianID, &a.Start, &a.End, a.Late); err != nil {
					return err
				}
			}
			if err := addWorkOrderEvent(ctx, tx, tenant, m.ID, now, EventDisplaced, message, details); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errAlreadyPlanned) {
		var existing WorkOrder
		if w.IncidentID != "" {
			existing, err = db.WorkOrderForIncident(ctx, tenant, w.IncidentID)
		} else {
			existing, err = db.OpenWorkOrderForSchedule(ctx, tenant, w.PreventiveScheduleID)
		}
		return PlannedWorkOrder{WorkOrder: existing}, err
	}
	if err != nil {
		return PlannedWorkOrder{}, fmt.Errorf("store: plan work order: %w", mapBookingError(err))
	}
	return out, nil
}

// setBooking books work order id on tech from start to end, or unbooks it
// when tech is nil.
func setBooking(ctx context.Context, tx pgx.Tx, id string, tech *string, start, end *time.Time, late bool) error {
	_, err := tx.Exec(ctx, `
		UPDATE work_orders SET technician_id = $2, scheduled_start = $3, scheduled_end = $4, late = $5, updated_at = now()
		WHERE id = $1`, id, tech, start, end, late)
	return err
}

// deadlineOf is w's deadline, or the far future without one.
func deadlineOf(w WorkOrder) int64 {
	if w.Deadline == nil {
		return 1 << 62
	}
	return w.Deadline.UnixNano()
}

// WorkOrderEvent is one entry of a work order's history that a planner,
// not a person, wrote: such as being displaced by more urgent work.
type WorkOrderEvent struct {
	WorkOrderID string         `json:"work_order_id"`
	At          time.Time      `json:"at"`
	Event       string         `json:"event"`
	Message     string         `json:"message"`
	Details     map[string]any `json:"details"`
}

// The work order events.
const (
	// EventDisplaced: more urgent work took the work order's slot; it was
	// booked again (details "after") or left unassigned ("unassigned").
	EventDisplaced = "displaced"
	// EventReplanned: a re-plan moved the work order.
	EventReplanned = "replanned"
)

func addWorkOrderEvent(ctx context.Context, tx pgx.Tx, tenant, id string, at time.Time, event, message string, details map[string]any) error {
	_, err := tx.Exec(ctx, `
		INSERT INTO work_order_events (tenant_id, work_order_id, at, event, message, details) VALUES ($1, $2, $3, $4, $5, $6)`,
		tenant, id, at, event, message, details)
	return err
}

// WorkOrderEvents returns work order id's events, oldest first.
func (db *DB) WorkOrderEvents(ctx context.Context, tenant, id string) ([]WorkOrderEvent, error) {
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("store: work order %q: %w", id, ErrNotFound)
	}
	out := []WorkOrderEvent{}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT work_order_id::text, at, event, message, details FROM work_order_events
			WHERE work_order_id = $1 ORDER BY at, id`, id)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkOrderEvent, error) {
			var e WorkOrderEvent
			err := r.Scan(&e.WorkOrderID, &e.At, &e.Event, &e.Message, &e.Details)
			return e, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: work order events: %w", err)
	}
	return out, nil
}

// GetWorkOrder returns the work order with id.
func (db *DB) GetWorkOrder(ctx context.Context, tenant, id string) (WorkOrder, error) {
	return GetByID(ctx, db, tenant, "work order", id, `SELECT `+workOrderColumns+` FROM work_orders WHERE id = $1`, scanWorkOrder)
}

// WorkOrderFilter narrows ListWorkOrders; empty fields match everything.
type WorkOrderFilter struct {
	Status       workorder.Status
	AssetID      string
	TechnicianID string
	IncidentID   string
}

// ListWorkOrders returns work orders newest first; p.After is the id of the
// last work order of the previous page.
func (db *DB) ListWorkOrders(ctx context.Context, tenant string, f WorkOrderFilter, p Page) ([]WorkOrder, error) {
	for _, id := range []string{p.After, f.TechnicianID} {
		if id != "" && uuid.Validate(id) != nil {
			return nil, fmt.Errorf("store: list work orders: %w: %q is not an id", ErrInvalid, id)
		}
	}
	out := []WorkOrder{}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+workOrderColumns+` FROM work_orders
			WHERE ($1 = '' OR status = $1)
			  AND ($2 = '' OR asset_id = $2)
			  AND ($3 = '' OR technician_id = nullif($3, '')::uuid)
			  AND ($4 = '' OR incident_id = $4)
			  AND ($5 = '' OR (created_at, id) < (SELECT created_at, id FROM work_orders WHERE id = nullif($5, '')::uuid))
			ORDER BY created_at DESC, id DESC LIMIT $6`,
			string(f.Status), f.AssetID, f.TechnicianID, f.IncidentID, p.After, p.Size())
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkOrder, error) { return scanWorkOrder(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: list work orders: %w", err)
	}
	return out, nil
}

// modifyWorkOrder locks work order id, lets change edit it (returning
// errNoChange to leave it as is) and writes the edited fields back.
func (db *DB) modifyWorkOrder(ctx context.Context, tenant, id string, change func(*WorkOrder) error) (WorkOrder, error) {
	if uuid.Validate(id) != nil {
		return WorkOrder{}, fmt.Errorf("store: work order %q: %w", id, ErrNotFound)
	}
	var out WorkOrder
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		w, err := scanWorkOrder(tx.QueryRow(ctx, `SELECT `+workOrderColumns+` FROM work_orders WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		before := w.Status
		if err := change(&w); err != nil {
			out = w
			return err
		}
		var by, note *string
		var at *time.Time
		if w.SignOff != nil {
			by, at, note = &w.SignOff.By, &w.SignOff.At, nullIfEmpty(w.SignOff.Note)
		}
		out, err = scanWorkOrder(tx.QueryRow(ctx, `
			UPDATE work_orders SET status = $2, technician_id = $3, scheduled_start = $4, scheduled_end = $5, late = $6,
				checklist = $7, signed_off_by = $8, signed_off_at = $9, sign_off_note = $10,
				started_at = $11, completed_at = $12, cancelled_at = $13, updated_at = now()
			WHERE id = $1
			RETURNING `+workOrderColumns,
			id, w.Status, nullIfEmpty(w.TechnicianID), w.ScheduledStart, w.ScheduledEnd, w.Late,
			w.Checklist, by, at, note, w.StartedAt, w.CompletedAt, w.CancelledAt))
		if err == nil && before != workorder.Done && out.Status == workorder.Done && out.PreventiveScheduleID != "" {
			err = markPreventiveDone(ctx, tx, out)
		}
		return err
	})
	if errors.Is(err, errNoChange) {
		return out, nil
	}
	if err != nil {
		return WorkOrder{}, fmt.Errorf("store: work order %q: %w", id, notFoundOr(err))
	}
	return out, nil
}

// errNoChange rolls a modification back without failing it.
var errNoChange = errors.New("no change")

func notFoundOr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var te *TransitionError
	if errors.As(err, &te) || errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid) {
		return err
	}
	return mapBookingError(err)
}

// UpdateWorkOrderStatus moves work order id to status to at now. Asking for
// the status it already has changes nothing and reports changed false (so a
// retried request is harmless). A change the lifecycle forbids, or finishing
// with unchecked checklist items, is a *TransitionError (ErrConflict).
func (db *DB) UpdateWorkOrderStatus(ctx context.Context, tenant, id string, to workorder.Status, now time.Time) (w WorkOrder, changed bool, err error) {
	w, err = db.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
		if w.Status == to {
			return errNoChange
		}
		if !slices.Contains(w.Status.Next(), to) {
			return &TransitionError{From: w.Status, To: to}
		}
		if to == workorder.Done {
			for i, item := range w.Checklist {
				if !item.Done {
					return &TransitionError{From: w.Status, To: to, Reason: fmt.Sprintf("checklist item %d (%q) is not done", i, item.Text)}
				}
			}
		}
		w.Status, changed = to, true
		switch to {
		case workorder.InProgress:
			w.StartedAt = &now
		case workorder.Done:
			w.CompletedAt = &now
		case workorder.Cancelled:
			w.CancelledAt = &now
		}
		return nil
	})
	return w, changed, err
}

// ChecklistUpdate sets the done flag of the checklist item at Index.
type ChecklistUpdate struct {
	Index int  `json:"index"`
	Done  bool `json:"done"`
}

// UpdateChecklist applies updates to the checklist of an open work order,
// recording by and now on items that become done. ErrInvalid for an index
// out of range; ErrConflict once the work order is done or cancelled.
func (db *DB) UpdateChecklist(ctx context.Context, tenant, id string, updates []ChecklistUpdate, by string, now time.Time) (WorkOrder, error) {
	return db.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
		if !w.Status.Open() {
			return fmt.Errorf("%w: the checklist of a %s work order cannot change", ErrConflict, w.Status)
		}
		for _, u := range updates {
			if u.Index < 0 || u.Index >= len(w.Checklist) {
				return fmt.Errorf("%w: checklist item %d does not exist (the work order has %d)", ErrInvalid, u.Index, len(w.Checklist))
			}
			item := &w.Checklist[u.Index]
			switch {
			case u.Done && !item.Done:
				item.Done, item.DoneBy, item.DoneAt = true, by, &now
			case !u.Done:
				item.Done, item.DoneBy, item.DoneAt = false, "", nil
			}
		}
		return nil
	})
}

// SignOffWorkOrder records the acceptance of a done work order (s.At zero
// means now). ErrConflict when it is not done or already signed off.
func (db *DB) SignOffWorkOrder(ctx context.Context, tenant, id string, s SignOff) (WorkOrder, error) {
	if s.By == "" {
		return WorkOrder{}, fmt.Errorf("store: sign off: %w: who signs off is required", ErrInvalid)
	}
	if s.At.IsZero() {
		s.At = time.Now()
	}
	return db.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
		switch {
		case w.Status != workorder.Done:
			return fmt.Errorf("%w: only a done work order can be signed off; this one is %s", ErrConflict, w.Status)
		case w.SignOff != nil:
			return fmt.Errorf("%w: already signed off by %s at %s", ErrConflict, w.SignOff.By, w.SignOff.At.UTC().Format(time.RFC3339))
		}
		w.SignOff = &s
		return nil
	})
}

// AssignWorkOrder books a scheduled work order on technician techID for
// [start, end); late is recomputed from the deadline. ErrSlotTaken when it
// overlaps another open work order of the technician; ErrConflict once work
// has started.
func (db *DB) AssignWorkOrder(ctx context.Context, tenant, id, techID string, start, end time.Time) (WorkOrder, error) {
	if uuid.Validate(techID) != nil {
		return WorkOrder{}, fmt.Errorf("store: assign work order: technician %q: %w", techID, ErrNotFound)
	}
	if !end.After(start) {
		return WorkOrder{}, fmt.Errorf("store: assign work order: %w: the slot must end after it starts", ErrInvalid)
	}
	return db.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
		if w.Status != workorder.Scheduled {
			return fmt.Errorf("%w: only a scheduled work order can be reassigned; this one is %s", ErrConflict, w.Status)
		}
		w.TechnicianID, w.ScheduledStart, w.ScheduledEnd = techID, &start, &end
		w.Late = w.Deadline != nil && end.After(*w.Deadline)
		return nil
	})
}

// Booking is time a technician is taken by an open work order.
type Booking struct {
	TechnicianID string    `json:"technician_id"`
	WorkOrderID  string    `json:"work_order_id"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`

	// status and priority tell the planner whether more urgent work may
	// displace the booking (schedulingTechnicians).
	status   workorder.Status
	priority workorder.Priority
}

// TechnicianBookings returns the bookings of open work orders overlapping
// [from, to), ordered by technician and start. An in-progress work order
// that overran its slot books its technician until from at least.
func (db *DB) TechnicianBookings(ctx context.Context, tenant string, from, to time.Time) ([]Booking, error) {
	var out []Booking
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = queryBookings(ctx, tx, from, to, nil, nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: technician bookings: %w", err)
	}
	return out, nil
}

// queryBookings reads the bookings overlapping [from, to) of the given
// technicians (all when techIDs is nil), leaving out the work orders in
// exclude, ordered by technician and start.
func queryBookings(ctx context.Context, tx pgx.Tx, from, to time.Time, techIDs, exclude []string) ([]Booking, error) {
	if exclude == nil {
		exclude = []string{}
	}
	// Sorted here rather than by PostgreSQL: that sort cost more than the
	// scan itself.
	rows, err := tx.Query(ctx, `
		SELECT technician_id::text, id::text, scheduled_start,
			CASE WHEN status = 'in_progress' THEN greatest(scheduled_end, $1) ELSE scheduled_end END AS booked_end,
			status, priority
		FROM work_orders
		WHERE technician_id IS NOT NULL AND status IN ('scheduled', 'in_progress')
		  AND scheduled_start < $2
		  AND (scheduled_end > $1 OR status = 'in_progress')
		  AND NOT (id = ANY ($3::uuid[]))
		  AND ($4::uuid[] IS NULL OR technician_id = ANY ($4::uuid[]))`, from, to, exclude, techIDs)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Booking, error) {
		var b Booking
		err := r.Scan(&b.TechnicianID, &b.WorkOrderID, &b.Start, &b.End, &b.status, &b.priority)
		return b, err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Booking) int {
		if c := strings.Compare(a.TechnicianID, b.TechnicianID); c != 0 {
			return c
		}
		return a.Start.Compare(b.Start)
	})
	return out, nil
}

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

// CreatePreventiveSchedule inserts p. ErrNotFound when the asset (or the
// meter sensor) does not exist; ErrInvalid when the kind's fields are
// inconsistent.
func (db *DB) CreatePreventiveSchedule(ctx context.Context, tenant string, p PreventiveSchedule) (PreventiveSchedule, error) {
	p.normalize()
	var out PreventiveSchedule
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
		return PreventiveSchedule{}, fmt.Errorf("store: create preventive schedule: %w", mapError(err))
	}
	return out, nil
}

// UpdatePreventiveSchedule replaces the mutable fields of schedule p.ID (its
// asset cannot change).
func (db *DB) UpdatePreventiveSchedule(ctx context.Context, tenant string, p PreventiveSchedule) (PreventiveSchedule, error) {
	if uuid.Validate(p.ID) != nil {
		return PreventiveSchedule{}, fmt.Errorf("store: preventive schedule %q: %w", p.ID, ErrNotFound)
	}
	p.normalize()
	var out PreventiveSchedule
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
	return out, notFound(err, "preventive schedule", p.ID)
}

// GetPreventiveSchedule returns the preventive schedule with id.
func (db *DB) GetPreventiveSchedule(ctx context.Context, tenant, id string) (PreventiveSchedule, error) {
	return GetByID(ctx, db, tenant, "preventive schedule", id, `SELECT `+preventiveColumns+` FROM preventive_schedules WHERE id = $1`, scanPreventive)
}

// ListPreventiveSchedules returns the preventive schedules ordered by asset
// and title, optionally of one asset.
func (db *DB) ListPreventiveSchedules(ctx context.Context, tenant, assetID string) ([]PreventiveSchedule, error) {
	out := []PreventiveSchedule{}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
func (db *DB) DeletePreventiveSchedule(ctx context.Context, tenant, id string) error {
	return DeleteByID(ctx, db, tenant, "preventive schedule", id, `DELETE FROM preventive_schedules WHERE id = $1`)
}

// ErrUnschedulable is returned when no technician can take a work order
// (nobody has the skills, or nobody is free within the horizon); it wraps
// ErrInvalid.
var ErrUnschedulable = fmt.Errorf("%w: no technician can take the work order", ErrInvalid)

// horizonEnd is the last instant a slot for w may end when planned from now.
func horizonEnd(w WorkOrder, now time.Time, horizon time.Duration) time.Time {
	if horizon <= 0 {
		horizon = schedule.DefaultHorizon
	}
	end := now
	if w.Deadline != nil && w.Deadline.After(end) {
		end = *w.Deadline
	}
	return end.Add(horizon)
}

// AutoAssignWorkOrder books a scheduled work order again on the technician
// who can finish it first from now, ignoring its current slot (it may keep
// it). ErrUnschedulable when nobody can take it; ErrConflict once work has
// started.
func (db *DB) AutoAssignWorkOrder(ctx context.Context, tenant, id string, now time.Time, opts schedule.Options) (WorkOrder, error) {
	if uuid.Validate(id) != nil {
		return WorkOrder{}, fmt.Errorf("store: work order %q: %w", id, ErrNotFound)
	}
	for attempt := 1; ; attempt++ {
		var out WorkOrder
		err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
			w, err := scanWorkOrder(tx.QueryRow(ctx, `SELECT `+workOrderColumns+` FROM work_orders WHERE id = $1 FOR UPDATE`, id))
			if err != nil {
				return err
			}
			if w.Status != workorder.Scheduled {
				return fmt.Errorf("%w: only a scheduled work order can be reassigned; this one is %s", ErrConflict, w.Status)
			}
			techs, err := schedulingTechnicians(ctx, tx, w.RequiredSkills, now, horizonEnd(w, now, opts.Horizon), []string{id})
			if err != nil {
				return err
			}
			a, err := schedule.Assign(w.Job(now), techs, opts)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrUnschedulable, err)
			}
			out, err = scanWorkOrder(tx.QueryRow(ctx, `
				UPDATE work_orders SET technician_id = $2, scheduled_start = $3, scheduled_end = $4, late = $5, updated_at = now()
				WHERE id = $1
				RETURNING `+workOrderColumns, id, a.TechnicianID, a.Start, a.End, a.Late))
			return err
		})
		if errors.Is(mapBookingError(err), ErrSlotTaken) && attempt < planAttempts {
			continue // a concurrent planner took the slot: plan again
		}
		if err != nil {
			return WorkOrder{}, fmt.Errorf("store: auto-assign work order %q: %w", id, notFoundOr(err))
		}
		return out, nil
	}
}

// Slot is where a work order is booked: technician and [Start, End).
type Slot struct {
	TechnicianID string        `json:"technician_id"`
	Start        time.Time     `json:"start"`
	End          time.Time     `json:"end"`
	Late         bool          `json:"late"`
	Lateness     time.Duration `json:"lateness_ns"`
}

// ReplanChange is a work order whose slot a re-plan moves.
type ReplanChange struct {
	WorkOrderID string             `json:"work_order_id"`
	Title       string             `json:"title"`
	Priority    workorder.Priority `json:"priority"`
	Deadline    *time.Time         `json:"deadline,omitempty"`
	// Before is nil for a work order that was unassigned.
	Before *Slot `json:"before,omitempty"`
	// After is nil when the plan could not place it; Unassigned says why.
	After      *Slot  `json:"after,omitempty"`
	Unassigned string `json:"unassigned,omitempty"`
}

// Replan is the outcome of ReplanWorkOrders.
type Replan struct {
	// Considered counts the scheduled, not yet started work orders.
	Considered int `json:"considered"`
	// WeightedLatenessBefore/After are Σ priority weight × lateness in hours
	// of the current and the proposed plan.
	WeightedLatenessBefore float64 `json:"weighted_lateness_before_hours"`
	WeightedLatenessAfter  float64 `json:"weighted_lateness_after_hours"`
	UnassignedBefore       int     `json:"unassigned_before"`
	UnassignedAfter        int     `json:"unassigned_after"`
	// Better is true when the proposal has fewer unassigned work orders, or
	// as many and less weighted lateness, or as much and earlier completion.
	Better bool `json:"better"`
	// Applied is true when the proposal was written.
	Applied     bool           `json:"applied"`
	Changes     []ReplanChange `json:"changes"`
	Evaluations int            `json:"evaluations"`
}

// replanWork bounds the scheduling work of one re-plan: about this many
// single-job assignments, spread over the local search's evaluations.
const replanWork = 20000

// ReplanWorkOrders plans every scheduled (not yet started, even when its
// slot has begun) work order of the tenant again, together (schedule.Plan:
// minimum total weighted lateness), around the bookings of work in
// progress; each work order it moves gets a "replanned" event. It writes the new plan when apply
// is set and the plan is better than the current one; otherwise it only
// reports the proposal. ErrSlotTaken when a concurrent booking collides at
// commit.
func (db *DB) ReplanWorkOrders(ctx context.Context, tenant string, now time.Time, opts schedule.Options, apply bool) (Replan, error) {
	var out Replan
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+workOrderColumns+` FROM work_orders
			WHERE status = 'scheduled'
			ORDER BY created_at, id
			FOR UPDATE`)
		if err != nil {
			return err
		}
		orders, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (WorkOrder, error) { return scanWorkOrder(r) })
		if err != nil {
			return err
		}
		out = Replan{Considered: len(orders), Changes: []ReplanChange{}}
		if len(orders) == 0 {
			return nil
		}
		ids := make([]string, len(orders))
		jobs := make([]schedule.Job, len(orders))
		until := now
		for i, w := range orders {
			ids[i], jobs[i] = w.ID, w.Job(now)
			if end := horizonEnd(w, now, opts.Horizon); end.After(until) {
				until = end
			}
		}
		techs, err := schedulingTechnicians(ctx, tx, nil, now, until, ids)
		if err != nil {
			return err
		}
		evals := max(10, min(schedule.DefaultMaxEvaluations, replanWork/len(orders)))
		plan, err := schedule.Plan(jobs, techs, schedule.PlanOptions{Options: opts, MaxEvaluations: evals})
		if err != nil {
			return err
		}
		out.Evaluations = plan.Evaluations

		var completionBefore, completionAfter float64
		for i, w := range orders {
			weight := w.Priority.Weight()
			var before, after *Slot
			if w.TechnicianID != "" && w.ScheduledStart != nil {
				before = slotOf(w.TechnicianID, *w.ScheduledStart, *w.ScheduledEnd, w.Deadline)
				out.WeightedLatenessBefore += weight * before.Lateness.Hours()
				completionBefore += weight * before.End.Sub(now).Hours()
			} else {
				out.UnassignedBefore++
			}
			change := ReplanChange{WorkOrderID: w.ID, Title: w.Title, Priority: w.Priority, Deadline: w.Deadline, Before: before}
			if p := plan.Jobs[i]; p.Err != nil {
				out.UnassignedAfter++
				change.Unassigned = p.Err.Error()
			} else {
				a := p.Assignment
				after = slotOf(a.TechnicianID, a.Start, a.End, w.Deadline)
				change.After = after
				completionAfter += weight * after.End.Sub(now).Hours()
			}
			out.WeightedLatenessAfter += weight * lateness(after)
			if !sameSlot(before, after) {
				out.Changes = append(out.Changes, change)
			}
		}
		const eps = 1e-9
		switch {
		case out.UnassignedAfter != out.UnassignedBefore:
			out.Better = out.UnassignedAfter < out.UnassignedBefore
		case out.WeightedLatenessAfter < out.WeightedLatenessBefore-eps:
			out.Better = true
		case out.WeightedLatenessAfter <= out.WeightedLatenessBefore+eps:
			out.Better = completionAfter < completionBefore-eps
		}
		if !apply || !out.Better || len(out.Changes) == 0 {
			return nil
		}
		// Moves may swap slots between work orders: check overlaps at commit.
		if _, err := tx.Exec(ctx, `SET CONSTRAINTS work_orders_no_double_booking DEFERRED`); err != nil {
			return err
		}
		for _, c := range out.Changes {
			var tech *string
			var start, end *time.Time
			late := false
			if c.After != nil {
				tech, start, end, late = &c.After.TechnicianID, &c.After.Start, &c.After.End, c.After.Late
			}
			if err := setBooking(ctx, tx, c.WorkOrderID, tech, start, end, late); err != nil {
				return err
			}
			message := "re-planned: unassigned (" + c.Unassigned + ")"
			if c.After != nil {
				message = "re-planned: booked from " + c.After.Start.UTC().Format(time.RFC3339)
			}
			if err := addWorkOrderEvent(ctx, tx, tenant, c.WorkOrderID, now, EventReplanned, message,
				map[string]any{"before": c.Before, "after": c.After}); err != nil {
				return err
			}
		}
		out.Applied = true
		return nil
	})
	if err != nil {
		return Replan{}, fmt.Errorf("store: replan work orders: %w", mapBookingError(err))
	}
	return out, nil
}

func slotOf(tech string, start, end time.Time, deadline *time.Time) *Slot {
	s := &Slot{TechnicianID: tech, Start: start, End: end}
	if deadline != nil && end.After(*deadline) {
		s.Late, s.Lateness = true, end.Sub(*deadline)
	}
	return s
}

func lateness(s *Slot) float64 {
	if s == nil {
		return 0
	}
	return s.Lateness.Hours()
}

func sameSlot(a, b *Slot) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.TechnicianID == b.TechnicianID && a.Start.Equal(b.Start) && a.End.Equal(b.End)
}
