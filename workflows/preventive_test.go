package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/maintenance"
)

// TestPreventiveMaintenance: each due schedule is raised and announced once;
// a schedule that cannot be raised is reported and the others go on; a
// notice that cannot be sent does not undo the work order.
func TestPreventiveMaintenance(t *testing.T) {
	var m *activities.Maintenance
	var n *activities.Notifications
	e := newWorkflowEnv(PreventiveMaintenance, m, n)

	due := []maintenance.DuePreventive{
		{TenantID: "acme", Schedule: maintenance.PreventiveSchedule{ID: "s1", AssetID: "pump-1", Title: "Lubrication"}, Reason: "calendar: every 30 days"},
		{TenantID: "acme", Schedule: maintenance.PreventiveSchedule{ID: "s2", AssetID: "pump-2", Title: "Seal"}, Reason: "meter hours at 1688 h"},
		{TenantID: "rival", Schedule: maintenance.PreventiveSchedule{ID: "s3", AssetID: "fan-1", Title: "Belts"}, Reason: "calendar"},
		{TenantID: "rival", Schedule: maintenance.PreventiveSchedule{ID: "s4", AssetID: "fan-2", Title: "Filters"}, Reason: "calendar"},
	}
	var mu sync.Mutex
	var asked activities.DuePreventiveInput
	raises := map[string]int{}
	var notices []activities.NotifyInput
	e.OnActivity(m.DuePreventive, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DuePreventiveInput) ([]maintenance.DuePreventive, error) {
		asked = in
		return due, nil
	})
	e.OnActivity(m.RaisePreventive, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RaisePreventiveInput) (activities.WorkOrder, error) {
		mu.Lock()
		defer mu.Unlock()
		raises[in.Due.Schedule.ID]++
		switch in.Due.Schedule.ID {
		case "s1":
			start := in.Now.Add(time.Hour)
			return activities.WorkOrder{ID: "wo-1", Created: true, TechnicianID: "ada", Start: &start, End: &start, Priority: "medium"}, nil
		case "s2":
			if raises["s2"] == 1 {
				return activities.WorkOrder{}, errors.New("database restarting") // retried
			}
			return activities.WorkOrder{ID: "wo-2", Created: true, Priority: "high", Unassigned: "nobody has the skill seals"}, nil
		case "s3":
			return activities.WorkOrder{}, temporal.NewNonRetryableApplicationError("schedule deleted", "NotFound", nil)
		}
		return activities.WorkOrder{ID: "wo-4", Created: true, TechnicianID: "bob", Start: &in.Now, End: &in.Now, Priority: "low"}, nil
	})
	e.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NotifyInput) (activities.NotifyResult, error) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, in)
		if in.AssetID == "fan-2" {
			return activities.NotifyResult{}, temporal.NewNonRetryableApplicationError("no route to the relay", "Permanent", nil)
		}
		return activities.NotifyResult{Key: in.Key}, nil
	})

	e.ExecuteWorkflow(PreventiveMaintenance, PreventiveInput{Lead: 72 * time.Hour})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res PreventiveResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if asked.Lead != 72*time.Hour || asked.Now.IsZero() {
		t.Errorf("DuePreventive asked with %+v", asked)
	}
	if res.Due != 4 || len(res.Raised) != 3 || len(res.Failed) != 1 || raises["s3"] != 1 || raises["s2"] != 2 {
		t.Fatalf("result %+v after raises %v", res, raises)
	}
	want := []struct{ wo, notified, severity string }{
		{"wo-1", "preventive/wo-1/scheduled", "info"},
		{"wo-2", "preventive/wo-2/scheduled", "warning"}, // unassigned: someone must act
		{"wo-4", "", "info"},                             // the notice failed; the work order stands
	}
	for i, w := range want {
		r := res.Raised[i]
		if r.WorkOrder.ID != w.wo || r.Notified != w.notified || notices[i].Severity != w.severity || notices[i].TenantID != r.TenantID {
			t.Errorf("raised[%d] = %+v, notice %+v; want %s notified %q at %s", i, r, notices[i], w.wo, w.notified, w.severity)
		}
	}
	if len(notices) != 3 || notices[0].Subject != "Preventive maintenance scheduled on pump-1: Lubrication" {
		t.Errorf("notices %+v", notices)
	}
}
