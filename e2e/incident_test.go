package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/smtptest"
)

// receiver is a local webhook (or Slack) endpoint that keeps what it gets.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   []string
	delivery []string
	verify   []error
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		var err error
		if secret != "" {
			body, err = notify.VerifyRequest(r, []byte(secret))
		} else {
			body, err = io.ReadAll(r.Body)
		}
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(body))
		rc.delivery = append(rc.delivery, r.Header.Get("X-Smartmaint-Delivery"))
		rc.verify = append(rc.verify, err)
		rc.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() (bodies []string, errs []error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...), append([]error(nil), rc.verify...)
}

// TestIncidentEndToEnd: anomalous readings posted to the API open an
// incident; a person approves it over the API; the work order is booked on
// the qualified technician; email, webhook and Slack receivers each get the
// approval request and the work-order notice exactly once; finishing the
// work order resolves the incident; the maintenance log has every step.
func TestIncidentEndToEnd(t *testing.T) {
	mailbox := smtptest.NewServer(t)
	s := startStack(t, func(c *config.Config) { c.SMTPAddr = mailbox.Addr; c.SMTPFrom = "smartmaint <alerts@plant.test>" })
	s.key("admin", "acme", apikey.Admin)
	s.key("sensor", "acme", apikey.ReadingsWrite)
	s.key("operator", "acme", apikey.IncidentsDecide, apikey.ReadingsRead)
	s.key("rival", "rival", apikey.Admin)
	webhook := newReceiver(t, "s3cret-for-the-cmms-webhook")
	slack := newReceiver(t, "")

	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "mill-1", "type": "milling-machine",
		"metadata": map[string]any{"required_skills": []string{"mechanical"}, "repair_minutes": 90}})
	s.must(201, "admin", "POST", "/api/v1/assets/mill-1/sensors", map[string]any{"id": "torque", "unit": "Nm",
		"min_valid": 0, "max_valid": 200, "warn_high": 60, "alarm_high": 70})
	allDay := [][]string{{"00:00", "24:00"}}
	week := map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}
	s.must(201, "admin", "POST", "/api/v1/technicians", map[string]any{"name": "Ana", "skills": []string{"electrical"}, "time_zone": "UTC", "shifts": week})
	tech := s.must(201, "admin", "POST", "/api/v1/technicians", map[string]any{"name": "Olga", "skills": []string{"mechanical"}, "time_zone": "UTC", "shifts": week})
	for _, ch := range []map[string]any{
		{"name": "ops mail", "kind": "email", "target": "ops@plant.test"},
		{"name": "cmms", "kind": "webhook", "target": webhook.URL, "secret": "s3cret-for-the-cmms-webhook"},
		{"name": "chat", "kind": "slack", "target": slack.URL},
	} {
		s.must(201, "admin", "POST", "/api/v1/notification-channels", ch)
	}
	s.must(200, "admin", "PUT", "/api/v1/incident-policy", map[string]any{
		"collect_window": "1s", "reject_below": 0.2, "auto_approve_at": 0.99, "approval_timeout": "1h",
		"escalation_stages": 1, "timeout_decision": "reject", "clear_after": "15m", "persistence_readings": 3,
	})

	// Four readings past the alarm limit.
	now := time.Now().UTC().Add(-time.Second)
	s.must(201, "sensor", "POST", "/api/v1/readings", series("mill-1", "torque", now, 100*time.Millisecond, 4, func(i int) any { return 80 + i }))

	id := s.awaitingApproval("operator")
	inc := s.must(200, "operator", "GET", "/api/v1/incidents/"+id, nil)
	if field(inc, "state", "evidence", "anomalies") != 4.0 || field(inc, "incident", "severity") != "critical" {
		t.Errorf("incident = %v", inc)
	}
	// The other tenant sees nothing of it.
	if code, _ := s.call("rival", "GET", "/api/v1/incidents/"+id, nil); code != 404 {
		t.Errorf("rival reads the incident: %d", code)
	}
	if code, _ := s.call("rival", "POST", "/api/v1/incidents/"+id+"/decision", map[string]any{"action": "approve"}); code != 404 {
		t.Errorf("rival decides the incident: %d", code)
	}
	if code, _ := s.call("sensor", "POST", "/api/v1/incidents/"+id+"/decision", map[string]any{"action": "approve"}); code != 403 {
		t.Errorf("sensor key decides: %d", code)
	}
	s.must(422, "operator", "POST", "/api/v1/incidents/"+id+"/decision", map[string]any{"action": "perhaps"})
	s.must(404, "operator", "POST", "/api/v1/incidents/no-such-incident/decision", map[string]any{"action": "approve"})

	out := s.must(200, "operator", "POST", "/api/v1/incidents/"+id+"/decision", map[string]any{"action": "approve", "user": "olga", "comment": "torque confirmed on the spindle"})
	if field(out, "state", "decision", "user") != "olga" {
		t.Errorf("decision answer %v", out)
	}
	code, conflict := s.call("operator", "POST", "/api/v1/incidents/"+id+"/decision", map[string]any{"action": "reject", "user": "sam"})
	if code != 409 || field(conflict, "error", "code") != "already_decided" {
		t.Errorf("second decision: %d %v", code, conflict)
	}

	var wo map[string]any
	eventually(t, 30*time.Second, "the incident to be scheduled", func() bool {
		inc = s.must(200, "operator", "GET", "/api/v1/incidents/"+id, nil)
		return field(inc, "incident", "status") == "scheduled"
	})
	list := s.must(200, "operator", "GET", "/api/v1/work-orders?asset=mill-1", nil)
	items, _ := list["items"].([]any)
	if len(items) != 1 {
		t.Fatalf("work orders: %v", list)
	}
	wo = items[0].(map[string]any)
	if wo["incident_id"] != id || wo["technician_id"] != tech["id"] || wo["priority"] != "critical" || wo["estimated_minutes"] != 90.0 {
		t.Errorf("work order %v; want technician %v", wo, tech["id"])
	}

	// Every channel got the approval request, the work-order notice and
	// the notice of Olga's assignment (maintenance.NoticeSender) once.
	mails := mailbox.Wait(3, 20*time.Second)
	eventually(t, 20*time.Second, "three webhook and three Slack messages", func() bool {
		b1, _ := webhook.got()
		b2, _ := slack.got()
		return len(b1) >= 3 && len(b2) >= 3
	})
	time.Sleep(500 * time.Millisecond) // would-be duplicates arrive now
	if len(mailbox.Messages()) != 3 {
		t.Errorf("%d emails, want 3", len(mailbox.Messages()))
	}
	var subjects []string
	for _, m := range mails {
		subjects = append(subjects, m.Header.Get("Subject"))
	}
	if all := strings.Join(subjects, "|"); !strings.Contains(all, "approval needed") || !strings.Contains(all, "work order scheduled") ||
		!strings.Contains(all, "assigned to you") {
		t.Errorf("email subjects %v", subjects)
	}
	if mails[0].To[0] != "ops@plant.test" || mails[0].Header.Get("Message-Id") == "" {
		t.Errorf("email to %v, Message-Id %q", mails[0].To, mails[0].Header.Get("Message-Id"))
	}
	hooks, errs := webhook.got()
	if len(hooks) != 3 {
		t.Errorf("%d webhooks, want 3", len(hooks))
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("webhook %d signature: %v", i, err)
		}
	}
	if chats, _ := slack.got(); len(chats) != 3 || !strings.Contains(strings.Join(chats[1:], "|"), "mill-1") {
		t.Errorf("slack messages %v", chats)
	}

	// The technician works the order; the incident follows.
	s.must(200, "operator", "PUT", "/api/v1/work-orders/"+wo["id"].(string)+"/status", map[string]any{"status": "in_progress"})
	s.must(200, "operator", "PATCH", "/api/v1/work-orders/"+wo["id"].(string)+"/checklist", map[string]any{"by": "olga",
		"items": []map[string]any{{"index": 0, "done": true}, {"index": 1, "done": true}, {"index": 2, "done": true}, {"index": 3, "done": true}}})
	s.must(200, "operator", "PUT", "/api/v1/work-orders/"+wo["id"].(string)+"/status", map[string]any{"status": "done"})
	eventually(t, 30*time.Second, "the incident to be resolved", func() bool {
		inc = s.must(200, "operator", "GET", "/api/v1/incidents/"+id, nil)
		return field(inc, "incident", "status") == "resolved"
	})

	log := s.must(200, "operator", "GET", "/api/v1/assets/mill-1/log?incident="+id, nil)
	var got []string
	entries := log["items"].([]any)
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i].(map[string]any)
		got = append(got, fmt.Sprint(e["event"], "/", e["actor"]))
	}
	joined := strings.Join(got, " ")
	for _, want := range []string{"opened/system", "collected/system", "approval-requested/policy", "approved/olga", "forecast/system",
		"work-order-scheduled/system", "work-order-in_progress/key:operator", "work-order-done/key:operator", "resolved/system"} {
		if !strings.Contains(joined, want) {
			t.Errorf("maintenance log lacks %s: %s", want, joined)
		}
	}
}

// TestOneIncidentPerAssetUnderBurst: a burst of concurrent anomalous
// requests for one asset yields one incident workflow, joined by all.
func TestOneIncidentPerAssetUnderBurst(t *testing.T) {
	s := startStack(t, nil)
	s.key("admin", "acme", apikey.Admin)
	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "pump-7", "type": "pump"})
	s.must(201, "admin", "POST", "/api/v1/assets/pump-7/sensors", map[string]any{"id": "temp", "unit": "K", "alarm_high": 350})
	s.must(200, "admin", "PUT", "/api/v1/incident-policy", map[string]any{
		"collect_window": "3s", "reject_below": 0.1, "auto_approve_at": 0.99, "approval_timeout": "1h",
		"escalation_stages": 0, "timeout_decision": "reject", "clear_after": "15m", "persistence_readings": 3,
	})
	const requests = 40
	var wg sync.WaitGroup
	base := time.Now().UTC().Add(-time.Minute)
	for i := range requests {
		wg.Go(func() {
			code, out := s.call("admin", "POST", "/api/v1/readings", []map[string]any{
				{"asset_id": "pump-7", "sensor_id": "temp", "ts": base.Add(time.Duration(i) * time.Second), "value": 400},
			})
			if code != 201 {
				t.Errorf("ingest: %d %v", code, out)
			}
		})
	}
	wg.Wait()
	var items []any
	eventually(t, 30*time.Second, "the incident to hold all 40 anomalies", func() bool {
		out := s.must(200, "admin", "GET", "/api/v1/incidents?asset=pump-7", nil)
		items, _ = out["items"].([]any)
		return len(items) == 1 && items[0].(map[string]any)["anomalies"] == float64(requests)
	})
	// One workflow run for the asset in Temporal, too.
	ctx := context.Background()
	resp, err := s.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{
		Query: `WorkflowId = "incident/acme/pump-7"`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCount() != 1 {
		t.Errorf("%d workflow runs for the asset, want 1", resp.GetCount())
	}
}
