package maintenance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

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
func (s *Store) PlanWorkOrder(ctx context.Context, tenant string, w WorkOrder, now time.Time, opts schedule.Options) (PlannedWorkOrder, error) {
	var existing WorkOrder
	var err error
	switch {
	case w.IncidentID != "":
		existing, err = s.WorkOrderForIncident(ctx, tenant, w.IncidentID)
	case w.PreventiveScheduleID != "":
		existing, err = s.OpenWorkOrderForSchedule(ctx, tenant, w.PreventiveScheduleID)
	default:
		err = store.ErrNotFound
	}
	if err == nil {
		return PlannedWorkOrder{WorkOrder: existing}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return PlannedWorkOrder{}, err
	}
	w.normalize()
	job := w.Job(now)
	until := horizonEnd(w, now, opts.Horizon)
	for attempt := 1; ; attempt++ {
		techs, err := s.SchedulingTechnicians(ctx, tenant, w.RequiredSkills, now, until)
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
			return PlannedWorkOrder{}, fmt.Errorf("store: plan work order: %w: %w", store.ErrInvalid, err)
		default:
			plan.TechnicianID, plan.ScheduledStart, plan.ScheduledEnd, plan.Late = a.TechnicianID, &a.Start, &a.End, a.Late
		}
		var out PlannedWorkOrder
		switch {
		case len(a.Displaced) > 0:
			out, err = s.createDisplacing(ctx, tenant, plan, a.Displaced, now, opts)
		case w.IncidentID != "":
			out.WorkOrder, out.Created, err = s.CreateWorkOrderForIncident(ctx, tenant, plan)
		case w.PreventiveScheduleID != "":
			out.WorkOrder, out.Created, err = s.CreateWorkOrderForSchedule(ctx, tenant, plan)
		default:
			out.WorkOrder, err = s.CreateWorkOrder(ctx, tenant, plan)
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
func (s *Store) createDisplacing(ctx context.Context, tenant string, w WorkOrder, displaced []string, now time.Time, opts schedule.Options) (PlannedWorkOrder, error) {
	out := PlannedWorkOrder{Created: true, Displaced: displaced}
	onConflict := ""
	switch {
	case w.IncidentID != "":
		onConflict = `ON CONFLICT (tenant_id, incident_id) DO NOTHING`
	case w.PreventiveScheduleID != "":
		onConflict = `ON CONFLICT (tenant_id, preventive_schedule_id) WHERE ` + openPreventive + ` DO NOTHING`
	}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+workOrderColumns+` FROM work_orders
			WHERE id = ANY ($1::uuid[]) AND status = `+scheduledSQL+` AND technician_id = $2::uuid
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
			existing, err = s.WorkOrderForIncident(ctx, tenant, w.IncidentID)
		} else {
			existing, err = s.OpenWorkOrderForSchedule(ctx, tenant, w.PreventiveScheduleID)
		}
		return PlannedWorkOrder{WorkOrder: existing}, err
	}
	if err != nil {
		return PlannedWorkOrder{}, fmt.Errorf("store: plan work order: %w", mapBookingError(err))
	}
	return out, nil
}

// deadlineOf is w's deadline, or the far future without one.
func deadlineOf(w WorkOrder) int64 {
	if w.Deadline == nil {
		return 1 << 62
	}
	return w.Deadline.UnixNano()
}

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
// it). ErrUnschedulable when nobody can take it; store.ErrConflict once work has
// started.
func (s *Store) AutoAssignWorkOrder(ctx context.Context, tenant, id string, now time.Time, opts schedule.Options) (WorkOrder, error) {
	if uuid.Validate(id) != nil {
		return WorkOrder{}, fmt.Errorf("store: work order %q: %w", id, store.ErrNotFound)
	}
	for attempt := 1; ; attempt++ {
		var out WorkOrder
		err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
			w, err := scanWorkOrder(tx.QueryRow(ctx, `SELECT `+workOrderColumns+` FROM work_orders WHERE id = $1 FOR UPDATE`, id))
			if err != nil {
				return err
			}
			if w.Status != workorder.Scheduled {
				return fmt.Errorf("%w: only a scheduled work order can be reassigned; this one is %s", store.ErrConflict, w.Status)
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
