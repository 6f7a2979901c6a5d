package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
)

// MaxPreventivePerRun bounds how many due preventive schedules one run of
// the preventive maintenance workflow raises; the rest wait for the next
// run, so a workflow history stays small.
const MaxPreventivePerRun = 500

// DuePreventiveInput asks which preventive schedules need a work order.
type DuePreventiveInput struct {
	Now time.Time
	// Lead raises work orders this long before the service falls due.
	Lead time.Duration
}

// DuePreventive lists, for every tenant, the active preventive schedules
// without an open work order that fall due within the lead time (see
// maintenance.Store.DuePreventiveSchedules), at most MaxPreventivePerRun. Read-only.
func (a *Maintenance) DuePreventive(ctx context.Context, in DuePreventiveInput) ([]maintenance.DuePreventive, error) {
	tenants, err := a.DB.ListTenants(ctx)
	if err != nil {
		return nil, err
	}
	out := []maintenance.DuePreventive{}
	for _, t := range tenants {
		due, err := a.Store.DuePreventiveSchedules(ctx, t.ID, in.Now, in.Lead)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: %w", t.ID, err)
		}
		out = append(out, due...)
		if len(out) >= MaxPreventivePerRun {
			return out[:MaxPreventivePerRun], nil
		}
	}
	return out, nil
}

// RaisePreventiveInput is a due preventive schedule to raise.
type RaisePreventiveInput struct {
	Due maintenance.DuePreventive
	Now time.Time
}

// RaisePreventive creates the due schedule's work order from its template,
// booked on the technician who can finish it first (see
// maintenance.Store.PlanWorkOrder). Idempotent: while the schedule has an
// open work order, that one is returned with Created false.
func (a *Maintenance) RaisePreventive(ctx context.Context, in RaisePreventiveInput) (WorkOrder, error) {
	planned, err := a.Store.PlanWorkOrder(ctx, in.Due.TenantID, in.Due.WorkOrder(), in.Now, a.Schedule)
	if err != nil {
		return WorkOrder{}, fmt.Errorf("plan preventive work order: %w", err)
	}
	return fromPlanned(planned), nil
}
