package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

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
		rows, err := tx.Query(ctx, `
			SELECT `+workOrderColumns+` FROM work_orders
			WHERE status = `+scheduledSQL+`
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
