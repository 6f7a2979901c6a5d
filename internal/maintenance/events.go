package maintenance

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
)

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
func (s *Store) WorkOrderEvents(ctx context.Context, tenant, id string) ([]WorkOrderEvent, error) {
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("store: work order %q: %w", id, store.ErrNotFound)
	}
	out := []WorkOrderEvent{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
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
