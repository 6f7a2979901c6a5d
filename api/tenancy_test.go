package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// TestTenantIsolation: tenant acme fills every resource family over the
// API (and incidents and models the way their workflows do); the rival
// tenant, with an admin key, can neither read nor change any of it — it
// gets 404 or an empty list — and acme's data is unchanged afterwards.
func TestTenantIsolation(t *testing.T) {
	s := newFullServer(t, nil)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)

	// acme's data.
	s.seedMill(t) // asset mill-1 with sensor torque
	mustJSON := func(key, method, path, body string, want int) map[string]any {
		t.Helper()
		code, raw, _ := s.send(t, key, method, path, body, nil)
		if code != want {
			t.Fatalf("%s %s as %s = %d %s, want %d", method, path, key, code, raw, want)
		}
		var out map[string]any
		json.Unmarshal(raw, &out)
		return out
	}
	mustJSON("writer", "POST", "/api/v1/readings", "["+reading(now.Add(-time.Minute), 41)+","+reading(now.Add(-30*time.Second), 42)+"]", 201)
	tech := mustJSON("admin", "POST", "/api/v1/technicians", `{"name":"Ada","skills":["mech"],"time_zone":"UTC"}`, 201)["id"].(string)
	wo := mustJSON("admin", "POST", "/api/v1/work-orders", `{"asset_id":"mill-1","title":"Fix","estimated_minutes":60,"auto_assign":false}`, 201)["work_order"].(map[string]any)["id"].(string)
	channel := mustJSON("admin", "POST", "/api/v1/notification-channels", `{"name":"ops","kind":"webhook","target":"http://127.0.0.1:1/hook","secret":"s3cret-s3cret-s3cret"}`, 201)["id"].(string)
	preventive := mustJSON("admin", "POST", "/api/v1/preventive-schedules", `{"asset_id":"mill-1","title":"Oil","estimated_minutes":30,"kind":"calendar","interval_days":30}`, 201)["id"].(string)
	mustJSON("admin", "PUT", "/api/v1/incident-policy", `{"collect_window":"5s","reject_below":0.1,"auto_approve_at":0.5,"approval_timeout":"2h","escalation_stages":1,"timeout_decision":"reject","clear_after":"30m","persistence_readings":2,"min_severity":"major"}`, 200)
	closed := now.Add(-time.Minute)
	if err := s.db.RecordIncident(ctx, incident.Projection{TenantID: "acme", ID: "inc-1", AssetID: "mill-1", WorkflowID: "incident/acme/mill-1",
		Status: "closed", Resolution: "rejected", Severity: "major", Seq: 1, OpenedAt: now.Add(-time.Hour), UpdatedAt: closed, ClosedAt: &closed},
		[]store.LogEntry{{Seq: 1, At: now.Add(-time.Hour), Actor: "system", Event: "opened", Message: "opened"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.registry.Create(ctx, "acme", registry.NewVersion{Name: "mill-iforest", Kind: "iforest", Features: []string{"torque"}, CreatedBy: "test"}, []byte("model")); err != nil {
		t.Fatal(err)
	}

	// The rival reads nothing of it…
	empty := []string{
		"/api/v1/assets", "/api/v1/incidents", "/api/v1/technicians", "/api/v1/work-orders", "/api/v1/preventive-schedules",
		"/api/v1/notification-channels", "/api/v1/models",
	}
	for _, path := range empty {
		out := mustJSON("rival", "GET", path, "", 200)
		if items, _ := out["items"].([]any); len(items) != 0 {
			t.Errorf("rival GET %s lists acme's data: %v", path, items)
		}
	}
	hidden := []struct{ method, path, body string }{
		{"GET", "/api/v1/assets/mill-1", ""},
		{"GET", "/api/v1/assets/mill-1/sensors", ""},
		{"GET", "/api/v1/assets/mill-1/sensors/torque", ""},
		{"GET", "/api/v1/assets/mill-1/readings", ""},
		{"GET", "/api/v1/assets/mill-1/log", ""},
		{"GET", "/api/v1/incidents/inc-1", ""},
		{"GET", "/api/v1/technicians/" + tech, ""},
		{"GET", "/api/v1/technicians/" + tech + "/bookings", ""},
		{"GET", "/api/v1/work-orders/" + wo, ""},
		{"GET", "/api/v1/preventive-schedules/" + preventive, ""},
		{"GET", "/api/v1/notification-channels/" + channel, ""},
		{"GET", "/api/v1/models/mill-iforest/versions", ""},
		{"GET", "/api/v1/models/mill-iforest/versions/1", ""},
		{"GET", "/api/v1/models/mill-iforest/aliases/champion/history", ""},
		{"GET", "/api/v1/models/mill-iforest/aliases/champion/history?at=2100-01-01T00:00:00Z", ""},
		// …and changes nothing of it.
		{"PUT", "/api/v1/assets/mill-1", `{"type":"lathe","name":"taken over"}`},
		{"DELETE", "/api/v1/assets/mill-1/sensors/torque", ""},
		{"POST", "/api/v1/assets/mill-1/sensors", `{"id":"rpm","unit":"1/min"}`},
		{"POST", "/api/v1/incidents/inc-1/decision", `{"action":"approve"}`},
		{"PUT", "/api/v1/technicians/" + tech, `{"name":"Eve","skills":["mech"],"time_zone":"UTC"}`},
		{"PUT", "/api/v1/work-orders/" + wo + "/status", `{"status":"cancelled"}`},
		{"PATCH", "/api/v1/work-orders/" + wo + "/checklist", `{"by":"eve","items":[{"index":0,"done":true}]}`},
		{"POST", "/api/v1/work-orders/" + wo + "/sign-off", `{"by":"eve","note":"done"}`},
		{"PUT", "/api/v1/work-orders/" + wo + "/assignment", `{"auto":true}`},
		{"PUT", "/api/v1/notification-channels/" + channel, `{"name":"ops","kind":"webhook","target":"http://127.0.0.1:2/evil"}`},
		{"POST", "/api/v1/notification-channels/" + channel + "/test", `{}`},
		{"DELETE", "/api/v1/preventive-schedules/" + preventive, ""},
		{"POST", "/api/v1/models/mill-iforest/promote", `{"version":1,"alias":"champion","reason":"mine now"}`},
		{"POST", "/api/v1/models/mill-iforest/aliases/champion/rollback", ""},
		{"DELETE", "/api/v1/technicians/" + tech, ""},
		{"DELETE", "/api/v1/assets/mill-1", ""},
	}
	for _, h := range hidden {
		code, raw, _ := s.send(t, "rival", h.method, h.path, h.body, nil)
		if code != http.StatusNotFound {
			t.Errorf("rival %s %s = %d %s, want 404", h.method, h.path, code, raw)
		}
	}
	// Writing into acme's asset by id is refused too.
	code, raw, _ := s.send(t, "rival", "POST", "/api/v1/readings", reading(now, 99), nil)
	if code != http.StatusUnprocessableEntity {
		t.Errorf("rival readings for acme's sensor = %d %s, want 422", code, raw)
	}
	if code, raw, _ := s.send(t, "rival", "POST", "/api/v1/work-orders", `{"asset_id":"mill-1","title":"Sabotage","estimated_minutes":60,"auto_assign":false}`, nil); code < 400 || code >= 500 {
		t.Errorf("rival work order on acme's asset = %d %s, want a 4xx", code, raw)
	}
	if out := mustJSON("rival", "GET", "/api/v1/incident-policy", "", 200); out["min_severity"] == "major" {
		t.Errorf("rival sees acme's incident policy: %v", out)
	}

	// The same ids in the rival's own tenant are the rival's own.
	mustJSON("rival", "POST", "/api/v1/assets", `{"id":"mill-1","type":"press"}`, 201)
	mustJSON("rival", "POST", "/api/v1/assets/mill-1/sensors", `{"id":"torque","unit":"Nm"}`, 201)
	// (The sensor catalogue reloads a tenant at most once a second on a miss.)
	deadline := time.Now().Add(3 * time.Second)
	for {
		code, raw, _ := s.send(t, "rival", "POST", "/api/v1/readings", reading(now.Add(-10*time.Second), 7), nil)
		if code == 201 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rival readings for its own mill-1 = %d %s", code, raw)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// acme's data is as it was.
	if out := mustJSON("reader", "GET", "/api/v1/assets/mill-1", "", 200); out["type"] != "milling-machine" {
		t.Errorf("acme's asset changed: %v", out)
	}
	if n, err := s.db.CountReadings(ctx, "acme"); err != nil || n != 2 {
		t.Errorf("acme has %d readings (%v), want its 2", n, err)
	}
	series := mustJSON("reader", "GET", "/api/v1/assets/mill-1/readings?from="+now.Add(-time.Hour).Format(time.RFC3339), "", 200)["series"].([]any)
	if len(series) != 1 || !containsValue(series, 41) || containsValue(series, 7) {
		t.Errorf("acme's readings of mill-1: %v", series)
	}
	for _, path := range []string{"/api/v1/technicians/" + tech, "/api/v1/work-orders/" + wo, "/api/v1/notification-channels/" + channel,
		"/api/v1/preventive-schedules/" + preventive, "/api/v1/incidents/inc-1", "/api/v1/assets/mill-1/sensors/torque"} {
		mustJSON("admin", "GET", path, "", 200)
	}
	if out := mustJSON("admin", "GET", "/api/v1/work-orders/"+wo, "", 200); out["status"] != "scheduled" || out["signed_off_by"] != nil {
		t.Errorf("acme's work order changed: %v", out)
	}
	if out := mustJSON("admin", "GET", "/api/v1/incident-policy", "", 200); out["min_severity"] != "major" {
		t.Errorf("acme's incident policy changed: %v", out)
	}
	if out := mustJSON("reader", "GET", "/api/v1/models", "", 200); len(out["items"].([]any)) != 1 {
		t.Errorf("acme's models: %v", out)
	}
}

// containsValue reports whether any point of the series has value v.
func containsValue(series []any, v float64) bool {
	for _, s := range series {
		points, _ := s.(map[string]any)["points"].([]any)
		for _, p := range points {
			if m, ok := p.(map[string]any); ok && m["value"] == v {
				return true
			}
		}
	}
	return false
}
