package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/workers"
	"github.com/smartmaint/smartmaint/workflows"
)

// TestPreventiveMaintenanceEndToEnd: a calendar schedule that falls due
// within the lead time gets its work order from the scheduled workflow on
// the real Temporal server, booked on the qualified technician and
// announced once; running the schedule again raises nothing more; finishing
// the work order moves the schedule's next due date on.
func TestPreventiveMaintenanceEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	s.key("admin", "acme", apikey.Admin)
	webhook := newReceiver(t, "preventive-hook-secret")
	ctx := context.Background()

	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "pump-3", "type": "pump"})
	allDay := [][]string{{"00:00", "24:00"}}
	week := map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}
	tech := s.must(201, "admin", "POST", "/api/v1/technicians", map[string]any{"name": "Lena", "skills": []string{"lubrication"}, "time_zone": "UTC", "shifts": week})
	s.must(201, "admin", "POST", "/api/v1/notification-channels", map[string]any{"name": "cmms", "kind": "webhook", "target": webhook.URL,
		"secret": "preventive-hook-secret", "min_severity": "info"})
	lastDone := time.Now().UTC().Add(-29*24*time.Hour - 12*time.Hour)
	sched := s.must(201, "admin", "POST", "/api/v1/preventive-schedules", map[string]any{
		"asset_id": "pump-3", "title": "Monthly lubrication", "estimated_minutes": 45, "kind": "calendar", "interval_days": 30,
		"last_done_at": lastDone, "required_skills": []string{"lubrication"}, "checklist": []string{"Grease DE", "Grease NDE"},
	})

	h := s.temporal.ScheduleClient().GetHandle(ctx, workers.ScheduleID(s.cfg.TemporalTaskQueue, workflows.PreventiveMaintenanceScheduleID))
	runs := func() int64 {
		resp, err := s.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
			Query: "WorkflowType = 'PreventiveMaintenance' AND ExecutionStatus = 'Completed'",
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetCount()
	}
	// The start-up run has finished (it found nothing: the schedule did not
	// exist yet); now run it on demand, twice.
	eventually(t, 30*time.Second, "the start-up run", func() bool { return runs() >= 1 })
	for round := 1; round <= 2; round++ {
		before := runs()
		// ALLOW_ALL: the schedule may not have noticed yet that the last run
		// ended, and its own policy would skip the trigger.
		if err := h.Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, fmt.Sprintf("run %d", round), func() bool { return runs() > before })
	}

	list := s.must(200, "admin", "GET", "/api/v1/work-orders?asset=pump-3", nil)
	items, _ := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("work orders after two runs: %v", list)
	}
	wo := items[0].(map[string]any)
	if wo["preventive_schedule_id"] != sched["id"] || wo["technician_id"] != tech["id"] || wo["status"] != "scheduled" ||
		!strings.Contains(wo["description"].(string), "every 30 days") {
		t.Errorf("work order %v", wo)
	}
	// The work order's notice and that of the technician's assignment
	// (maintenance.NoticeSender), once each.
	eventually(t, 20*time.Second, "two webhook messages", func() bool { b, _ := webhook.got(); return len(b) >= 2 })
	time.Sleep(500 * time.Millisecond) // would-be duplicates arrive now
	bodies, errs := webhook.got()
	if len(bodies) != 2 || errs[0] != nil || errs[1] != nil || !strings.Contains(bodies[0]+bodies[1], "Monthly lubrication") ||
		!strings.Contains(bodies[0]+bodies[1], "assigned to you") {
		t.Errorf("webhook got %d messages %v (signature %v), want two", len(bodies), bodies, errs)
	}

	id := wo["id"].(string)
	s.must(200, "admin", "PUT", "/api/v1/work-orders/"+id+"/status", map[string]any{"status": "in_progress"})
	s.must(200, "admin", "PATCH", "/api/v1/work-orders/"+id+"/checklist", map[string]any{"by": "lena",
		"items": []map[string]any{{"index": 0, "done": true}, {"index": 1, "done": true}}})
	done := s.must(200, "admin", "PUT", "/api/v1/work-orders/"+id+"/status", map[string]any{"status": "done"})
	after := s.must(200, "admin", "GET", "/api/v1/preventive-schedules/"+sched["id"].(string), nil)
	if after["last_done_at"] != done["completed_at"] {
		t.Errorf("schedule last done %v, work order completed %v", after["last_done_at"], done["completed_at"])
	}
	next, err := time.Parse(time.RFC3339Nano, fmt.Sprint(after["next_due_at"]))
	if err != nil || next.Before(time.Now().Add(29*24*time.Hour)) {
		t.Errorf("next due %v (%v), want a month from now", after["next_due_at"], err)
	}
}
