package e2e

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"image/png"
	"io"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workers"
	"github.com/smartmaint/smartmaint/workflows"
)

// TestReportEndToEnd: assets, readings, work orders and a notification
// channel made over the API, incidents, anomalies and model versions as the
// workflows and the registry would have written them; a report requested
// over the API runs as a workflow on the real Temporal server, and its KPIs
// match docs/REPORTS.md's definitions computed here from what the API
// returned; the CSV says the same; every chart decodes as PNG and parses as
// SVG; the channel hears about the report once; the weekly schedule exists
// and makes a report when triggered; another tenant sees none of it.
func TestReportEndToEnd(t *testing.T) {
	s := startStack(t, nil)
	s.key("admin", "acme", apikey.Admin)
	s.key("planner", "acme", apikey.IncidentsDecide, apikey.ReadingsRead)
	s.key("sensor", "acme", apikey.ReadingsWrite)
	s.key("reader", "acme", apikey.ReadingsRead)
	s.key("rival", "rival", apikey.Admin)
	ctx := context.Background()
	webhook := s.webhookChannel("admin", "cmms", "report-webhook-secret", "info")

	mill := s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "mill-1", "type": "milling-machine"})
	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "pump-2", "type": "pump"})
	s.must(201, "admin", "POST", "/api/v1/assets/mill-1/sensors", map[string]any{"id": "torque", "unit": "Nm",
		"min_valid": 0, "max_valid": 200, "warn_high": 60, "alarm_high": 70})
	s.must(201, "admin", "POST", "/api/v1/assets/pump-2/sensors", map[string]any{"id": "temp", "unit": "K", "min_valid": 0, "max_valid": 500})

	now := time.Now().UTC()
	from, to := now.Add(-3*time.Hour), now.Add(time.Hour)
	// Two hours of calm torque readings, one a minute: 40, 41, 42, 43, 44, …
	s.must(201, "sensor", "POST", "/api/v1/readings", series("mill-1", "torque", now.Add(-2*time.Hour), time.Minute, 120, func(i int) any { return 40 + i%5 }))

	// Work orders: wo1 answers incident i1 and is done on time; wo3 is done
	// after its deadline; wo2 (pump-2, incident i4) is open past its deadline.
	i1, i4 := uuid.NewString(), uuid.NewString()
	// A work order may only name an incident of its tenant and asset, so
	// the two incidents exist first (seq 0; their final state follows).
	for _, inc := range []struct {
		id, asset string
		opened    time.Duration
	}{{i1, "mill-1", -100 * time.Minute}, {i4, "pump-2", -50 * time.Minute}} {
		if err := s.db.RecordIncident(ctx, incident.Projection{TenantID: "acme", ID: inc.id, AssetID: inc.asset,
			WorkflowID: incident.WorkflowID("acme", inc.asset), Status: "awaiting_approval", Severity: "major",
			OpenedAt: now.Add(inc.opened), UpdatedAt: now.Add(inc.opened)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	createWO := func(body map[string]any) string {
		body["title"], body["estimated_minutes"], body["auto_assign"] = "inspect", 60, false
		out := s.must(201, "planner", "POST", "/api/v1/work-orders", body)
		return field(out, "work_order", "id").(string)
	}
	wo1 := createWO(map[string]any{"asset_id": "mill-1", "incident_id": i1, "deadline": now.Add(24 * time.Hour)})
	wo2 := createWO(map[string]any{"asset_id": "pump-2", "incident_id": i4, "deadline": now.Add(-time.Hour)})
	wo3 := createWO(map[string]any{"asset_id": "mill-1", "deadline": now.Add(-30 * time.Minute)})
	type span struct{ started, completed time.Time }
	var repairs []span
	for _, id := range []string{wo1, wo3} {
		s.must(200, "planner", "PUT", "/api/v1/work-orders/"+id+"/status", map[string]any{"status": "in_progress"})
		time.Sleep(20 * time.Millisecond)
		out := s.must(200, "planner", "PUT", "/api/v1/work-orders/"+id+"/status", map[string]any{"status": "done"})
		repairs = append(repairs, span{reportTime(t, out["started_at"]), reportTime(t, out["completed_at"])})
	}

	// Incidents as the incident workflow records them.
	record := func(id, asset string, status incident.Status, resolution incident.Resolution, opened time.Time, closed *time.Time, wo string, summary map[string]any, log []store.LogEntry) {
		raw, _ := json.Marshal(summary)
		inc := incident.Projection{TenantID: "acme", ID: id, AssetID: asset, WorkflowID: incident.WorkflowID("acme", asset),
			Status: status, Resolution: resolution, Severity: "major", Summary: raw, Seq: 1, OpenedAt: opened, UpdatedAt: opened, ClosedAt: closed}
		if wo != "" {
			inc.WorkOrderID = &wo
		}
		if err := s.db.RecordIncident(ctx, inc, log); err != nil {
			t.Fatal(err)
		}
	}
	closed := now.Add(-5 * time.Minute)
	i1Opened := now.Add(-100 * time.Minute)
	record(i1, "mill-1", "resolved", "resolved", i1Opened, &closed, wo1, nil, nil)
	record(uuid.NewString(), "mill-1", "closed", "rejected", now.Add(-80*time.Minute), &closed, "", nil, nil)
	record(uuid.NewString(), "mill-1", "closed", "false_positive", now.Add(-70*time.Minute), &closed, "", nil, nil)
	record(uuid.NewString(), "mill-1", "resolved", "resolved", now.Add(-60*time.Minute), &closed, "",
		map[string]any{"forecast": map[string]any{"sensor_id": "torque", "limit": 70, "method": "damped-holt"}},
		[]store.LogEntry{{Seq: 1, At: now.Add(-59 * time.Minute), Actor: "system", Event: "forecast"}})
	record(i4, "pump-2", "scheduled", "", now.Add(-50*time.Minute), nil, wo2, nil, nil)
	record(uuid.NewString(), "mill-1", "closed", "rejected", now.Add(-4*time.Hour), &closed, "", nil, nil) // before the window

	// Anomalies as the ingest path writes them (already dispatched).
	for i, sev := range []string{"major", "critical"} {
		if _, err := s.db.Pool.Exec(ctx, `
			INSERT INTO anomalies (id, tenant_id, asset_id, sensor_id, ts, value, score, severity, detector, reason, dispatched_at)
			VALUES ($1, 'acme', 'mill-1', 'torque', $2, 75, 1, $3, 'threshold', 'e2e', now())`,
			uuid.NewString(), now.Add(-90*time.Minute+time.Duration(i)*time.Minute), sev); err != nil {
			t.Fatal(err)
		}
	}
	// Two versions of a model as the registry records them.
	for v, auc := range map[int]float64{1: 0.81, 2: 0.86} {
		if _, err := s.db.Pool.Exec(ctx, `INSERT INTO models (tenant_id, name, latest_version) VALUES ('acme', 'iforest-mill', 2) ON CONFLICT DO NOTHING`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.db.Pool.Exec(ctx, `
			INSERT INTO model_versions (tenant_id, name, version, kind, metrics, artifact_key, artifact_uri, artifact_size, artifact_sha256, created_by, created_at)
			VALUES ('acme', 'iforest-mill', $1, 'iforest', $2, $3, 'file:///m', 10, repeat('ab', 32), 'e2e', $4)`,
			v, map[string]float64{"roc_auc_failures": auc}, uuid.NewString(), now.Add(-time.Duration(3-v)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}

	// Bad requests are refused before anything starts.
	if code, out := s.call("reader", "POST", "/api/v1/reports", map[string]any{"assets": []string{"ghost"}}); code != 422 || field(out, "error", "code") != "unknown_assets" {
		t.Errorf("unknown asset: %d %v", code, out)
	}
	if code, out := s.call("reader", "POST", "/api/v1/reports", map[string]any{"from": to, "to": from}); code != 422 || field(out, "error", "code") != "invalid_report" {
		t.Errorf("reversed window: %d %v", code, out)
	}

	if code, out := s.call("reader", "POST", "/api/v1/reports", map[string]any{"notify": true}); code != 403 {
		t.Errorf("notify with a read-only key: %d %v, want 403", code, out)
	}
	started := s.must(202, "planner", "POST", "/api/v1/reports", map[string]any{"from": from, "to": to, "notify": true})
	id := field(started, "report", "id").(string)
	if field(started, "report", "status") != "running" || field(started, "report", "workflow_id") != "report/acme/"+id {
		t.Errorf("started = %v", started)
	}
	var got map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for {
		got = s.must(200, "reader", "GET", "/api/v1/reports/"+id, nil)
		st := field(got, "report", "status")
		if st == "done" {
			break
		}
		if st == "failed" || time.Now().After(deadline) {
			t.Fatalf("report %v: %v\nworkflow: %s", st, got, s.workflowStatus(workflows.ReportWorkflowID("acme", id)))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The KPIs, from docs/REPORTS.md's definitions and what the API said.
	createdAt := reportTime(t, mill["created_at"])
	var downtime, repairSum float64
	for _, r := range repairs {
		d := r.completed.Sub(r.started).Hours()
		downtime += d
		repairSum += d
	}
	millOperating := to.Sub(createdAt).Hours() - downtime
	kpis := got["kpis"].(map[string]any)
	assets := kpis["assets"].([]any)
	if len(assets) != 2 {
		t.Fatalf("assets = %v", assets)
	}
	millK := assets[0].(map[string]any)["kpis"].(map[string]any)
	pumpK := assets[1].(map[string]any)["kpis"].(map[string]any)
	tot := kpis["totals"].(map[string]any)
	checks := []struct {
		name      string
		got, want any
	}{
		{"incidents opened", field(tot, "incidents", "opened"), 5.0},
		{"open", field(tot, "incidents", "open"), 1.0},
		{"decided", field(tot, "incidents", "decided"), 5.0},
		{"false-positive rate", tot["false_positive_rate"], 2.0 / 5},
		{"mill false-positive rate", millK["false_positive_rate"], 2.0 / 4},
		{"pump false-positive rate", pumpK["false_positive_rate"], 0.0},
		{"mill failures", millK["failures"], 1.0},
		{"mill downtime", millK["downtime_hours"], downtime},
		{"mill operating", millK["operating_hours"], millOperating},
		{"mill MTBF", millK["mtbf_hours"], millOperating / 1},
		{"pump MTBF", pumpK["mtbf_hours"], nil},
		{"repairs", tot["repairs"], 2.0},
		{"MTTR", tot["mttr_hours"], repairSum / 2},
		{"restores", tot["restores"], 1.0},
		{"time to restore", tot["mean_time_to_restore_hours"], repairs[0].completed.Sub(i1Opened).Hours()},
		{"work orders done", field(tot, "work_orders", "done"), 2.0},
		{"done late", field(tot, "work_orders", "done_late"), 1.0},
		{"open overdue", field(tot, "work_orders", "open_overdue"), 1.0},
		{"late", field(tot, "work_orders", "late"), 2.0},
		{"anomalies", tot["anomalies"], map[string]any{"major": 1.0, "critical": 1.0}},
		{"torque readings", field(assets[0].(map[string]any)["sensors"].([]any)[0].(map[string]any), "count"), 120.0},
		{"torque mean", field(assets[0].(map[string]any)["sensors"].([]any)[0].(map[string]any), "mean"), 42.0},
		{"model versions", len(kpis["models"].([]any)[0].(map[string]any)["versions"].([]any)), 2},
	}
	for _, c := range checks {
		if !reportNear(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// The same figures as CSV, both ways of asking.
	for _, path := range []string{"/api/v1/reports/" + id + ".csv", "/api/v1/reports/" + id + "?format=csv"} {
		code, ctype, body := s.getRaw("reader", path)
		if code != 200 || ctype != "text/csv; charset=utf-8" {
			t.Fatalf("GET %s = %d %s", path, code, ctype)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v", err)
		}
		want := map[[3]string]string{
			{"tenant", "acme", "false_positive_rate"}: "0.4",
			{"asset", "mill-1", "failures"}:           "1",
			{"tenant", "acme", "work_orders_late"}:    "2",
			{"sensor", "mill-1/torque", "mean"}:       "42",
		}
		for _, row := range rows {
			if v, ok := want[[3]string{row[0], row[1], row[2]}]; ok {
				if row[3] != v {
					t.Errorf("CSV %v, want value %s", row, v)
				}
				delete(want, [3]string{row[0], row[1], row[2]})
			}
		}
		if len(want) > 0 {
			t.Errorf("CSV lacks %v", want)
		}
	}

	// Every chart, in both formats.
	charts := reportStrings(field(got, "report", "charts"))
	for _, name := range []string{"incidents-by-week", "model.iforest-mill", "asset.mill-1", "asset.pump-2"} {
		if !slices.Contains(charts, name) {
			t.Errorf("charts %v lack %s", charts, name)
		}
	}
	for _, name := range charts {
		code, ctype, body := s.getRaw("reader", "/api/v1/reports/"+id+"/charts/"+name+".png")
		if code != 200 || ctype != "image/png" {
			t.Fatalf("%s.png = %d %s", name, code, ctype)
		}
		img, err := png.Decode(bytes.NewReader(body))
		if err != nil || img.Bounds().Dx() < 700 || img.Bounds().Dy() < 250 {
			t.Errorf("%s.png does not decode to a chart: %v", name, err)
		}
		code, ctype, body = s.getRaw("reader", "/api/v1/reports/"+id+"/charts/"+name+".svg")
		if code != 200 || ctype != "image/svg+xml" {
			t.Fatalf("%s.svg = %d %s", name, code, ctype)
		}
		if root, err := svgRootElement(body); err != nil || root != "svg" {
			t.Errorf("%s.svg: root %q, %v", name, root, err)
		}
	}
	if code, _, _ := s.getRaw("reader", "/api/v1/reports/"+id+"/charts/asset.mill-1.gif"); code != 400 {
		t.Errorf("a GIF chart = %d, want 400", code)
	}

	// Another tenant sees nothing of it.
	if code, _ := s.call("rival", "GET", "/api/v1/reports/"+id, nil); code != 404 {
		t.Errorf("rival reads the report: %d", code)
	}
	if code, _, _ := s.getRaw("rival", "/api/v1/reports/"+id+"/charts/asset.mill-1.png"); code != 404 {
		t.Errorf("rival reads a chart: %d", code)
	}

	// The weekly schedule exists; triggered, it makes acme's report of the
	// last whole week (rival has no assets, so no report).
	h := s.temporal.ScheduleClient().GetHandle(ctx, workers.ScheduleID(s.cfg.TemporalTaskQueue, workflows.ReportScheduleID))
	if _, err := h.Describe(ctx); err != nil {
		t.Fatalf("report schedule: %v", err)
	}
	if err := h.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var scheduled map[string]any
	eventually(t, 2*time.Minute, "the scheduled report", func() bool {
		list := s.must(200, "reader", "GET", "/api/v1/reports?status=done", nil)
		for _, item := range list["items"].([]any) {
			if m := item.(map[string]any); m["trigger"] == "schedule" {
				scheduled = m
				return true
			}
		}
		return false
	})
	weekEnd := now.Truncate(7 * 24 * time.Hour)
	if !reportTime(t, scheduled["to"]).Equal(weekEnd) || !reportTime(t, scheduled["from"]).Equal(weekEnd.Add(-7*24*time.Hour)) || weekEnd.Weekday() != time.Monday {
		t.Errorf("scheduled report covers %v to %v, want the week to Monday %s", scheduled["from"], scheduled["to"], weekEnd)
	}
	if list := s.must(200, "rival", "GET", "/api/v1/reports", nil); len(list["items"].([]any)) != 0 {
		t.Errorf("rival has reports: %v", list)
	}

	// The channel heard about each report once.
	eventually(t, 30*time.Second, "both notifications", func() bool { b, _ := webhook.got(); return len(b) >= 2 })
	time.Sleep(500 * time.Millisecond)
	bodies, errs := webhook.got()
	keys := map[string]int{}
	for i, b := range bodies {
		if errs[i] != nil {
			t.Errorf("webhook signature: %v", errs[i])
		}
		var msg struct {
			Key      string `json:"idempotency_key"`
			Severity string `json:"severity"`
		}
		json.Unmarshal([]byte(b), &msg)
		keys[msg.Key]++
		if msg.Severity != "info" {
			t.Errorf("report notice severity %q", msg.Severity)
		}
	}
	if keys["report/"+id] != 1 || keys["report/"+scheduled["id"].(string)] != 1 || len(bodies) != 2 {
		t.Errorf("notifications by key = %v", keys)
	}
}

// workflowStatus describes a workflow and its pending activities' last
// failures, for test failure messages.
func (s *stack) workflowStatus(id string) string {
	d, err := s.temporal.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		return err.Error()
	}
	out := d.GetWorkflowExecutionInfo().GetStatus().String()
	for _, a := range d.GetPendingActivities() {
		out += fmt.Sprintf("\n  %s attempt %d: %s", a.GetActivityType().GetName(), a.GetAttempt(), a.GetLastFailure().GetMessage())
	}
	return out
}

// getRaw GETs path as key and returns the status, content type and body.
func (s *stack) getRaw(key, path string) (int, string, []byte) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.baseURL+path, nil)
	req.Header.Set("X-API-Key", s.keys[key])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

func reportTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("time %v: %v", v, err)
	}
	return ts
}

func reportStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// svgRootElement parses an SVG document and returns its root element's name.
func svgRootElement(b []byte) (string, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return root, nil
		}
		if err != nil {
			return root, err
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
}

// reportNear compares decoded JSON with a relative tolerance of 1e-9 on numbers
// (PostgreSQL keeps microseconds).
func reportNear(got, want any) bool {
	switch w := want.(type) {
	case float64:
		g, ok := got.(float64)
		return ok && math.Abs(g-w) <= 1e-9*math.Max(1, math.Abs(w))
	case int:
		return reportNear(got, float64(w)) || got == w
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k := range w {
			if !reportNear(g[k], w[k]) {
				return false
			}
		}
		return true
	case nil:
		return got == nil
	}
	return got == want
}
