package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// statusChanges records the work order status hook's calls.
type statusChanges struct {
	mu    sync.Mutex
	calls []string // tenant/id/status
}

func (s *statusChanges) record(_ context.Context, tenant string, wo maintenance.WorkOrder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, tenant+"/"+wo.ID+"/"+string(wo.Status))
}

func (s *statusChanges) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// maintenanceMonday is the fixed "now" of the maintenance API tests: Monday
// 2030-06-03 07:00 UTC.
var maintenanceMonday = time.Date(2030, 6, 3, 7, 0, 0, 0, time.UTC)

// newMaintenanceServer is the real router with the technician, work order
// and channel routes over a throwaway database. Keys: admin, reader
// (readings:read), decider (incidents:decide), writer (readings:write) and
// rival (admin of another tenant).
func newMaintenanceServer(t *testing.T) (*server, *statusChanges) {
	t.Helper()
	db, _ := testenv.DB(t)
	log := slog.New(slog.DiscardHandler)
	hook := &statusChanges{}
	routes := []api.Routes{
		&api.Catalog{DB: db},
		&api.Technicians{Store: &maintenance.Store{DB: db}},
		&api.WorkOrders{DB: db, Store: &maintenance.Store{DB: db}, OnStatusChange: hook.record, Now: func() time.Time { return maintenanceMonday }},
		&api.Channels{DB: db, Notifier: notify.New(db, notify.Config{}, log)},
	}
	h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, routes, nil)
	s := &server{Server: httptest.NewServer(h), db: db, keys: map[string]string{}}
	t.Cleanup(s.Close)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	s.key(t, "admin", "acme", apikey.Admin)
	s.key(t, "reader", "acme", apikey.ReadingsRead)
	s.key(t, "decider", "acme", apikey.IncidentsDecide)
	s.key(t, "writer", "acme", apikey.ReadingsWrite)
	s.key(t, "rival", "rival", apikey.Admin)
	if code, body, _ := s.do(t, "admin", "POST", "/api/v1/assets", "application/json", `{"id":"pump-1","type":"pump"}`); code != 201 {
		t.Fatalf("create asset: %d %v", code, body)
	}
	return s, hook
}

const officeWeek = `{"mon":[["08:00","16:00"]],"tue":[["08:00","16:00"]],"wed":[["08:00","16:00"]],"thu":[["08:00","16:00"]],"fri":[["08:00","16:00"]]}`

// mustCreate POSTs body as admin or decider and returns the "id" of the
// answer (or of its "work_order").
func (s *server) mustCreate(t *testing.T, key, path, body string) string {
	t.Helper()
	code, out, _ := s.do(t, key, "POST", path, "application/json", body)
	if code != http.StatusCreated {
		t.Fatalf("POST %s: %d %v", path, code, out)
	}
	if wo, ok := out["work_order"].(map[string]any); ok {
		out = wo
	}
	return out["id"].(string)
}

// expect checks an answer's status and, for errors, its code.
func expect(t *testing.T, what string, code int, body map[string]any, wantCode int, wantErr string) {
	t.Helper()
	if code != wantCode || (wantErr != "" && errCode(body) != wantErr) {
		t.Errorf("%s: %d %v, want %d %s", what, code, body, wantCode, wantErr)
	}
}

func TestTechniciansAPI(t *testing.T) {
	s, _ := newMaintenanceServer(t)
	const path = "/api/v1/technicians"
	ada := `{"name":"Ada","email":"ada@plant.example","skills":["mech","elec"],"time_zone":"Europe/Berlin","shifts":` + officeWeek +
		`,"exceptions":[{"from":"2030-08-01","to":"2030-08-14","reason":"leave"}]}`

	code, body, _ := s.do(t, "", "POST", path, "application/json", ada)
	expect(t, "no key", code, body, 401, "unauthenticated")
	code, body, _ = s.do(t, "reader", "POST", path, "application/json", ada)
	expect(t, "reader creates", code, body, 403, "forbidden")
	for name, bad := range map[string]string{
		"bad time zone":       `{"name":"A","time_zone":"Mars/Olympus"}`,
		"no name":             `{"name":" "}`,
		"bad email":           `{"name":"A","email":"not an email"}`,
		"bad skill":           `{"name":"A","skills":["has space"]}`,
		"overlapping shifts":  `{"name":"A","shifts":{"mon":[["08:00","12:00"],["11:00","15:00"]]}}`,
		"absence backwards":   `{"name":"A","exceptions":[{"from":"2030-08-14","to":"2030-08-01"}]}`,
		"empty shift":         `{"name":"A","shifts":{"mon":[["08:00","08:00"]]}}`,
		"local time zone":     `{"name":"A","time_zone":"Local"}`,
		"shift starting 24h":  `{"name":"A","shifts":{"mon":[["24:00","06:00"]]}}`,
		"overnight not last":  `{"name":"A","shifts":{"mon":[["22:00","06:00"],["23:00","23:30"]]}}`,
		"absence without end": `{"name":"A","exceptions":[{"from":"2030-08-14"}]}`,
	} {
		code, body, _ := s.do(t, "admin", "POST", path, "application/json", bad)
		expect(t, name, code, body, 422, "invalid_technician")
	}
	for name, bad := range map[string]string{
		"unknown weekday": `{"name":"A","shifts":{"funday":[["08:00","12:00"]]}}`,
		"bad clock":       `{"name":"A","shifts":{"mon":[["8am","12:00"]]}}`,
		"unknown field":   `{"name":"A","colour":"blue"}`,
		"not JSON":        `{"name":`,
	} {
		code, body, _ := s.do(t, "admin", "POST", path, "application/json", bad)
		expect(t, name, code, body, 400, "malformed_body")
	}

	id := s.mustCreate(t, "admin", path, ada)
	code, body, _ = s.do(t, "reader", "GET", path+"/"+id, "", "")
	if code != 200 || body["time_zone"] != "Europe/Berlin" || body["active"] != true ||
		body["shifts"].(map[string]any)["mon"] == nil || len(body["exceptions"].([]any)) != 1 {
		t.Fatalf("get: %d %v", code, body)
	}
	bob := s.mustCreate(t, "admin", path, `{"name":"Bob","skills":["mech"],"shifts":`+officeWeek+`}`)
	code, body, _ = s.do(t, "reader", "GET", path+"?skill=elec", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 1 {
		t.Errorf("list ?skill=elec: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", path+"?limit=1", "", "")
	if code != 200 || body["next_after"] != id {
		t.Errorf("first page: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", path+"?active=maybe", "", "")
	expect(t, "bad active filter", code, body, 400, "invalid_query")

	for _, missing := range []string{"3f1c0d52-0000-4000-8000-000000000000", "not-an-id"} {
		code, body, _ = s.do(t, "reader", "GET", path+"/"+missing, "", "")
		expect(t, "get "+missing, code, body, 404, "not_found")
	}
	code, body, _ = s.do(t, "rival", "GET", path+"/"+id, "", "")
	expect(t, "other tenant", code, body, 404, "not_found")

	code, body, _ = s.do(t, "admin", "PUT", path+"/"+bob, "application/json", `{"name":"Bob","skills":["mech"],"active":false}`)
	if code != 200 || body["active"] != false {
		t.Errorf("update: %d %v", code, body)
	}
	code, body, _ = s.do(t, "admin", "PUT", path+"/"+bob, "application/json", `{"name":""}`)
	expect(t, "invalid update", code, body, 422, "invalid_technician")

	// Bookings, and no deleting a technician with work orders.
	s.mustCreate(t, "decider", "/api/v1/work-orders", `{"asset_id":"pump-1","title":"Fix","estimated_minutes":60,"technician_id":"`+id+`","scheduled_start":"2030-06-03T08:00:00Z"}`)
	code, body, _ = s.do(t, "reader", "GET", path+"/"+id+"/bookings?from=2030-06-03T00:00:00Z&to=2030-06-10T00:00:00Z", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 1 {
		t.Errorf("bookings: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", path+"/"+id+"/bookings?from=yesterday", "", "")
	expect(t, "bad bookings window", code, body, 400, "invalid_query")
	code, body, _ = s.do(t, "reader", "GET", path+"/"+id+"/bookings?from=2030-06-03T00:00:00Z&to=2031-06-03T00:00:00Z", "", "")
	expect(t, "bookings window too long", code, body, 400, "invalid_query")
	code, body, _ = s.do(t, "admin", "DELETE", path+"/"+id, "", "")
	expect(t, "delete with work orders", code, body, 409, "conflict")
	code, _, _ = s.do(t, "admin", "DELETE", path+"/"+bob, "", "")
	if code != 204 {
		t.Errorf("delete: %d", code)
	}
	code, body, _ = s.do(t, "admin", "DELETE", path+"/"+bob, "", "")
	expect(t, "delete again", code, body, 404, "not_found")
}

func TestWorkOrdersAPI(t *testing.T) {
	s, hook := newMaintenanceServer(t)
	const path = "/api/v1/work-orders"
	ada := s.mustCreate(t, "admin", "/api/v1/technicians", `{"name":"Ada","skills":["mech"],"shifts":`+officeWeek+`}`)

	// Automatic assignment from "now" (Monday 07:00): Monday 08:00.
	code, body, hdr := s.do(t, "decider", "POST", path, "application/json",
		`{"asset_id":"pump-1","title":"Replace bearing","priority":"high","required_skills":["mech"],"estimated_minutes":120,
		  "deadline":"2030-06-03T12:00:00Z","checklist":["Lock out","Swap bearing"],"parts":[{"part_number":"6205-2RS","quantity":2}]}`)
	if code != 201 || body["created"] != true {
		t.Fatalf("create: %d %v", code, body)
	}
	wo := body["work_order"].(map[string]any)
	id := wo["id"].(string)
	if wo["technician_id"] != ada || wo["scheduled_start"] != "2030-06-03T08:00:00Z" || wo["late"] != false || wo["status"] != "scheduled" ||
		hdr.Get("Location") != path+"/"+id {
		t.Errorf("created %v (Location %q)", wo, hdr.Get("Location"))
	}
	code, body, _ = s.do(t, "decider", "POST", path, "application/json",
		`{"asset_id":"pump-1","title":"Hydraulics","required_skills":["hyd"],"estimated_minutes":60}`)
	if code != 201 || body["unassigned"] == "" || body["work_order"].(map[string]any)["technician_id"] != nil {
		t.Errorf("unqualified: %d %v", code, body)
	}

	// An incident's work order is created once.
	s.recordIncident(t, "acme", "inc-1", "pump-1")
	inc := `{"asset_id":"pump-1","incident_id":"inc-1","title":"Investigate","estimated_minutes":30,"auto_assign":false}`
	first := s.mustCreate(t, "decider", path, inc)
	code, body, _ = s.do(t, "decider", "POST", path, "application/json", inc)
	if code != 200 || body["created"] != false || body["work_order"].(map[string]any)["id"] != first {
		t.Errorf("repeated incident: %d %v", code, body)
	}

	// Explicit booking onto a taken slot is a conflict.
	code, body, _ = s.do(t, "decider", "POST", path, "application/json",
		`{"asset_id":"pump-1","title":"Clash","estimated_minutes":60,"technician_id":"`+ada+`","scheduled_start":"2030-06-03T09:00:00Z"}`)
	expect(t, "double booking", code, body, 409, "conflict")
	code, body, _ = s.do(t, "reader", "POST", path, "application/json", inc)
	expect(t, "reader creates", code, body, 403, "forbidden")
	code, body, _ = s.do(t, "writer", "GET", path, "", "")
	expect(t, "readings:write lists", code, body, 403, "forbidden")
	for name, bad := range map[string]string{
		"no title":              `{"asset_id":"pump-1","estimated_minutes":30}`,
		"no estimate":           `{"asset_id":"pump-1","title":"x"}`,
		"bad priority":          `{"asset_id":"pump-1","title":"x","estimated_minutes":30,"priority":"urgent"}`,
		"bad part":              `{"asset_id":"pump-1","title":"x","estimated_minutes":30,"parts":[{"part_number":"p","quantity":0}]}`,
		"technician, no start":  `{"asset_id":"pump-1","title":"x","estimated_minutes":30,"technician_id":"` + ada + `"}`,
		"start, no technician":  `{"asset_id":"pump-1","title":"x","estimated_minutes":30,"scheduled_start":"2030-06-03T09:00:00Z"}`,
		"empty checklist item":  `{"asset_id":"pump-1","title":"x","estimated_minutes":30,"checklist":[""]}`,
		"bad asset id":          `{"asset_id":"","title":"x","estimated_minutes":30}`,
		"auto with technician":  `{"asset_id":"pump-1","title":"x","estimated_minutes":30,"auto_assign":true,"technician_id":"` + ada + `","scheduled_start":"2030-06-03T09:00:00Z"}`,
		"estimate over 2 weeks": `{"asset_id":"pump-1","title":"x","estimated_minutes":20161}`,
	} {
		code, body, _ := s.do(t, "decider", "POST", path, "application/json", bad)
		expect(t, name, code, body, 422, "invalid_work_order")
	}
	code, body, _ = s.do(t, "decider", "POST", path, "application/json", `{"asset_id":"nope","title":"x","estimated_minutes":30,"auto_assign":false}`)
	expect(t, "unknown asset", code, body, 404, "not_found")

	// Lifecycle.
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+id+"/status", "application/json", `{"status":"done"}`)
	expect(t, "scheduled → done", code, body, 409, "invalid_transition")
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+id+"/status", "application/json", `{"status":"finished"}`)
	expect(t, "unknown status", code, body, 422, "invalid_status")
	code, body, _ = s.do(t, "reader", "PUT", path+"/"+id+"/status", "application/json", `{"status":"in_progress"}`)
	expect(t, "reader changes status", code, body, 403, "forbidden")
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+id+"/status", "application/json", `{"status":"in_progress"}`)
	if code != 200 || body["status"] != "in_progress" || body["started_at"] != "2030-06-03T07:00:00Z" {
		t.Fatalf("→ in_progress: %d %v", code, body)
	}
	if code, _, _ = s.do(t, "decider", "PUT", path+"/"+id+"/status", "application/json", `{"status":"in_progress"}`); code != 200 {
		t.Errorf("repeated → in_progress: %d", code)
	}
	code, body, _ = s.do(t, "decider", "PATCH", path+"/"+id+"/checklist", "application/json", `{"items":[{"index":5,"done":true}]}`)
	expect(t, "checklist index out of range", code, body, 422, "invalid")
	code, body, _ = s.do(t, "decider", "PATCH", path+"/"+id+"/checklist", "application/json", `{"items":[]}`)
	expect(t, "empty checklist update", code, body, 422, "invalid_checklist")
	code, body, _ = s.do(t, "decider", "PATCH", path+"/"+id+"/checklist", "application/json", `{"by":"ada","items":[{"index":0,"done":true},{"index":1,"done":true}]}`)
	if items, _ := body["checklist"].([]any); code != 200 || len(items) != 2 || items[1].(map[string]any)["done_by"] != "ada" {
		t.Fatalf("checklist: %d %v", code, body)
	}
	code, body, _ = s.do(t, "decider", "POST", path+"/"+id+"/sign-off", "application/json", `{"by":"Sue"}`)
	expect(t, "sign off before done", code, body, 409, "conflict")
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+id+"/status", "application/json", `{"status":"done"}`)
	if code != 200 || body["status"] != "done" {
		t.Fatalf("→ done: %d %v", code, body)
	}
	code, body, _ = s.do(t, "decider", "POST", path+"/"+id+"/sign-off", "application/json", `{"note":"who?"}`)
	expect(t, "sign off without a name", code, body, 422, "invalid_sign_off")
	code, body, _ = s.do(t, "decider", "POST", path+"/"+id+"/sign-off", "application/json", `{"by":"Sue","note":"Vibration normal"}`)
	if so, _ := body["sign_off"].(map[string]any); code != 200 || so["by"] != "Sue" {
		t.Errorf("sign off: %d %v", code, body)
	}
	code, body, _ = s.do(t, "decider", "POST", path+"/"+id+"/sign-off", "application/json", `{"by":"Tom"}`)
	expect(t, "second sign off", code, body, 409, "conflict")
	if got, want := hook.list(), []string{"acme/" + id + "/in_progress", "acme/" + id + "/done"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("status hook calls = %v, want %v (not for the repeat)", got, want)
	}

	// Reads.
	code, body, _ = s.do(t, "reader", "GET", path+"/"+id, "", "")
	if code != 200 || body["status"] != "done" || body["parts"].([]any)[0].(map[string]any)["part_number"] != "6205-2RS" {
		t.Errorf("get: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", path+"?status=done", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 1 {
		t.Errorf("list done: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", path+"?asset=pump-1&limit=2", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 2 || body["next_after"] == "" {
		t.Errorf("list page: %d %v", code, body)
	}
	for q, want := range map[string]string{"?status=lost": "status", "?technician=ada": "technician", "?after=x": "after", "?limit=0": "limit"} {
		code, body, _ = s.do(t, "reader", "GET", path+q, "", "")
		expect(t, "list "+q, code, body, 400, "invalid_query")
		if !strings.Contains(fmt.Sprint(body), want) {
			t.Errorf("list %s: details %v do not name %s", q, body, want)
		}
	}
	code, body, _ = s.do(t, "reader", "GET", path+"/3f1c0d52-0000-4000-8000-000000000000", "", "")
	expect(t, "missing work order", code, body, 404, "not_found")
	code, body, _ = s.do(t, "rival", "GET", path+"/"+id, "", "")
	expect(t, "other tenant", code, body, 404, "not_found")
	code, body, _ = s.do(t, "decider", "PUT", path+"/3f1c0d52-0000-4000-8000-000000000000/status", "application/json", `{"status":"done"}`)
	expect(t, "status of a missing work order", code, body, 404, "not_found")
}

func TestWorkOrderAssignmentAndReplanAPI(t *testing.T) {
	s, _ := newMaintenanceServer(t)
	const path = "/api/v1/work-orders"
	ada := s.mustCreate(t, "admin", "/api/v1/technicians", `{"name":"Ada","skills":["mech"],"shifts":`+officeWeek+`}`)
	// Booked in the wrong order: the critical job ends 4 h after its deadline.
	low := s.mustCreate(t, "decider", path, `{"asset_id":"pump-1","title":"Repaint","priority":"low","estimated_minutes":240,
		"technician_id":"`+ada+`","scheduled_start":"2030-06-03T08:00:00Z","deadline":"2030-06-07T16:00:00Z"}`)
	crit := s.mustCreate(t, "decider", path, `{"asset_id":"pump-1","title":"Seal","priority":"critical","estimated_minutes":240,
		"technician_id":"`+ada+`","scheduled_start":"2030-06-03T12:00:00Z","deadline":"2030-06-03T12:00:00Z"}`)
	code, body, _ := s.do(t, "reader", "GET", path+"/"+crit, "", "")
	if code != 200 || body["late"] != true {
		t.Fatalf("critical job: %d %v", code, body)
	}

	code, body, _ = s.do(t, "decider", "POST", path+"/replan", "application/json", `{}`)
	if code != 200 || body["better"] != true || body["applied"] != false || body["weighted_lateness_before_hours"] != 32.0 {
		t.Fatalf("dry run: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "POST", path+"/replan", "application/json", `{"apply":true}`)
	expect(t, "reader replans", code, body, 403, "forbidden")
	code, body, _ = s.do(t, "decider", "POST", path+"/replan", "application/json", `{"apply":true}`)
	if code != 200 || body["applied"] != true || body["weighted_lateness_after_hours"] != 0.0 {
		t.Fatalf("apply: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", path+"/"+crit, "", "")
	if body["scheduled_start"] != "2030-06-03T08:00:00Z" || body["late"] != false {
		t.Errorf("critical job after the re-plan: %v", body)
	}

	// Manual and automatic reassignment.
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+low+"/assignment", "application/json",
		`{"technician_id":"`+ada+`","start":"2030-06-03T09:00:00Z"}`)
	expect(t, "assign onto a taken slot", code, body, 409, "conflict")
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+low+"/assignment", "application/json",
		`{"technician_id":"`+ada+`","start":"2030-06-05T08:00:00Z"}`)
	if code != 200 || body["scheduled_start"] != "2030-06-05T08:00:00Z" || body["scheduled_end"] != "2030-06-05T12:00:00Z" {
		t.Errorf("manual assignment: %d %v", code, body)
	}
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+low+"/assignment", "application/json", `{"auto":true}`)
	if code != 200 || body["scheduled_start"] != "2030-06-03T12:00:00Z" {
		t.Errorf("auto assignment: %d %v", code, body)
	}
	for name, bad := range map[string]string{
		"nothing":             `{}`,
		"end before start":    `{"technician_id":"` + ada + `","start":"2030-06-05T08:00:00Z","end":"2030-06-05T07:00:00Z"}`,
		"auto and technician": `{"auto":true,"technician_id":"` + ada + `"}`,
	} {
		code, body, _ = s.do(t, "decider", "PUT", path+"/"+low+"/assignment", "application/json", bad)
		expect(t, name, code, body, 422, "invalid_assignment")
	}
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+low+"/assignment", "application/json",
		`{"technician_id":"3f1c0d52-0000-4000-8000-000000000000","start":"2030-06-05T08:00:00Z"}`)
	expect(t, "unknown technician", code, body, 404, "not_found")
	hyd := s.mustCreate(t, "decider", path, `{"asset_id":"pump-1","title":"Hydraulics","required_skills":["hyd"],"estimated_minutes":60}`)
	code, body, _ = s.do(t, "decider", "PUT", path+"/"+hyd+"/assignment", "application/json", `{"auto":true}`)
	expect(t, "nobody qualified", code, body, 422, "invalid")
}

func TestPreventiveSchedulesAPI(t *testing.T) {
	s, _ := newMaintenanceServer(t)
	const path = "/api/v1/preventive-schedules"
	if code, body, _ := s.do(t, "admin", "POST", "/api/v1/assets/pump-1/sensors", "application/json", `{"id":"hours","unit":"h"}`); code != 201 {
		t.Fatalf("sensor: %d %v", code, body)
	}
	cal := s.mustCreate(t, "admin", path, `{"asset_id":"pump-1","title":"Lubricate","estimated_minutes":45,"kind":"calendar","interval_days":90,
		"checklist":["Grease DE bearing"],"last_done_at":"2030-01-01T00:00:00Z"}`)
	code, body, _ := s.do(t, "reader", "GET", path+"/"+cal, "", "")
	if code != 200 || body["next_due_at"] != "2030-04-01T00:00:00Z" {
		t.Errorf("calendar schedule: %d %v", code, body)
	}
	meter := s.mustCreate(t, "admin", path, `{"asset_id":"pump-1","title":"Seal check","estimated_minutes":60,"kind":"meter","sensor_id":"hours","meter_interval":500}`)
	code, body, _ = s.do(t, "reader", "GET", path+"?asset=pump-1", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 2 {
		t.Errorf("list: %d %v", code, body)
	}
	code, body, _ = s.do(t, "decider", "POST", path, "application/json", `{}`)
	expect(t, "decider creates", code, body, 403, "forbidden")
	for name, bad := range map[string]string{
		"no kind":                 `{"asset_id":"pump-1","title":"x","estimated_minutes":5}`,
		"calendar, no interval":   `{"asset_id":"pump-1","title":"x","estimated_minutes":5,"kind":"calendar"}`,
		"meter, no sensor":        `{"asset_id":"pump-1","title":"x","estimated_minutes":5,"kind":"meter","meter_interval":10}`,
		"meter with days":         `{"asset_id":"pump-1","title":"x","estimated_minutes":5,"kind":"meter","sensor_id":"hours","meter_interval":10,"interval_days":3}`,
		"calendar with sensor":    `{"asset_id":"pump-1","title":"x","estimated_minutes":5,"kind":"calendar","interval_days":3,"sensor_id":"hours"}`,
		"negative meter interval": `{"asset_id":"pump-1","title":"x","estimated_minutes":5,"kind":"meter","sensor_id":"hours","meter_interval":-1}`,
	} {
		code, body, _ := s.do(t, "admin", "POST", path, "application/json", bad)
		expect(t, name, code, body, 422, "invalid_preventive_schedule")
	}
	code, body, _ = s.do(t, "admin", "POST", path, "application/json", `{"asset_id":"pump-1","title":"x","estimated_minutes":5,"kind":"meter","sensor_id":"nope","meter_interval":10}`)
	expect(t, "unknown sensor", code, body, 404, "not_found")
	code, body, _ = s.do(t, "admin", "PUT", path+"/"+meter, "application/json", `{"asset_id":"other","title":"x","estimated_minutes":5,"kind":"meter","sensor_id":"hours","meter_interval":10}`)
	expect(t, "move to another asset", code, body, 422, "invalid_preventive_schedule")
	code, body, _ = s.do(t, "admin", "PUT", path+"/"+meter, "application/json", `{"asset_id":"pump-1","title":"Seal check","estimated_minutes":60,"kind":"meter","sensor_id":"hours","meter_interval":500,"last_meter_reading":1200}`)
	if code != 200 || body["next_due_reading"] != 1700.0 {
		t.Errorf("update: %d %v", code, body)
	}
	if code, _, _ := s.do(t, "admin", "DELETE", path+"/"+meter, "", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	code, body, _ = s.do(t, "reader", "GET", path+"/"+meter, "", "")
	expect(t, "deleted", code, body, 404, "not_found")
}

func TestChannelsAPI(t *testing.T) {
	s, _ := newMaintenanceServer(t)
	const path = "/api/v1/notification-channels"
	var mu sync.Mutex
	var verified int
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := notify.VerifyRequest(r, []byte("a-long-enough-secret")); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		mu.Lock()
		verified++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()

	hook := `{"name":"ops","kind":"webhook","target":"` + rcv.URL + `","secret":"a-long-enough-secret","min_severity":"major"}`
	code, body, _ := s.do(t, "decider", "POST", path, "application/json", hook)
	expect(t, "decider creates", code, body, 403, "forbidden")
	code, body, _ = s.do(t, "reader", "GET", path, "", "")
	expect(t, "reader lists", code, body, 403, "forbidden")
	for name, bad := range map[string]string{
		"webhook without secret": `{"name":"x","kind":"webhook","target":"https://x.example/h"}`,
		"short secret":           `{"name":"x","kind":"webhook","target":"https://x.example/h","secret":"short"}`,
		"bad URL":                `{"name":"x","kind":"slack","target":"ftp://x.example/h"}`,
		"URL with credentials":   `{"name":"x","kind":"slack","target":"https://u:p@x.example/h"}`,
		"bad email":              `{"name":"x","kind":"email","target":"not-an-address"}`,
		"unknown kind":           `{"name":"x","kind":"pager","target":"x"}`,
		"bad severity":           `{"name":"x","kind":"email","target":"a@x.example","min_severity":"apocalyptic"}`,
		"no name":                `{"kind":"email","target":"a@x.example"}`,
	} {
		code, body, _ := s.do(t, "admin", "POST", path, "application/json", bad)
		expect(t, name, code, body, 422, "invalid_channel")
	}
	id := s.mustCreate(t, "admin", path, hook)
	code, body, _ = s.do(t, "admin", "GET", path+"/"+id, "", "")
	if code != 200 || body["secret_set"] != true || body["secret"] != nil || body["enabled"] != true {
		t.Errorf("get: %d %v (the secret must never be shown)", code, body)
	}
	code, body, _ = s.do(t, "admin", "POST", path, "application/json", hook)
	expect(t, "duplicate name", code, body, 409, "conflict")

	// Updating without a secret keeps it; the test message is signed with it.
	code, body, _ = s.do(t, "admin", "PUT", path+"/"+id, "application/json", `{"name":"ops","kind":"webhook","target":"`+rcv.URL+`/v2"}`)
	if code != 200 || body["secret_set"] != true {
		t.Fatalf("update: %d %v", code, body)
	}
	code, body, _ = s.do(t, "admin", "PUT", path+"/"+id, "application/json", `{"name":"ops","kind":"webhook","target":"`+rcv.URL+`","secret":""}`)
	expect(t, "clearing a webhook's secret", code, body, 422, "invalid_channel")
	code, body, _ = s.do(t, "admin", "POST", path+"/"+id+"/test", "", "")
	mu.Lock()
	n := verified
	mu.Unlock()
	if code != 200 || body["outcome"] != "sent" || n != 1 {
		t.Errorf("test: %d %v, receiver verified %d", code, body, n)
	}

	mail := s.mustCreate(t, "admin", path, `{"name":"team","kind":"email","target":"team@plant.example"}`)
	code, body, _ = s.do(t, "admin", "POST", path+"/"+mail+"/test", "", "")
	expect(t, "test without an SMTP relay", code, body, 502, "channel_failed")

	code, body, _ = s.do(t, "admin", "GET", path, "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 2 {
		t.Errorf("list: %d %v", code, body)
	}
	code, body, _ = s.do(t, "rival", "GET", path+"/"+id, "", "")
	expect(t, "other tenant", code, body, 404, "not_found")

	// The delivery log of a message.
	notifier := notify.New(s.db, notify.Config{}, nil)
	if _, err := notifier.Deliver(context.Background(), "acme", "incident/inc-1/confirmed", notify.Message{Subject: "s", Text: "t", Severity: notify.SeverityCritical}); err == nil {
		t.Error("delivery without an SMTP relay succeeded")
	}
	code, body, _ = s.do(t, "admin", "GET", "/api/v1/notification-deliveries?key=incident/inc-1/confirmed", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 2 {
		t.Errorf("deliveries: %d %v", code, body)
	}
	code, body, _ = s.do(t, "admin", "GET", "/api/v1/notification-deliveries", "", "")
	expect(t, "deliveries without key", code, body, 400, "invalid_query")

	if code, _, _ := s.do(t, "admin", "DELETE", path+"/"+mail, "", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	code, body, _ = s.do(t, "admin", "DELETE", path+"/"+mail, "", "")
	expect(t, "delete again", code, body, 404, "not_found")
}
