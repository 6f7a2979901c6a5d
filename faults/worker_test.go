package faults

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/chaos"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/smtptest"
	"github.com/smartmaint/smartmaint/internal/temporaltest"
)

const webhookSecret = "faults-webhook-secret"

// receiver is a local webhook (or Slack) endpoint that keeps what it gets.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	deliveries []string // X-Smartmaint-Delivery of each request
	bad        int      // requests whose signature did not verify
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if secret != "" {
			_, err = notify.VerifyRequest(r, []byte(secret))
		} else {
			_, err = io.ReadAll(r.Body)
		}
		rc.mu.Lock()
		rc.deliveries = append(rc.deliveries, r.Header.Get("X-Smartmaint-Delivery"))
		if err != nil {
			rc.bad++
		}
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.deliveries)
}

// plant is a tenant with assets, channels and a technician, over a stack
// with a real Temporal server and local email, webhook and Slack receivers.
type plant struct {
	*stack
	api     string
	mailbox *smtptest.Server
	webhook *receiver
	slack   *receiver
	tenant  string
	assets  []string
}

// newPlant sets tenant up. Tests sharing the Temporal server need tenants
// of their own: incident workflow ids are incident/<tenant>/<asset>.
func newPlant(t *testing.T, tenant string, assets ...string) *plant {
	t.Helper()
	p := &plant{stack: newStack(t), mailbox: smtptest.NewServer(t), webhook: newReceiver(t, webhookSecret), slack: newReceiver(t, ""),
		tenant: tenant, assets: assets}
	p.temporal = temporaltest.Server(t).Address()
	p.extra = []string{"SMTP_ADDR=" + p.mailbox.Addr}
	_, p.api = p.startAPI()
	p.key("admin", tenant, apikey.Admin)
	p.key("sensor", tenant, apikey.ReadingsWrite)
	allDay := [][]string{{"00:00", "24:00"}}
	week := map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}
	p.must(201, p.api, "admin", "POST", "/api/v1/technicians", map[string]any{"name": "Olga", "skills": []string{"mechanical"}, "time_zone": "UTC", "shifts": week})
	for _, ch := range []map[string]any{
		{"name": "ops mail", "kind": "email", "target": "ops@plant.test"},
		{"name": "cmms", "kind": "webhook", "target": p.webhook.URL, "secret": webhookSecret},
		{"name": "chat", "kind": "slack", "target": p.slack.URL},
	} {
		p.must(201, p.api, "admin", "POST", "/api/v1/notification-channels", ch)
	}
	// Approve every incident at once: the path runs straight through
	// validate → forecast → schedule → notify.
	p.must(200, p.api, "admin", "PUT", "/api/v1/incident-policy", map[string]any{
		"collect_window": "0s", "reject_below": 0, "auto_approve_at": 0, "approval_timeout": "1h",
		"escalation_stages": 0, "timeout_decision": "approve", "clear_after": "15m", "persistence_readings": 1, "min_severity": "warning",
	})
	t.Cleanup(func() {
		if t.Failed() {
			p.dump(t)
		}
	})
	for _, a := range assets {
		p.must(201, p.api, "admin", "POST", "/api/v1/assets", map[string]any{"id": a, "type": "milling-machine",
			"metadata": map[string]any{"required_skills": []string{"mechanical"}, "repair_minutes": 60}})
		p.must(201, p.api, "admin", "POST", "/api/v1/assets/"+a+"/sensors", map[string]any{"id": "torque", "unit": "Nm",
			"min_valid": 0, "max_valid": 200, "warn_high": 60, "alarm_high": 70})
	}
	return p
}

// dump logs where each incident stands, for a failed test.
func (p *plant) dump(t *testing.T) {
	r := p.call(p.api, "admin", "GET", "/api/v1/incidents", nil, nil)
	t.Logf("incidents: %d %s", r.code, r.body)
	c := temporaltest.Client(t)
	for _, a := range p.assets {
		d, err := c.DescribeWorkflowExecution(context.Background(), incident.WorkflowID(p.tenant, a), "")
		if err != nil {
			t.Logf("%s: describe: %v", a, err)
			continue
		}
		t.Logf("%s: workflow %s, pending activities %v, pending workflow task %v", a, d.GetWorkflowExecutionInfo().GetStatus(), d.GetPendingActivities(), d.GetPendingWorkflowTask())
	}
}

// raise posts readings past the alarm limit on every asset.
func (p *plant) raise() {
	now := time.Now().UTC().Add(-time.Second)
	var readings []map[string]any
	for _, a := range p.assets {
		for i := range 3 {
			readings = append(readings, map[string]any{"asset_id": a, "sensor_id": "torque", "ts": now.Add(time.Duration(i) * 100 * time.Millisecond), "value": 80 + i})
		}
	}
	p.must(201, p.api, "sensor", "POST", "/api/v1/readings", readings)
}

// incidents returns the tenant's incidents with status.
func (p *plant) incidents(status string) []map[string]any {
	return p.items("/api/v1/incidents?status=" + status)
}

// workOrders returns the work orders of asset.
func (p *plant) workOrders(asset string) []map[string]any {
	return p.items("/api/v1/work-orders?asset=" + asset)
}

// items returns the items of the listing at path, read as admin.
func (p *plant) items(path string) []map[string]any {
	out := p.must(200, p.api, "admin", "GET", path, nil)
	items, _ := out["items"].([]any)
	var list []map[string]any
	for _, it := range items {
		list = append(list, it.(map[string]any))
	}
	return list
}

// checkExactlyOnce: one work order per asset, and each channel got two
// messages per incident, once each: the incident's work-order notice
// (auto-approved incidents send no other) and the notice telling the
// technician, who has no address of her own, that the work was booked on
// her (maintenance.NoticeSender).
func (p *plant) checkExactlyOnce(t *testing.T) {
	t.Helper()
	n := 2 * len(p.assets)
	p.mailbox.Wait(n, 20*time.Second)
	eventually(t, 20*time.Second, "webhook and Slack messages", func() bool { return p.webhook.count() >= n && p.slack.count() >= n })
	time.Sleep(time.Second) // would-be duplicates arrive now
	for _, a := range p.assets {
		if wos := p.workOrders(a); len(wos) != 1 {
			t.Errorf("%s has %d work orders, want exactly 1: %v", a, len(wos), wos)
		}
	}
	if got := len(p.mailbox.Messages()); got != n {
		t.Errorf("%d emails for %d incidents, want two each", got, len(p.assets))
	}
	for name, rc := range map[string]*receiver{"webhook": p.webhook, "slack": p.slack} {
		rc.mu.Lock()
		seen := map[string]bool{}
		for _, d := range rc.deliveries {
			if d != "" && seen[d] {
				t.Errorf("%s got delivery %s twice", name, d)
			}
			seen[d] = true
		}
		if len(rc.deliveries) != n || rc.bad > 0 {
			t.Errorf("%s got %d messages (%d badly signed) for %d incidents, want two each", name, len(rc.deliveries), rc.bad, len(p.assets))
		}
		rc.mu.Unlock()
	}
}

// finish works every asset's order to done and waits for the incidents
// to resolve.
func (p *plant) finish(t *testing.T) {
	t.Helper()
	for _, a := range p.assets {
		id := p.workOrders(a)[0]["id"].(string)
		p.must(200, p.api, "admin", "PUT", "/api/v1/work-orders/"+id+"/status", map[string]any{"status": "in_progress"})
		p.must(200, p.api, "admin", "PATCH", "/api/v1/work-orders/"+id+"/checklist", map[string]any{"by": "olga",
			"items": []map[string]any{{"index": 0, "done": true}, {"index": 1, "done": true}, {"index": 2, "done": true}, {"index": 3, "done": true}}})
		p.must(200, p.api, "admin", "PUT", "/api/v1/work-orders/"+id+"/status", map[string]any{"status": "done"})
	}
	eventually(t, 60*time.Second, "every incident to resolve", func() bool { return len(p.incidents("resolved")) == len(p.assets) })
}

// TestWorkerKilledMidIncident kills the worker (SIGKILL) after an
// incident's work order was created but before the activity reported it —
// CHAOS_ACTIVITY_DELAY holds the result back — and starts another worker.
// Temporal retries the activity once its start-to-close timeout (1 min)
// passes; the retry finds the work order it made, so the incident ends with
// exactly one work order and one message per channel.
func TestWorkerKilledMidIncident(t *testing.T) {
	t.Parallel()
	p := newPlant(t, "killed", "mill-1")
	first := p.startWorker("worker-1", "CHAOS_ACTIVITY_DELAY=ScheduleWorkOrder=10m")
	p.raise()
	eventually(t, 90*time.Second, "the work order to exist while its activity is held", func() bool { return len(p.workOrders("mill-1")) > 0 })
	if got := p.incidents("scheduled"); len(got) != 0 {
		t.Fatalf("the incident is already scheduled; the delay did not hold the activity: %v", got)
	}
	first.kill()
	killed := time.Now()
	p.startWorker("worker-2")
	eventually(t, 150*time.Second, "the second worker to schedule the incident", func() bool { return len(p.incidents("scheduled")) == 1 })
	t.Logf("incident scheduled %s after the first worker was killed", time.Since(killed).Round(time.Second))
	p.checkExactlyOnce(t)
	p.finish(t)
}

// TestChaosActivityFailures runs three incidents on a worker whose
// activities fail 30–50% of their attempts (CHAOS_ACTIVITY_ERRORS), before
// or after doing their work. Every incident still finishes, exactly once.
func TestChaosActivityFailures(t *testing.T) {
	t.Parallel()
	p := newPlant(t, "chaos", "mill-1", "mill-2", "mill-3")
	p.startWorker("worker", "CHAOS_ACTIVITY_ERRORS=*=0.3,Notify=0.5,ScheduleWorkOrder=0.5")
	p.raise()
	eventually(t, 150*time.Second, "every incident to be scheduled despite the failures", func() bool { return len(p.incidents("scheduled")) == len(p.assets) })
	p.checkExactlyOnce(t)
	p.finish(t)

	// The failures did happen: activity attempts after the first carry
	// the injected error as their last failure.
	c := temporaltest.Client(t)
	injected := 0
	for _, a := range p.assets {
		it := c.GetWorkflowHistory(context.Background(), incident.WorkflowID(p.tenant, a), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			e, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			if s := e.GetActivityTaskStartedEventAttributes(); s != nil && s.GetAttempt() > 1 &&
				s.GetLastFailure().GetApplicationFailureInfo().GetType() == chaos.ErrorType {
				injected += int(s.GetAttempt()) - 1
			}
		}
	}
	t.Logf("%d activity attempts failed on purpose across %d incidents", injected, len(p.assets))
	if injected == 0 {
		t.Error("no injected failure shows in the histories; is CHAOS_ACTIVITY_ERRORS applied?")
	}
}
