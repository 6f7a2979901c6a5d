package maintenance

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

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
	var out []Booking
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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

// setBooking books work order id on tech from start to end, or unbooks it
// when tech is nil.
func setBooking(ctx context.Context, tx pgx.Tx, id string, tech *string, start, end *time.Time, late bool) error {
	_, err := tx.Exec(ctx, `
		UPDATE work_orders SET technician_id = $2, scheduled_start = $3, scheduled_end = $4, late = $5, updated_at = now()
		WHERE id = $1`, id, tech, start, end, late)
	return err
}
