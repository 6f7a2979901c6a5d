package maintenance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

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
	w.RequiredSkills, w.Checklist, w.Parts = nonNil(w.RequiredSkills), nonNil(w.Checklist), nonNil(w.Parts)
	w.Priority = cmp.Or(w.Priority, workorder.Medium)
}

// insertWorkOrder inserts w in tx and, when it is booked, notes the
// technician's assignment notice.
func insertWorkOrder(ctx context.Context, tx pgx.Tx, tenant string, w WorkOrder, onConflict string) (WorkOrder, error) {
	out, err := scanWorkOrder(tx.QueryRow(ctx, `
		INSERT INTO work_orders (tenant_id, asset_id, incident_id, preventive_schedule_id, title, description, priority, status,
			required_skills, estimated_minutes, technician_id, scheduled_start, scheduled_end, deadline, late, checklist, parts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, `+scheduledSQL+`, $8, $9, $10, $11, $12, $13, $14, $15, $16)
		`+onConflict+`
		RETURNING `+workOrderColumns,
		tenant, w.AssetID, nullIfEmpty(w.IncidentID), nullIfEmpty(w.PreventiveScheduleID), w.Title, w.Description, w.Priority,
		w.RequiredSkills, w.EstimatedMinutes, nullIfEmpty(w.TechnicianID), w.ScheduledStart, w.ScheduledEnd, w.Deadline, w.Late,
		w.Checklist, w.Parts))
	if err != nil {
		return out, err
	}
	return out, noteBookingChange(ctx, tx, tenant, nil, out, noticeOpts{})
}

// CreateWorkOrder inserts w as a scheduled work order (assigned when
// TechnicianID and the slot are set). ErrSlotTaken when the slot overlaps
// another open work order of the technician; store.ErrNotFound when the asset or
// technician does not exist.
func (s *Store) CreateWorkOrder(ctx context.Context, tenant string, w WorkOrder) (WorkOrder, error) {
	w.normalize()
	out, err := inTenant(ctx, s.DB, tenant, func(tx pgx.Tx) (WorkOrder, error) { return insertWorkOrder(ctx, tx, tenant, w, "") })
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
	if err = checkID("create work order for preventive schedule", w.PreventiveScheduleID); err != nil {
		return WorkOrder{}, false, err
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
	out, err := queryRow(ctx, s.DB, tenant, scanWorkOrder, `SELECT `+workOrderColumns+` FROM work_orders WHERE incident_id = $1`, incidentID)
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
		if !optionalID(id) {
			return nil, fmt.Errorf("store: list work orders: %w: %q is not an id", store.ErrInvalid, id)
		}
	}
	return list(ctx, s.DB, tenant, "list work orders", scanWorkOrder, `
		SELECT `+workOrderColumns+` FROM work_orders
		WHERE ($1 = '' OR status = $1)
		  AND ($2 = '' OR asset_id = $2)
		  AND ($3 = '' OR technician_id = nullif($3, '')::uuid)
		  AND ($4 = '' OR incident_id = $4)
		  AND ($5 = '' OR (created_at, id) < (SELECT created_at, id FROM work_orders WHERE id = nullif($5, '')::uuid))
		ORDER BY created_at DESC, id DESC LIMIT $6`,
		string(f.Status), f.AssetID, f.TechnicianID, f.IncidentID, p.After, p.Size())
}

// modifyWorkOrder locks work order id, lets change edit it (returning
// errNoChange to leave it as is) and writes the edited fields back.
func (s *Store) modifyWorkOrder(ctx context.Context, tenant, id string, change func(*WorkOrder) error) (WorkOrder, error) {
	if err := checkID("work order", id); err != nil {
		return WorkOrder{}, err
	}
	var out WorkOrder
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		w, err := scanWorkOrder(tx.QueryRow(ctx, `SELECT `+workOrderColumns+` FROM work_orders WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		before, booked := w.Status, bookingOf(w)
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
		if err == nil && before != workorder.Cancelled {
			err = noteBookingChange(ctx, tx, tenant, booked, out, noticeOpts{})
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

// UpdateWorkOrderStatus moves work order id to status to at now. Asking for
// the status it already has changes nothing and reports changed false (so a
// retried request is harmless). A change the lifecycle forbids, or finishing
// with unchecked checklist items, is a *TransitionError (store.ErrConflict).
func (s *Store) UpdateWorkOrderStatus(ctx context.Context, tenant, id string, to workorder.Status, now time.Time) (w WorkOrder, changed bool, err error) {
	w, err = s.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
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
// recording by and now on items that become done. store.ErrInvalid for an index
// out of range; store.ErrConflict once the work order is done or cancelled.
func (s *Store) UpdateChecklist(ctx context.Context, tenant, id string, updates []ChecklistUpdate, by string, now time.Time) (WorkOrder, error) {
	return s.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
		if !w.Status.Open() {
			return fmt.Errorf("%w: the checklist of a %s work order cannot change", store.ErrConflict, w.Status)
		}
		for _, u := range updates {
			if u.Index < 0 || u.Index >= len(w.Checklist) {
				return fmt.Errorf("%w: checklist item %d does not exist (the work order has %d)", store.ErrInvalid, u.Index, len(w.Checklist))
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

// SignOffWorkOrder records the acceptance of a done work order (so.At zero
// means now). store.ErrConflict when it is not done or already signed off.
func (s *Store) SignOffWorkOrder(ctx context.Context, tenant, id string, so SignOff) (WorkOrder, error) {
	if so.By == "" {
		return WorkOrder{}, fmt.Errorf("store: sign off: %w: who signs off is required", store.ErrInvalid)
	}
	if so.At.IsZero() {
		so.At = time.Now()
	}
	return s.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
		switch {
		case w.Status != workorder.Done:
			return fmt.Errorf("%w: only a done work order can be signed off; this one is %s", store.ErrConflict, w.Status)
		case w.SignOff != nil:
			return fmt.Errorf("%w: already signed off by %s at %s", store.ErrConflict, w.SignOff.By, w.SignOff.At.UTC().Format(time.RFC3339))
		}
		w.SignOff = &so
		return nil
	})
}

// AssignWorkOrder books a scheduled work order on technician techID for
// [start, end); late is recomputed from the deadline. ErrSlotTaken when it
// overlaps another open work order of the technician; store.ErrConflict once work
// has started.
func (s *Store) AssignWorkOrder(ctx context.Context, tenant, id, techID string, start, end time.Time) (WorkOrder, error) {
	if err := checkID("assign work order: technician", techID); err != nil {
		return WorkOrder{}, err
	}
	if !end.After(start) {
		return WorkOrder{}, fmt.Errorf("store: assign work order: %w: the slot must end after it starts", store.ErrInvalid)
	}
	return s.modifyWorkOrder(ctx, tenant, id, func(w *WorkOrder) error {
		if w.Status != workorder.Scheduled {
			return fmt.Errorf("%w: only a scheduled work order can be reassigned; this one is %s", store.ErrConflict, w.Status)
		}
		w.TechnicianID, w.ScheduledStart, w.ScheduledEnd = techID, &start, &end
		w.Late = w.Deadline != nil && end.After(*w.Deadline)
		return nil
	})
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

// WorkOrderEvents returns work order id's events, oldest first: the
// planners' history, without the technician notice outbox (EventNotice and
// its delivery records).
func (s *Store) WorkOrderEvents(ctx context.Context, tenant, id string) ([]WorkOrderEvent, error) {
	if err := checkID("work order", id); err != nil {
		return nil, err
	}
	return list(ctx, s.DB, tenant, "work order events", scanWorkOrderEvent, `
		SELECT work_order_id::text, at, event, message, details FROM work_order_events
		WHERE work_order_id = $1 AND event NOT IN ($2, $3, $4) ORDER BY at, id`, id, EventNotice, EventNoticeSent, EventNoticeFailed)
}

func scanWorkOrderEvent(row pgx.Row) (WorkOrderEvent, error) {
	var e WorkOrderEvent
	err := row.Scan(&e.WorkOrderID, &e.At, &e.Event, &e.Message, &e.Details)
	return e, err
}
