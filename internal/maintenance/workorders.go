package maintenance

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
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

// TransitionError is returned for a status change the lifecycle forbids; it
// matches store.ErrConflict.
type TransitionError struct {
	From, To workorder.Status
	// Reason explains a refusal between statuses that are otherwise allowed
	// (such as unfinished checklist items).
	Reason string
}

// Error says which change was refused and, for a final status, that it is
// final, or else which changes are allowed.
func (e *TransitionError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("work order cannot become %s: %s", e.To, e.Reason)
	}
	if len(e.From.Next()) == 0 {
		return fmt.Sprintf("work order is %s, which is final", e.From)
	}
	return fmt.Sprintf("work order cannot go from %s to %s (allowed: %v)", e.From, e.To, e.From.Next())
}

// Unwrap makes errors.Is(err, store.ErrConflict) true.
func (e *TransitionError) Unwrap() error { return store.ErrConflict }

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

func insertWorkOrder(ctx context.Context, tx pgx.Tx, tenant string, w WorkOrder, onConflict string) (WorkOrder, error) {
	return scanWorkOrder(tx.QueryRow(ctx, `
		INSERT INTO work_orders (tenant_id, asset_id, incident_id, preventive_schedule_id, title, description, priority, status,
			required_skills, estimated_minutes, technician_id, scheduled_start, scheduled_end, deadline, late, checklist, parts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, `+scheduledSQL+`, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		`+onConflict+`
		RETURNING `+workOrderColumns,
		tenant, w.AssetID, nullIfEmpty(w.IncidentID), nullIfEmpty(w.PreventiveScheduleID), w.Title, w.Description, w.Priority,
		w.RequiredSkills, w.EstimatedMinutes, nullIfEmpty(w.TechnicianID), w.ScheduledStart, w.ScheduledEnd, w.Deadline, w.Late,
		w.Checklist, w.Parts))
}

// CreateWorkOrder inserts w as a scheduled work order (assigned when
// TechnicianID and the slot are set). ErrSlotTaken when the slot overlaps
// another open work order of the technician; store.ErrNotFound when the asset or
// technician does not exist.
func (s *Store) CreateWorkOrder(ctx context.Context, tenant string, w WorkOrder) (WorkOrder, error) {
	w.normalize()
	var out WorkOrder
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
func (s *Store) CreateWorkOrderForIncident(ctx context.Context, tenant string, w WorkOrder) (out WorkOrder, created bool, err error) {
	if w.IncidentID == "" {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for incident: %w: incident id is empty", store.ErrInvalid)
	}
	out, created, err = s.createWorkOrderOnce(ctx, tenant, w, `ON CONFLICT (tenant_id, incident_id) DO NOTHING`,
		`SELECT `+workOrderColumns+` FROM work_orders WHERE incident_id = $1`, w.IncidentID)
	if err != nil {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for incident %q: %w", w.IncidentID, err)
	}
	return out, created, nil
}

// CreateWorkOrderForSchedule inserts w unless the preventive schedule
// w.PreventiveScheduleID already has an open (scheduled or in progress)
// work order, in which case that one is returned and created is false.
func (s *Store) CreateWorkOrderForSchedule(ctx context.Context, tenant string, w WorkOrder) (out WorkOrder, created bool, err error) {
	if uuid.Validate(w.PreventiveScheduleID) != nil {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for preventive schedule %q: %w", w.PreventiveScheduleID, store.ErrNotFound)
	}
	out, created, err = s.createWorkOrderOnce(ctx, tenant, w,
		`ON CONFLICT (tenant_id, preventive_schedule_id) WHERE `+openPreventive+` DO NOTHING`,
		`SELECT `+workOrderColumns+` FROM work_orders WHERE preventive_schedule_id = $1 AND `+openPreventive, w.PreventiveScheduleID)
	if err != nil {
		return WorkOrder{}, false, fmt.Errorf("store: create work order for preventive schedule %q: %w", w.PreventiveScheduleID, err)
	}
	return out, created, nil
}

// openPreventive is the predicate of the unique index that allows one open
// work order per preventive schedule (migration 008).
const openPreventive = `preventive_schedule_id IS NOT NULL AND status IN ` + workorder.OpenSQL

// createWorkOrderOnce inserts w with onConflict; when the insert yields no
// row, existing (one parameter, key) reads the work order that won.
func (s *Store) createWorkOrderOnce(ctx context.Context, tenant string, w WorkOrder, onConflict, existing, key string) (out WorkOrder, created bool, err error) {
	w.normalize()
	err = s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
func (s *Store) WorkOrderForIncident(ctx context.Context, tenant, incidentID string) (WorkOrder, error) {
	var out WorkOrder
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = scanWorkOrder(tx.QueryRow(ctx, `SELECT `+workOrderColumns+` FROM work_orders WHERE incident_id = $1`, incidentID))
		return err
	})
	return out, store.NotFound(err, "work order for incident", incidentID)
}

// GetWorkOrder returns the work order with id.
func (s *Store) GetWorkOrder(ctx context.Context, tenant, id string) (WorkOrder, error) {
	return store.GetByID(ctx, s.DB, tenant, "work order", id, `SELECT `+workOrderColumns+` FROM work_orders WHERE id = $1`, scanWorkOrder)
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
func (s *Store) ListWorkOrders(ctx context.Context, tenant string, f WorkOrderFilter, p store.Page) ([]WorkOrder, error) {
	for _, id := range []string{p.After, f.TechnicianID} {
		if id != "" && uuid.Validate(id) != nil {
			return nil, fmt.Errorf("store: list work orders: %w: %q is not an id", store.ErrInvalid, id)
		}
	}
	out := []WorkOrder{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
