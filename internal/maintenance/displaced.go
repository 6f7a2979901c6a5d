package maintenance

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Displacement is a work order that lost its slot to more urgent work
// (an EventDisplaced event), with the technician who had the slot, for
// telling them.
type Displacement struct {
	WorkOrderID string             `json:"work_order_id"`
	Title       string             `json:"title"`
	Priority    workorder.Priority `json:"priority"`
	At          time.Time          `json:"at"`
	// Message is the event's account: from when, by what, booked again
	// when.
	Message string `json:"message"`
	// Before is the lost slot; After the new one, nil when nobody could
	// take the work (Unassigned says why).
	Before     *Slot  `json:"before"`
	After      *Slot  `json:"after,omitempty"`
	Unassigned string `json:"unassigned,omitempty"`
	// TechnicianName and TechnicianEmail are those of the technician of
	// the lost slot (Before.TechnicianID); the email may be empty.
	TechnicianName  string `json:"technician_name,omitempty"`
	TechnicianEmail string `json:"technician_email,omitempty"`
}

// DisplacedBy lists the work orders that work order id displaced when it
// was planned (PlanWorkOrder), oldest first; empty when it displaced none.
// It reads the "displaced" events, so it answers the same however often
// it is asked.
func (s *Store) DisplacedBy(ctx context.Context, tenant, id string) ([]Displacement, error) {
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("store: work order %q: %w", id, store.ErrNotFound)
	}
	return list(ctx, s.DB, tenant, "work orders displaced by "+id, scanDisplacement, `
			SELECT e.work_order_id::text, w.title, w.priority, e.at, e.message, e.details,
			       coalesce(t.name, ''), coalesce(t.email, '')
			FROM work_order_events e
			JOIN work_orders w ON w.id = e.work_order_id
			LEFT JOIN technicians t ON t.id::text = e.details->'before'->>'technician_id'
			WHERE e.event = $1 AND e.details->>'by_work_order_id' = $2
			ORDER BY e.at, e.id`, EventDisplaced, id)
}

// scanDisplacement scans a row of DisplacedBy, the slots from the event's
// details.
func scanDisplacement(r pgx.Row) (Displacement, error) {
	var d Displacement
	var details []byte
	if err := r.Scan(&d.WorkOrderID, &d.Title, &d.Priority, &d.At, &d.Message, &details, &d.TechnicianName, &d.TechnicianEmail); err != nil {
		return d, err
	}
	var slots struct {
		Before     *Slot  `json:"before"`
		After      *Slot  `json:"after"`
		Unassigned string `json:"unassigned"`
	}
	if err := json.Unmarshal(details, &slots); err != nil {
		return d, err
	}
	d.Before, d.After, d.Unassigned = slots.Before, slots.After, slots.Unassigned
	return d, nil
}
