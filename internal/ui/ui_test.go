package ui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/internal/ui"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// rig is the operator page on the real router over a throwaway database:
// tenant acme with three assets (mill-1 with a critical incident awaiting
// approval, pump-2 with an approved and scheduled one, fan-3 quiet), a
// technician, a work order and a model; tenant rival with its own incident.
// There is no Temporal: decisions that get past validation are exercised
// end to end in e2e/ui_test.go.
type rig struct {
	t    testing.TB
	db   *store.DB
	srv  *httptest.Server
	keys map[string]string
	now  time.Time
	// awaiting and scheduled are acme's incident ids; closed is resolved.
	awaiting, scheduled, closed string
}

func ptr(f float64) *float64 { return &f }

func newRig(t testing.TB) *rig {
	t.Helper()
	db, _ := testenv.DB(t)
	log := slog.New(slog.DiscardHandler)
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, folder, registry.Options{Logger: log})
	now := time.Now().UTC().Truncate(time.Second)
	authn := auth.NewAuthenticator(db, log)
	page := &ui.UI{DB: db, Maintenance: &maintenance.Store{DB: db}, Auth: authn, Decider: &dispatch.Decider{DB: db}, Registry: reg, Log: log, Now: func() time.Time { return now }}
	h := api.NewRouter(log, authn, &api.Health{}, nil, []api.PublicRoutes{page})
	r := &rig{t: t, db: db, srv: httptest.NewServer(h), keys: map[string]string{}, now: now,
		awaiting: "inc-mill-1", scheduled: "inc-pump-2", closed: "inc-old"}
	t.Cleanup(r.srv.Close)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	r.key("operator", "acme", nil, apikey.ReadingsRead, apikey.IncidentsDecide)
	r.key("reader", "acme", nil, apikey.ReadingsRead)
	r.key("sensor", "acme", nil, apikey.ReadingsWrite)
	past := now.Add(-time.Hour)
	r.key("expired", "acme", &past, apikey.Admin)
	r.key("rival", "rival", nil, apikey.Admin)

	sensors := map[string]store.Sensor{}
	for _, a := range []struct{ tenant, id, sensor string }{
		{"acme", "mill-1", "torque"}, {"acme", "pump-2", "temp"}, {"acme", "fan-3", "speed"}, {"rival", "rival-press", "force"},
	} {
		if _, err := db.CreateAsset(ctx, a.tenant, store.Asset{ID: a.id, Type: "machine", Name: "The " + a.id, Location: "hall B"}); err != nil {
			t.Fatal(err)
		}
		s, err := db.CreateSensor(ctx, a.tenant, store.Sensor{AssetID: a.id, ID: a.sensor, Unit: "Nm", WarnHigh: ptr(60), AlarmHigh: ptr(70)})
		if err != nil {
			t.Fatal(err)
		}
		sensors[a.id] = s
	}
	// mill-1: 30 normal torque readings a second apart, then four past the
	// alarm limit; pump-2: readings two hours old (stale).
	var rows []store.Reading
	var anomalies []anomaly.Anomaly
	start := now.Add(-2 * time.Minute)
	for i := range 34 {
		ts, v := start.Add(time.Duration(i)*time.Second), 40.0+float64(i%5)
		if i >= 30 {
			v = 80 + float64(i-30)
			anomalies = append(anomalies, anomaly.Anomaly{AssetID: "mill-1", SensorID: "torque", TS: ts, Value: v,
				Severity: anomaly.Critical, Score: 0.9, Reason: fmt.Sprintf("torque %g Nm above the alarm limit 70 Nm", v), Direction: 1})
		}
		rows = append(rows, store.Reading{TenantID: "acme", SensorKey: sensors["mill-1"].Key, TS: ts, Value: v})
	}
	rows = append(rows, store.Reading{TenantID: "acme", SensorKey: sensors["pump-2"].Key, TS: now.Add(-2 * time.Hour), Value: 20},
		store.Reading{TenantID: "rival", SensorKey: sensors["rival-press"].Key, TS: now.Add(-time.Minute), Value: 20})
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}
	var ev incident.Evidence
	ev.Add(anomalies...)
	decided := &incident.Decision{Action: incident.Approve, User: "olga", Comment: "bearing noise confirmed", At: now.Add(-30 * time.Minute)}
	closedAt := now.Add(-24 * time.Hour)
	for i, inc := range []struct {
		incident.Projection
		summary map[string]any
	}{
		{incident.Projection{TenantID: "acme", ID: r.awaiting, AssetID: "mill-1", Status: "awaiting_approval", Severity: "critical", Confidence: 0.72, Anomalies: 4},
			map[string]any{"evidence": ev, "decision_due": now.Add(50 * time.Minute), "escalation_stage": 1}},
		{incident.Projection{TenantID: "acme", ID: r.scheduled, AssetID: "pump-2", Status: "scheduled", Severity: "major", Confidence: 0.95, Anomalies: 2},
			map[string]any{"decision": decided}},
		{incident.Projection{TenantID: "acme", ID: r.closed, AssetID: "fan-3", Status: "resolved", Severity: "minor", ClosedAt: &closedAt},
			map[string]any{}},
		{incident.Projection{TenantID: "rival", ID: "inc-rival", AssetID: "rival-press", Status: "awaiting_approval", Severity: "critical"},
			map[string]any{}},
	} {
		inc.Summary, _ = json.Marshal(inc.summary)
		inc.WorkflowID, inc.Seq, inc.OpenedAt, inc.UpdatedAt = "incident/"+inc.TenantID+"/"+inc.AssetID, int64(i+1), now.Add(-time.Hour), now
		if err := db.RecordIncident(ctx, inc.Projection, nil); err != nil {
			t.Fatal(err)
		}
	}
	st := &maintenance.Store{DB: db}
	tech, err := st.CreateTechnician(ctx, "acme", maintenance.Technician{Name: "Olga Ivanova", Skills: []string{"mechanical"}, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	slot := now.Add(time.Hour)
	end := slot.Add(90 * time.Minute)
	if _, err := st.CreateWorkOrder(ctx, "acme", maintenance.WorkOrder{AssetID: "pump-2", IncidentID: r.scheduled, Title: "Replace pump-2 seal",
		Priority: workorder.High, EstimatedMinutes: 90, TechnicianID: tech.ID, ScheduledStart: &slot, ScheduledEnd: &end}); err != nil {
		t.Fatal(err)
	}
	days := 30
	lube, err := st.CreatePreventiveSchedule(ctx, "acme", maintenance.PreventiveSchedule{AssetID: "pump-2", Title: "Monthly lubrication",
		EstimatedMinutes: 30, Kind: maintenance.PreventiveCalendar, IntervalDays: &days, Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateWorkOrder(ctx, "acme", maintenance.WorkOrder{AssetID: "pump-2", PreventiveScheduleID: lube.ID, Title: "Monthly lubrication",
		EstimatedMinutes: 30}); err != nil {
		t.Fatal(err)
	}
	for v := range 2 {
		if _, err := reg.Create(ctx, "acme", registry.NewVersion{Name: "mill-iforest", Kind: "iforest", CreatedBy: "test"}, []byte{byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	for alias, v := range map[string]int{registry.Champion: 1, registry.Challenger: 2} {
		if _, err := reg.Promote(ctx, "acme", registry.Promotion{Name: "mill-iforest", Alias: alias, Version: v, Actor: "test", Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

func (r *rig) key(name, tenant string, expires *time.Time, scopes ...apikey.Scope) {
	key, prefix, hash := apikey.Generate()
	if _, err := r.db.CreateAPIKey(context.Background(), tenant, name, prefix, hash, scopes, expires); err != nil {
		r.t.Fatal(err)
	}
	r.keys[name] = key
}

// browser is a cookie-keeping client that does not follow redirects.
type browser struct {
	t      testing.TB
	base   string
	client *http.Client
	// origin is sent as the Origin header of posts; the server's by default.
	origin string
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: r.t, base: r.srv.URL, origin: r.srv.URL, client: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(method, path string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if b.origin != "" {
			req.Header.Set("Origin", b.origin)
		}
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

var (
	loginToken = regexp.MustCompile(`name="login_token" value="([^"]+)"`)
	csrfField  = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// login signs in with the named key and returns the overview.
func (b *browser) login(key string) (*http.Response, string) {
	b.t.Helper()
	_, form := b.do("GET", "/ui/login", nil)
	m := loginToken.FindStringSubmatch(form)
	if m == nil {
		b.t.Fatalf("no login token in the form: %s", form)
	}
	resp, body := b.do("POST", "/ui/login", url.Values{"login_token": {m[1]}, "api_key": {key}})
	if resp.StatusCode != http.StatusSeeOther {
		return resp, body
	}
	return b.do("GET", resp.Header.Get("Location"), nil)
}

func csrfOf(t testing.TB, page string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no csrf token on the page")
	}
	return m[1]
}

func TestSignInAndOverview(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	resp, _ := b.do("GET", "/ui/", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("GET /ui/ without a session = %d → %q, want 303 → /ui/login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.do("GET", "/ui", nil); resp.StatusCode != http.StatusMovedPermanently {
		t.Errorf("GET /ui = %d", resp.StatusCode)
	}
	for name, key := range map[string]string{"unknown": "sm_nothere_0123456789abcdefghijklmnopqrstuv", "expired": r.keys["expired"]} {
		resp, body := b.login(key)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "unknown, revoked or expired") {
			t.Errorf("%s key: %d %.200s", name, resp.StatusCode, body)
		}
	}
	if resp, body := b.login(r.keys["sensor"]); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "readings:read") {
		t.Errorf("a key without readings:read: %d %.200s", resp.StatusCode, body)
	}

	resp, page := b.login(r.keys["operator"])
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overview = %d: %.500s", resp.StatusCode, page)
	}
	u, _ := url.Parse(r.srv.URL + "/ui/")
	var session *http.Cookie
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "smartmaint_ui_key" {
			session = c
		}
	}
	if session == nil || session.Value != r.keys["operator"] {
		t.Fatalf("no session cookie after sign-in: %v", b.client.Jar.Cookies(u))
	}
	if api, _ := url.Parse(r.srv.URL + "/api/v1/incidents"); len(b.client.Jar.Cookies(api)) != 0 {
		t.Errorf("the session cookie is sent outside /ui: %v", b.client.Jar.Cookies(api))
	}
	// The jar hides cookie attributes; check them on a fresh sign-in.
	b2 := r.browser()
	_, form := b2.do("GET", "/ui/login", nil)
	resp, _ = b2.do("POST", "/ui/login", url.Values{"login_token": {loginToken.FindStringSubmatch(form)[1]}, "api_key": {r.keys["operator"]}})
	if sc := strings.Join(resp.Header.Values("Set-Cookie"), "\n"); !strings.Contains(sc, "smartmaint_ui_key=") || !strings.Contains(sc, "HttpOnly") ||
		!strings.Contains(sc, "SameSite=Strict") || !strings.Contains(sc, "Path=/ui") {
		t.Errorf("session cookie attributes: %s", sc)
	}
	for h, want := range map[string]string{"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(h); h != "Cache-Control" && got != "" && !strings.Contains(got, want) {
			t.Errorf("%s: %q", h, got)
		}
	}

	resp, page = b.do("GET", "/ui/", nil)
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP %q", csp)
	}
	for _, want := range []string{
		// header
		"tenant <strong>acme</strong>", "key <strong>operator</strong>",
		// approvals: the mill-1 incident with its chart and buttons
		`id="incident-inc-mill-1"`, `<svg class="chart"`, "torque readings</title>", "4 anomalous from 80 to 83 Nm", "alarm 70",
		`action="/ui/incidents/inc-mill-1/decision"`, `value="approve"`, `value="reject"`, `value="snooze"`, `value="acknowledge"`,
		"torque 83 Nm above the alarm limit 70 Nm", "escalation stage 1",
		// the scheduled incident with its decision
		`id="incident-inc-pump-2"`, "Approved by <strong>olga</strong>", "bearing noise confirmed",
		// assets with health and last reading
		`<span class="sev sev-critical">critical</span></a> awaiting approval`, `<span class="sev sev-warning">stale</span>`, "The fan-3",
		// work orders and models
		"Replace pump-2 seal", "Olga Ivanova", "mill-iforest", "<td>v1</td>", "<td>v2</td>",
		`Replace pump-2 seal <span class="tag" title="incident inc-pump-2">incident</span>`,
		`Monthly lubrication <span class="tag" title="raised by a preventive schedule">preventive</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview lacks %q", want)
		}
	}
	if got := strings.Count(page, `<circle class="anomaly"`); got != 4 {
		t.Errorf("%d anomaly dots, want 4", got)
	}
	for _, absent := range []string{"inc-rival", "rival-press", "inc-old", "<script"} {
		if strings.Contains(page, absent) {
			t.Errorf("the overview shows %q", absent)
		}
	}
	// Assets in trouble come first.
	if i, j := strings.Index(page, ">mill-1"), strings.Index(page, ">fan-3"); i < 0 || j < 0 || i > j {
		t.Errorf("mill-1 (critical) should be listed before fan-3 (ok)")
	}

	if resp, css := b.do("GET", "/ui/static/style.css", nil); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/css") || !strings.Contains(css, ".chart") {
		t.Errorf("style.css: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// Signing out clears the session.
	resp, _ = b.do("POST", "/ui/logout", url.Values{"csrf": {csrfOf(t, page)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout = %d", resp.StatusCode)
	}
	if resp, _ := b.do("GET", "/ui/", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after sign-out GET /ui/ = %d, want a redirect to the sign-in", resp.StatusCode)
	}
}

func TestSignInRefusesForgedForms(t *testing.T) {
	r := newRig(t)
	b := r.browser()
	// No login cookie: a form posted from elsewhere.
	resp, body := b.do("POST", "/ui/login", url.Values{"login_token": {"made-up"}, "api_key": {r.keys["operator"]}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "expired or came from another site") {
		t.Errorf("login without the form's token = %d", resp.StatusCode)
	}
	// The right token but another site's Origin.
	_, form := b.do("GET", "/ui/login", nil)
	b.origin = "https://evil.example"
	resp, _ = b.do("POST", "/ui/login", url.Values{"login_token": {loginToken.FindStringSubmatch(form)[1]}, "api_key": {r.keys["operator"]}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("login from another origin = %d", resp.StatusCode)
	}
}

// decide posts the decision form of incident id and returns the flash
// shown on the overview afterwards.
func (b *browser) decide(id string, form url.Values) (int, string) {
	b.t.Helper()
	resp, body := b.do("POST", "/ui/incidents/"+id+"/decision", form)
	if resp.StatusCode != http.StatusSeeOther {
		return resp.StatusCode, body
	}
	if loc := resp.Header.Get("Location"); loc != "/ui/#incident-"+id {
		b.t.Errorf("redirect to %q", loc)
	}
	_, page := b.do("GET", "/ui/", nil)
	m := regexp.MustCompile(`<p class="flash (ok|error)" role="[a-z]+">([^<]*)</p>`).FindStringSubmatch(page)
	if m == nil {
		b.t.Fatalf("no notice after the decision")
	}
	return resp.StatusCode, m[1] + ": " + m[2]
}

func TestDecisionForm(t *testing.T) {
	r := newRig(t)
	op := r.browser()
	_, page := op.login(r.keys["operator"])
	csrf := csrfOf(t, page)

	for _, tt := range []struct {
		name, id string
		form     url.Values
		want     string
	}{
		{"unknown action", r.awaiting, url.Values{"action": {"perhaps"}}, "error: Incident inc-mill-1: the decision is invalid (action: one of approve, reject, snooze, acknowledge)"},
		{"snooze too long", r.awaiting, url.Values{"action": {"snooze"}, "snooze_for": {"9999h"}}, "error: Incident inc-mill-1: the decision is invalid (snooze_for: a duration from 1m to 720h"},
		{"closed incident", r.closed, url.Values{"action": {"approve"}}, "error: Incident inc-old: incident is resolved"},
		{"unknown incident", "no-such", url.Values{"action": {"approve"}}, "error: Incident no-such does not exist."},
		{"another tenant's incident", "inc-rival", url.Values{"action": {"approve"}}, "error: Incident inc-rival does not exist."},
		{"name too long", r.awaiting, url.Values{"action": {"approve"}, "user": {strings.Repeat("o", 129)}}, "error: Incident inc-mill-1: the decision is invalid (user: at most 128 characters on one line)"},
		{"comment too long", r.awaiting, url.Values{"action": {"approve"}, "comment": {strings.Repeat("c", 2001)}}, "error: Incident inc-mill-1: the decision is invalid (comment: at most 2000 characters)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.form.Set("csrf", csrf)
			code, notice := op.decide(tt.id, tt.form)
			if code != http.StatusSeeOther || !strings.HasPrefix(notice, tt.want) {
				t.Errorf("notice %q (%d), want %q…", notice, code, tt.want)
			}
		})
	}

	t.Run("wrong csrf token", func(t *testing.T) {
		resp, body := op.do("POST", "/ui/incidents/"+r.awaiting+"/decision", url.Values{"action": {"approve"}, "csrf": {csrfOf(t, page) + "x"}})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Form refused") {
			t.Errorf("%d %.200s", resp.StatusCode, body)
		}
	})
	t.Run("another site", func(t *testing.T) {
		evil := *op
		evil.origin = "https://evil.example"
		if resp, _ := evil.do("POST", "/ui/incidents/"+r.awaiting+"/decision", url.Values{"action": {"approve"}, "csrf": {csrf}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("token of another key", func(t *testing.T) {
		reader := r.browser()
		_, readerPage := reader.login(r.keys["reader"])
		if resp, _ := op.do("POST", "/ui/incidents/"+r.awaiting+"/decision", url.Values{"action": {"approve"}, "csrf": {csrfOf(t, readerPage)}}); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%d", resp.StatusCode)
		}
	})
	t.Run("key without incidents:decide", func(t *testing.T) {
		reader := r.browser()
		_, readerPage := reader.login(r.keys["reader"])
		if strings.Contains(readerPage, `value="approve"`) || !strings.Contains(readerPage, "cannot decide on incidents") {
			t.Error("a read-only key sees the decision buttons")
		}
		_, notice := reader.decide(r.awaiting, url.Values{"action": {"approve"}, "csrf": {csrfOf(t, readerPage)}})
		if !strings.Contains(notice, "lacks the incidents:decide scope") {
			t.Errorf("notice %q", notice)
		}
	})
	t.Run("no session", func(t *testing.T) {
		resp, _ := r.browser().do("POST", "/ui/incidents/"+r.awaiting+"/decision", url.Values{"action": {"approve"}, "csrf": {csrf}})
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
			t.Errorf("%d → %s", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	// The incident did not move.
	inc, err := r.db.GetIncident(context.Background(), "acme", r.awaiting)
	if err != nil || inc.Status != "awaiting_approval" {
		t.Errorf("incident %v, %v", inc.Status, err)
	}
}

// TestOverviewShowsWhoAcknowledged: an acknowledged incident says who
// acknowledged it and offers no second acknowledgement; the decision form
// bounds its fields as the API does.
func TestOverviewShowsWhoAcknowledged(t *testing.T) {
	r := newRig(t)
	ack := incident.Projection{TenantID: "acme", ID: "inc-fan-3", AssetID: "fan-3", WorkflowID: "incident/acme/fan-3", Status: "awaiting_approval",
		Severity: "major", Acknowledged: true, Assignee: "kai <night shift>", Summary: []byte(`{}`), Seq: 1, OpenedAt: r.now.Add(-time.Hour), UpdatedAt: r.now}
	if err := r.db.RecordIncident(context.Background(), ack, nil); err != nil {
		t.Fatal(err)
	}
	_, page := r.browser().login(r.keys["operator"])
	card := func(id string) string {
		start := strings.Index(page, `id="incident-`+id+`"`)
		if start < 0 {
			t.Fatalf("no card for %s", id)
		}
		end := strings.Index(page[start:], "</article>")
		return page[start : start+end]
	}
	fan, mill := card("inc-fan-3"), card(r.awaiting)
	if !strings.Contains(fan, "Acknowledged by <strong>kai &lt;night shift&gt;</strong>: escalation has stopped, the decision is still due.") {
		t.Errorf("the acknowledged incident does not say who acknowledged it:\n%s", fan)
	}
	if strings.Contains(fan, `value="acknowledge"`) || !strings.Contains(fan, `value="approve"`) {
		t.Errorf("the acknowledged incident should offer approve, reject and snooze but not acknowledge:\n%s", fan)
	}
	if strings.Contains(mill, "Acknowledged by") || !strings.Contains(mill, `value="acknowledge"`) {
		t.Errorf("the unacknowledged incident:\n%s", mill)
	}
	if !strings.Contains(mill, `name="user" autocomplete="name" maxlength="128"`) || !strings.Contains(mill, `name="comment" maxlength="2000"`) {
		t.Errorf("the decision form's limits differ from the API's:\n%s", mill)
	}
}

// TestOverviewShowsReconciliation: incidents re-attached or closed at
// start-up in the last day are listed; older ones are not.
func TestOverviewShowsReconciliation(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	inc := incident.Projection{TenantID: "acme", ID: "inc-pump-9", AssetID: "pump-9", WorkflowID: "incident/acme/pump-9", Status: "awaiting_approval",
		Severity: "major", Summary: []byte(`{}`), Seq: 1, OpenedAt: r.now.Add(-48 * time.Hour), UpdatedAt: r.now}
	log := []store.LogEntry{
		{Seq: 1, At: r.now.Add(-47 * time.Hour), Actor: "system", Event: incident.EventReattached, Message: "the old one"},
		{Seq: 2, At: r.now.Add(-time.Hour), Actor: "system", Event: incident.EventReattached, Message: "re-attached at start-up: its workflow was gone"},
	}
	if err := r.db.RecordIncident(ctx, inc, log); err != nil {
		t.Fatal(err)
	}
	_, page := r.browser().login(r.keys["operator"])
	if !strings.Contains(page, "Incidents carried on after a restart") || !strings.Contains(page, "pump-9, incident") ||
		!strings.Contains(page, "re-attached: re-attached at start-up: its workflow was gone") {
		t.Errorf("the page does not list the re-attached incident:\n%s", page)
	}
	if strings.Contains(page, "the old one") {
		t.Error("the page lists a re-attachment older than a day")
	}
}

// BenchmarkOverview renders the whole page for the rig's tenant: every
// query, the evidence chart and the template.
func BenchmarkOverview(b *testing.B) {
	r := newRig(b)
	br := r.browser()
	if resp, _ := br.login(r.keys["operator"]); resp.StatusCode != 200 {
		b.Fatal(resp.StatusCode)
	}
	for b.Loop() {
		if resp, _ := br.do("GET", "/ui/", nil); resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
}
