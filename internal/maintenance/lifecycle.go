package maintenance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// modifyWorkOrder locks work order id, lets change edit it (returning
// errNoChange to leave it as is) and writes the edited fields back.
func (s *Store) modifyWorkOrder(ctx context.Context, tenant, id string, change func(*WorkOrder) error) (WorkOrder, error) {
	if uuid.Validate(id) != nil {
		return WorkOrder{}, fmt.Errorf("store: work order %q: %w", id, store.ErrNotFound)
	}
	var out WorkOrder
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
	if uuid.Validate(techID) != nil {
		return WorkOrder{}, fmt.Errorf("store: assign work order: technician %q: %w", techID, store.ErrNotFound)
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
