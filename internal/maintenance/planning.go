package maintenance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

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
func (s *Store) TechnicianBookings(ctx context.Context, tenant string, from, to time.Time) ([]Booking, error) {
	out, err := inTenant(ctx, s.DB, tenant, func(tx pgx.Tx) ([]Booking, error) { return queryBookings(ctx, tx, from, to, nil, nil) })
	if err != nil {
		return nil, fmt.Errorf("store: technician bookings: %w", err)
	}
	return out, nil
}

// queryBookings reads the bookings overlapping [from, to) of the given
// technicians (all when techIDs is nil), leaving out the work orders in
// exclude, ordered by technician and start.
func queryBookings(ctx context.Context, tx pgx.Tx, from, to time.Time, techIDs, exclude []string) ([]Booking, error) {
	exclude = nonNil(exclude)
	// Sorted here rather than by PostgreSQL: that sort cost more than the
	// scan itself.
	out, err := store.Collect(ctx, tx, scanBooking, `
		SELECT technician_id::text, id::text, scheduled_start,
			CASE WHEN status = `+inProgressSQL+` THEN greatest(scheduled_end, $1) ELSE scheduled_end END AS booked_end,
			status, priority
		FROM work_orders
		WHERE technician_id IS NOT NULL AND status IN `+workorder.OpenSQL+`
		  AND scheduled_start < $2
		  AND (scheduled_end > $1 OR status = `+inProgressSQL+`)
		  AND NOT (id = ANY ($3::uuid[]))
		  AND ($4::uuid[] IS NULL OR technician_id = ANY ($4::uuid[]))`, from, to, exclude, techIDs)
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

func scanBooking(row pgx.Row) (Booking, error) {
	var b Booking
	err := row.Scan(&b.TechnicianID, &b.WorkOrderID, &b.Start, &b.End, &b.status, &b.priority)
	return b, err
}

// setBooking books work order id on tech from start to end, or unbooks it
// when tech is nil.
func setBooking(ctx context.Context, tx pgx.Tx, id string, tech *string, start, end *time.Time, late bool) error {
	_, err := tx.Exec(ctx, `
		UPDATE work_orders SET technician_id = $2, scheduled_start = $3, scheduled_end = $4, late = $5, updated_at = now()
		WHERE id = $1`, id, tech, start, end, late)
	return err
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
		moved, err := store.Collect(ctx, tx, scanWorkOrder, `
			SELECT `+workOrderColumns+` FROM work_orders
			WHERE id = ANY ($1::uuid[]) AND status = `+scheduledSQL+` AND technician_id = $2::uuid
			  AND scheduled_start < $4 AND scheduled_end > $3
			ORDER BY id
			FOR UPDATE`, displaced, w.TechnicianID, *w.ScheduledStart, *w.ScheduledEnd)
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
		// An incident's workflow tells the technician who lost the slot
		// (its displaced notice); other planning, the outbox. Whoever gains
		// a slot hears of it from the outbox.
		displacedOpts := noticeOpts{oldToldElsewhere: w.IncidentID != ""}
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
			rebooked := m
			rebooked.TechnicianID, rebooked.ScheduledStart, rebooked.ScheduledEnd = "", nil, nil
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
				rebooked.TechnicianID, rebooked.ScheduledStart, rebooked.ScheduledEnd = a.TechnicianID, &a.Start, &a.End
			}
			if err := noteBookingChange(ctx, tx, tenant, bookingOf(m), rebooked, displacedOpts); err != nil {
				return err
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
	if err := checkID("work order", id); err != nil {
		return WorkOrder{}, err
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
			if err != nil {
				return err
			}
			return noteBookingChange(ctx, tx, tenant, bookingOf(w), out, noticeOpts{})
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
func (s *Store) ReplanWorkOrders(ctx context.Context, tenant string, now time.Time, opts schedule.Options, apply bool) (Replan, error) {
	var out Replan
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		orders, err := store.Collect(ctx, tx, scanWorkOrder, `
			SELECT `+workOrderColumns+` FROM work_orders
			WHERE status = `+scheduledSQL+`
			ORDER BY created_at, id
			FOR UPDATE`)
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
		byID := make(map[string]WorkOrder, len(orders))
		for _, w := range orders {
			byID[w.ID] = w
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
			w := byID[c.WorkOrderID]
			moved := w
			moved.TechnicianID, moved.ScheduledStart, moved.ScheduledEnd = "", start, end
			if tech != nil {
				moved.TechnicianID = *tech
			}
			if err := noteBookingChange(ctx, tx, tenant, bookingOf(w), moved, noticeOpts{}); err != nil {
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
