package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// newReportsServer is the router with the catalogue and report routes over
// a throwaway database, without Temporal: these tests cover what the
// handlers answer from the database and how they refuse bad requests
// (which they do before starting anything); e2e/report_test.go starts
// reports for real.
func newReportsServer(t *testing.T) (*server, *report.Store) {
	t.Helper()
	db, _ := testenv.DB(t)
	log := slog.New(slog.DiscardHandler)
	st := &report.Store{DB: db}
	routes := []api.Routes{&api.Catalog{DB: db}, &api.Reports{DB: db, Store: st}}
	h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, routes, nil)
	s := &server{Server: httptest.NewServer(h), db: db, keys: map[string]string{}}
	t.Cleanup(s.Close)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	s.key(t, "admin", "acme", apikey.Admin)
	s.key(t, "reader", "acme", apikey.ReadingsRead)
	s.key(t, "writer", "acme", apikey.ReadingsWrite)
	s.key(t, "planner", "acme", apikey.ReadingsRead, apikey.IncidentsDecide)
	s.key(t, "rival", "rival", apikey.Admin)
	s.seedMill(t)
	return s, st
}

// fetch GETs path as key and returns the status, body and headers.
func (s *server) fetch(t *testing.T, key, path string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("X-API-Key", s.keys[key])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestReportRequestsRefused(t *testing.T) {
	s, _ := newReportsServer(t)
	future := time.Now().Add(72 * time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name, key, body string
		status          int
		code            string
	}{
		{"reversed window", "reader", `{"from":"2025-03-10T00:00:00Z","to":"2025-03-03T00:00:00Z"}`, 422, "invalid_report"},
		{"window over a year", "reader", `{"from":"2020-01-01T00:00:00Z","to":"2025-01-01T00:00:00Z"}`, 422, "invalid_report"},
		{"ends days ahead", "reader", `{"to":"` + future + `"}`, 422, "invalid_report"},
		{"unknown asset", "reader", `{"assets":["mill-1","ghost"]}`, 422, "unknown_assets"},
		{"unknown field", "reader", `{"window":"last week"}`, 400, "malformed_body"},
		{"not a time", "reader", `{"from":"yesterday"}`, 400, "malformed_body"},
		{"no readings:read", "writer", `{}`, 403, "forbidden"},
		// notify messages every channel of the tenant: not for a read-only
		// key. The scope is checked first; these windows are reversed so
		// that a request past the check stops at 422.
		{"notify with a read-only key", "reader", `{"notify":true}`, 403, "forbidden"},
		{"notify with incidents:decide", "planner", `{"from":"2025-03-10T00:00:00Z","to":"2025-03-03T00:00:00Z","notify":true}`, 422, "invalid_report"},
		{"notify with admin", "admin", `{"from":"2025-03-10T00:00:00Z","to":"2025-03-03T00:00:00Z","notify":true}`, 422, "invalid_report"},
		{"read-only key without notify", "reader", `{"from":"2025-03-10T00:00:00Z","to":"2025-03-03T00:00:00Z","notify":false}`, 422, "invalid_report"},
		{"another tenant's asset", "rival", `{"assets":["mill-1"]}`, 422, "unknown_assets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := s.do(t, tt.key, "POST", "/api/v1/reports", "application/json", tt.body)
			if code != tt.status || errCode(body) != tt.code {
				t.Errorf("POST %s = %d %v, want %d %s", tt.body, code, body, tt.status, tt.code)
			}
		})
	}
	if code, body, _ := s.do(t, "reader", "POST", "/api/v1/reports", "application/json", `{"assets":["ghost","mill-1","spook"]}`); code != 422 ||
		strings.Join(jsonStrings(body["error"].(map[string]any)["details"].(map[string]any)["assets"]), ",") != "ghost,spook" {
		t.Errorf("unknown assets: %d %v, want the missing ones named", code, body)
	}
}

func jsonStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestReportReads(t *testing.T) {
	s, st := newReportsServer(t)
	ctx := context.Background()
	t0 := time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	w := report.Window{From: t0, To: t0.Add(7 * 24 * time.Hour)}
	done, running := uuid.NewString(), uuid.NewString()
	for _, id := range []string{done, running} {
		if _, err := st.Create(ctx, report.Meta{ID: id, TenantID: "acme", WorkflowID: "report/acme/" + id, Trigger: report.TriggerAPI, RequestedBy: "test", Window: w}); err != nil {
			t.Fatal(err)
		}
	}
	doc := &report.Report{TenantID: "acme", Window: w, ComputedAt: t0, Totals: report.KPIs{Failures: 2, MTBFHours: new(84.0)}}
	if err := st.SaveDocument(ctx, "acme", done, doc); err != nil {
		t.Fatal(err)
	}
	chart := report.IncidentsChart([]report.WeekIncidents{{Start: t0, Counts: map[string]int{"open": 2}}})
	out, err := chart.RenderAll()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveCharts(ctx, "acme", done, out); err != nil {
		t.Fatal(err)
	}
	if err := st.Finish(ctx, "acme", done, []string{chart.Name}); err != nil {
		t.Fatal(err)
	}

	code, body, _ := s.do(t, "reader", "GET", "/api/v1/reports/"+done, "", "")
	rep, _ := body["report"].(map[string]any)
	kpis, _ := body["kpis"].(map[string]any)
	links, _ := body["links"].(map[string]any)
	if code != 200 || rep["status"] != "done" || jsonAt(kpis, "totals", "mtbf_hours") != 84.0 ||
		jsonAt(links, "charts", chart.Name, "svg") != "/api/v1/reports/"+done+"/charts/incidents-by-week.svg" {
		t.Errorf("GET done report = %d %v", code, body)
	}
	if code, body, _ := s.do(t, "reader", "GET", "/api/v1/reports/"+running, "", ""); code != 200 || body["kpis"] != nil {
		t.Errorf("GET running report = %d %v, want kpis null", code, body)
	}

	for _, path := range []string{"/api/v1/reports/" + done + ".csv", "/api/v1/reports/" + done + "?format=csv"} {
		code, b, h := s.fetch(t, "reader", path)
		if code != 200 || h.Get("Content-Type") != "text/csv; charset=utf-8" || !strings.HasPrefix(string(b), "scope,subject,metric,value,unit,at\n") ||
			!strings.Contains(string(b), "tenant,acme,mtbf_hours,84,h,\n") {
			t.Errorf("GET %s = %d %s %q", path, code, h.Get("Content-Type"), b)
		}
	}
	code, b, h := s.fetch(t, "reader", "/api/v1/reports/"+done+"/charts/incidents-by-week.png")
	if code != 200 || h.Get("Content-Type") != "image/png" || string(b[:4]) != "\x89PNG" {
		t.Errorf("PNG chart = %d %s", code, h.Get("Content-Type"))
	}
	code, b, h = s.fetch(t, "reader", "/api/v1/reports/"+done+"/charts/incidents-by-week.svg")
	if code != 200 || h.Get("Content-Type") != "image/svg+xml" || !strings.Contains(string(b), "<svg") || h.Get("Content-Security-Policy") == "" {
		t.Errorf("SVG chart = %d %s", code, h.Get("Content-Type"))
	}

	refusals := []struct {
		key, path string
		status    int
		code      string
	}{
		{"reader", "/api/v1/reports/" + running + ".csv", 409, "report_not_ready"},
		{"reader", "/api/v1/reports/" + done + "?format=xml", 400, "invalid_query"},
		{"reader", "/api/v1/reports/" + uuid.NewString(), 404, "not_found"},
		{"reader", "/api/v1/reports/not-a-report", 404, "not_found"},
		{"rival", "/api/v1/reports/" + done, 404, "not_found"},
		{"rival", "/api/v1/reports/" + done + "/charts/incidents-by-week.png", 404, "not_found"},
		{"reader", "/api/v1/reports/" + done + "/charts/incidents-by-week.pdf", 400, "unsupported_format"},
		{"reader", "/api/v1/reports/" + done + "/charts/incidents-by-week", 400, "unsupported_format"},
		{"reader", "/api/v1/reports/" + done + "/charts/asset.ghost.png", 404, "not_found"},
		{"reader", "/api/v1/reports?status=lost", 400, "invalid_query"},
		{"reader", "/api/v1/reports?limit=0", 400, "invalid_query"},
		{"reader", "/api/v1/reports?before=x", 400, "invalid_query"},
		{"writer", "/api/v1/reports", 403, "forbidden"},
	}
	for _, e := range refusals {
		if code, body, _ := s.do(t, e.key, "GET", e.path, "", ""); code != e.status || errCode(body) != e.code {
			t.Errorf("GET %s as %s = %d %v, want %d %s", e.path, e.key, code, body, e.status, e.code)
		}
	}

	if err := st.Fail(ctx, "acme", running, "database away"); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := s.do(t, "reader", "GET", "/api/v1/reports/"+running+".csv", "", ""); code != 409 || errCode(body) != "report_failed" {
		t.Errorf("CSV of a failed report = %d %v", code, body)
	}

	code, body, _ = s.do(t, "reader", "GET", "/api/v1/reports?limit=1", "", "")
	items, _ := body["items"].([]any)
	if code != 200 || len(items) != 1 || body["next_before"] == "" {
		t.Fatalf("list = %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", "/api/v1/reports?limit=1&before="+body["next_before"].(string), "", "")
	if items2, _ := body["items"].([]any); code != 200 || len(items2) != 1 || jsonAt(items2[0].(map[string]any), "id") == jsonAt(items[0].(map[string]any), "id") {
		t.Errorf("second page = %d %v", code, body)
	}
	if code, body, _ := s.do(t, "reader", "GET", "/api/v1/reports?status=failed", "", ""); code != 200 || len(body["items"].([]any)) != 1 {
		t.Errorf("failed reports = %d %v", code, body)
	}
	if code, body, _ := s.do(t, "rival", "GET", "/api/v1/reports", "", ""); code != 200 || len(body["items"].([]any)) != 0 {
		t.Errorf("rival's list = %d %v", code, body)
	}
}

func jsonAt(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}
