package activities

import (
	"context"
	"errors"
	"fmt"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Orphan is an open incident as PostgreSQL holds it, with what a new
// workflow run needs to carry it on: its projection, the last
// maintenance-log sequence number, the tenant's policy and its work order.
// An incident becomes an orphan when its workflow is gone (a Temporal
// server that lost its history, a terminated run).
type Orphan struct {
	// Projection is the incident as the workflow last wrote it; its
	// Summary holds the evidence, validation, decision, forecast and the
	// escalation's progress.
	incident.Projection
	LogSeq int
	Policy incident.Policy
	// WorkOrder and WorkOrderStatus are the incident's work order as
	// booked and its status now; nil and empty when it has none.
	WorkOrder       *WorkOrder
	WorkOrderStatus workorder.Status
}

// LoadOrphan reads what carrying incident inc on needs.
func LoadOrphan(ctx context.Context, db *store.DB, inc incident.Projection) (*Orphan, error) {
	o := &Orphan{Projection: inc}
	var err error
	if o.LogSeq, err = db.LastLogSeq(ctx, inc.TenantID, inc.ID); err != nil {
		return nil, err
	}
	if o.Policy, err = db.IncidentPolicy(ctx, inc.TenantID); err != nil {
		return nil, err
	}
	if inc.WorkOrderID != nil {
		wo, err := (&maintenance.Store{DB: db}).GetWorkOrder(ctx, inc.TenantID, *inc.WorkOrderID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// Deleted with its asset's history: plan again.
		case err != nil:
			return nil, fmt.Errorf("orphan %s: %w", inc.ID, err)
		default:
			o.WorkOrder = &WorkOrder{ID: wo.ID, TechnicianID: wo.TechnicianID, Start: wo.ScheduledStart, End: wo.ScheduledEnd,
				Late: wo.Late, Priority: wo.Priority}
			if wo.Deadline != nil {
				o.WorkOrder.Deadline = *wo.Deadline
			}
			o.WorkOrderStatus = wo.Status
		}
	}
	return o, nil
}

// FindOrphanInput names the asset whose open incident a new run met.
type FindOrphanInput struct {
	TenantID string
	AssetID  string
	// Except is the new run's own incident id.
	Except string
}

// FindOrphan returns the asset's open incident other than in.Except, for a
// new incident run whose opening write met it, so the run can carry that
// incident on instead; nil when there is none (it was closed meanwhile).
func (a *Incidents) FindOrphan(ctx context.Context, in FindOrphanInput) (*Orphan, error) {
	inc, err := a.DB.OpenIncidentOf(ctx, in.TenantID, in.AssetID)
	if errors.Is(err, store.ErrNotFound) || err == nil && inc.ID == in.Except {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return LoadOrphan(ctx, a.DB, inc)
}
