package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Maintenance plans work orders for approved incidents and due preventive
// schedules.
type Maintenance struct {
	// DB reads the assets and lists the tenants.
	DB *store.DB
	// Store plans and reads the work orders.
	Store *maintenance.Store
	// Schedule tunes the optimizer (horizon, load window).
	Schedule schedule.Options
}

// ScheduleInput describes the work an incident needs.
type ScheduleInput struct {
	TenantID    string
	AssetID     string
	IncidentID  string
	Title       string
	Description string
	Priority    workorder.Priority
	Deadline    time.Time
	Now         time.Time
}

// WorkOrder is the work order an incident got.
type WorkOrder struct {
	ID           string             `json:"id"`
	Created      bool               `json:"created"`
	TechnicianID string             `json:"technician_id,omitempty"`
	Start        *time.Time         `json:"start,omitempty"`
	End          *time.Time         `json:"end,omitempty"`
	Deadline     time.Time          `json:"deadline"`
	Late         bool               `json:"late"`
	Priority     workorder.Priority `json:"priority"`
	// Unassigned says why no technician was booked; empty when one was.
	Unassigned string `json:"unassigned,omitempty"`
	// Displaced lists the lower-priority work orders, not yet started, whose
	// slot this one took to meet its deadline; they were booked again and
	// their history says so (maintenance.Store.WorkOrderEvents).
	Displaced []string `json:"displaced,omitempty"`
	// Displacements are the displaced work orders with their old and new
	// slots and the technician who had the slot, for telling them; the
	// same on every attempt (maintenance.Store.DisplacedBy).
	Displacements []maintenance.Displacement `json:"displacements,omitempty"`
}

// Summary is a one-line description for logs and messages.
func (w WorkOrder) Summary() string {
	if w.TechnicianID == "" || w.Start == nil {
		return fmt.Sprintf("work order %s (priority %s, due %s) is unassigned: %s", w.ID, w.Priority, w.Deadline.Format(time.RFC3339), w.Unassigned)
	}
	late := ""
	if w.Late {
		late = " — LATE: the earliest slot ends after the deadline"
	}
	displaced := ""
	if n := max(len(w.Displaced), len(w.Displacements)); n > 0 {
		displaced = fmt.Sprintf(" (ahead of %d lower-priority work order(s), booked again later)", n)
	}
	return fmt.Sprintf("work order %s (priority %s) booked for technician %s from %s to %s, due %s%s%s",
		w.ID, w.Priority, w.TechnicianID, w.Start.Format(time.RFC3339), w.End.Format(time.RFC3339), w.Deadline.Format(time.RFC3339), late, displaced)
}

// Defaults when an asset's metadata does not say otherwise.
const (
	defaultRepairMinutes = 120
)

// repairMinutes is how long a repair of asset takes: its metadata's
// "repair_minutes", or defaultRepairMinutes.
func repairMinutes(asset store.Asset) int {
	if v, ok := asset.Metadata["repair_minutes"].(float64); ok && v >= 1 {
		return int(v)
	}
	return defaultRepairMinutes
}

// ScheduleWorkOrder creates the incident's work order on the technician who
// can finish it first before the deadline (see
// maintenance.Store.PlanWorkOrder), ahead of lower-priority work that has not
// started when that is what meets the deadline. The asset's metadata may
// name "required_skills" (a list) and "repair_minutes". A deadline sooner
// than now plus the repair's duration is moved to that instant. Idempotent: a
// retry returns the work order the first attempt created, and the work
// orders it displaced (Displacements, read from their "displaced" events,
// so a retry after the plan still lists them).
func (a *Maintenance) ScheduleWorkOrder(ctx context.Context, in ScheduleInput) (WorkOrder, error) {
	asset, err := a.DB.AssetOf(ctx, in.TenantID, in.AssetID)
	if err != nil {
		return WorkOrder{}, permanent(err) // an asset that is gone stays gone
	}
	minutes := repairMinutes(asset)
	var skills []string
	if list, ok := asset.Metadata["required_skills"].([]any); ok {
		for _, s := range list {
			if str, ok := s.(string); ok && str != "" {
				skills = append(skills, str)
			}
		}
	}
	deadline := in.Deadline
	if earliest := in.Now.Add(time.Duration(minutes) * time.Minute); !deadline.IsZero() && deadline.Before(earliest) {
		// A deadline sooner than the repair takes cannot be met by anyone.
		deadline = earliest
	}
	planned, err := a.Store.PlanWorkOrder(ctx, in.TenantID, maintenance.WorkOrder{
		AssetID: in.AssetID, IncidentID: in.IncidentID, Title: in.Title, Description: in.Description,
		Priority: in.Priority, RequiredSkills: skills, EstimatedMinutes: minutes, Deadline: &deadline,
		Checklist: []maintenance.ChecklistItem{
			{Text: "Isolate and lock out the machine"},
			{Text: "Inspect the components behind the anomalous sensors"},
			{Text: "Repair or replace what is worn"},
			{Text: "Test run and confirm readings are back in range"},
		},
	}, in.Now, a.Schedule)
	if err != nil {
		return WorkOrder{}, permanent(fmt.Errorf("plan work order: %w", err))
	}
	out := fromPlanned(planned)
	if out.TechnicianID != "" {
		if out.Displacements, err = a.Store.DisplacedBy(ctx, in.TenantID, out.ID); err != nil {
			return WorkOrder{}, err
		}
		if len(out.Displacements) == 0 {
			out.Displacements = nil
		}
	}
	return out, nil
}

// fromPlanned is the activity's account of a planned work order.
func fromPlanned(planned maintenance.PlannedWorkOrder) WorkOrder {
	wo := planned.WorkOrder
	out := WorkOrder{ID: wo.ID, Created: planned.Created, TechnicianID: wo.TechnicianID, Start: wo.ScheduledStart, End: wo.ScheduledEnd,
		Late: wo.Late, Priority: wo.Priority, Unassigned: planned.Unassigned, Displaced: planned.Displaced}
	if wo.Deadline != nil {
		out.Deadline = *wo.Deadline
	}
	if out.TechnicianID == "" && out.Unassigned == "" {
		out.Unassigned = "no technician was free (planned earlier)"
	}
	return out
}

// WorkOrderStatusInput names a work order.
type WorkOrderStatusInput struct {
	TenantID    string
	WorkOrderID string
}

// WorkOrderStatus returns a work order's status: the incident's fallback
// when a status-change signal was lost. Read-only.
func (a *Maintenance) WorkOrderStatus(ctx context.Context, in WorkOrderStatusInput) (workorder.Status, error) {
	wo, err := a.Store.GetWorkOrder(ctx, in.TenantID, in.WorkOrderID)
	if err != nil {
		return "", permanent(err)
	}
	return wo.Status, nil
}
