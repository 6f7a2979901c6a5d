package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/devserver"
)

// prometheusServer is a real Prometheus (Debian's package) started for a
// test.
type prometheusServer struct {
	t   *testing.T
	url string
}

// startPrometheus runs prometheus on a free loopback port with a config
// that scrapes target's /metrics every second as job smartmaint-api and
// loads deploy/alerts.yml.
func startPrometheus(t *testing.T, target string) *prometheusServer {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("the scrape test runs Debian's prometheus: apt-get install -y prometheus (%v)", err)
	}
	rules, err := filepath.Abs(filepath.Join("..", "deploy", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %q
scrape_configs:
  - job_name: smartmaint-api
    metrics_path: /metrics
    static_configs:
      - targets: [%q]
`, rules, target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := devserver.FreePort("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var out bytes.Buffer
	cmd := exec.Command(bin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus output:\n%s", out.String())
		}
	})
	p := &prometheusServer{t: t, url: "http://" + addr}
	eventually(t, 30*time.Second, "prometheus to be ready", func() bool {
		select {
		case <-exited:
			t.Fatalf("prometheus exited: %s", out.String())
		default:
		}
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return p
}

// get calls Prometheus' HTTP API and decodes its data.
func (p *prometheusServer) get(path string, params url.Values, data any) {
	p.t.Helper()
	resp, err := http.Get(p.url + path + "?" + params.Encode())
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status != "success" {
		p.t.Fatalf("GET %s %v: %s %s %v", path, params, body.Status, body.Error, err)
	}
	if err := json.Unmarshal(body.Data, data); err != nil {
		p.t.Fatal(err)
	}
}

// query evaluates an instant PromQL query and returns each series' value
// by its labels.
func (p *prometheusServer) query(q string) map[string]float64 {
	p.t.Helper()
	var data struct {
		Result []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	p.get("/api/v1/query", url.Values{"query": {q}}, &data)
	out := map[string]float64{}
	for _, r := range data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			p.t.Fatalf("%s: value %v", q, r.Value)
		}
		out[fmt.Sprint(r.Metric)] = v
	}
	return out
}

// sum is the single value of a query that aggregates to one series; -1
// when it has none.
func (p *prometheusServer) sum(q string) float64 {
	p.t.Helper()
	res := p.query("sum(" + q + ")")
	for _, v := range res {
		return v
	}
	return -1
}

// TestPrometheusScrape: the real Prometheus scrapes the API's /metrics and
// finds the HTTP, ingest, scoring, anomaly and incident metrics, with the
// target up; deploy/alerts.yml loads and its rules evaluate without error,
// and so do the Grafana dashboard's queries.
func TestPrometheusScrape(t *testing.T) {
	s := startStack(t, nil)
	s.key("admin", "acme", apikey.Admin)
	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "press-9", "type": "press"})
	s.must(201, "admin", "POST", "/api/v1/assets/press-9/sensors", map[string]any{"id": "force", "unit": "kN", "warn_high": 60, "alarm_high": 70})
	now := time.Now().UTC().Add(-time.Minute)
	var readings []map[string]any
	for i := range 50 {
		v := 40 + i%3
		if i >= 46 {
			v = 90
		}
		readings = append(readings, map[string]any{"asset_id": "press-9", "sensor_id": "force", "ts": now.Add(time.Duration(i) * time.Second), "value": v})
	}
	s.must(201, "admin", "POST", "/api/v1/readings", readings)
	s.must(404, "admin", "GET", "/api/v1/assets/no-such-asset", nil)

	// The public listener serves no metrics, not even to a tenant admin.
	if code, body := s.call("admin", "GET", "/metrics", nil); code != 404 {
		t.Errorf("GET /metrics on the public listener with a tenant's key = %d %v, want 404", code, body)
	}
	p := startPrometheus(t, s.cfg.AdminAddr)
	eventually(t, 30*time.Second, `up{job="smartmaint-api"} == 1`, func() bool {
		return p.sum(`up{job="smartmaint-api"}`) == 1
	})
	for q, min := range map[string]float64{
		`smartmaint_http_requests_total{job="smartmaint-api",route="/api/v1/readings",method="POST",code="201"}`:   1,
		`smartmaint_http_requests_total{job="smartmaint-api",route="/api/v1/assets/{id}",method="GET",code="404"}`: 1,
		`smartmaint_http_request_duration_seconds_count{job="smartmaint-api",route="/api/v1/readings"}`:            1,
		`smartmaint_ingest_rows_total{job="smartmaint-api"}`:                                                       50,
		`smartmaint_ingest_batches_total{job="smartmaint-api",result="ok"}`:                                        1,
		`smartmaint_ingest_commit_duration_seconds_count{job="smartmaint-api"}`:                                    1,
		`smartmaint_scored_readings_total{job="smartmaint-api"}`:                                                   50,
		`smartmaint_scoring_duration_seconds_count{job="smartmaint-api"}`:                                          1,
		`smartmaint_anomalies_total{job="smartmaint-api"}`:                                                         4,
	} {
		if got := p.sum(q); got < min {
			t.Errorf("%s = %g, want at least %g", q, got, min)
		}
	}
	// The incident the anomalies opened shows in the projection gauge.
	eventually(t, 45*time.Second, `smartmaint_incidents_open{tenant="acme"} == 1`, func() bool {
		return p.sum(`smartmaint_incidents_open{job="smartmaint-api",tenant="acme"}`) == 1
	})
	if age := p.sum(`time() - smartmaint_incidents_oldest_update_timestamp_seconds{tenant="acme"}`); age < 0 || age > 120 {
		t.Errorf("the open incident last moved %g s ago", age)
	}

	// deploy/alerts.yml loaded, and every rule evaluated without error
	// against the real series.
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Name           string `json:"name"`
				Health         string `json:"health"`
				LastError      string `json:"lastError"`
				LastEvaluation string `json:"lastEvaluation"`
			} `json:"rules"`
		} `json:"groups"`
	}
	eventually(t, 15*time.Second, "every rule to be evaluated", func() bool {
		p.get("/api/v1/rules", url.Values{}, &rules)
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				if r.Health == "unknown" {
					return false
				}
			}
		}
		return len(rules.Groups) > 0
	})
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Health != "ok" {
				t.Errorf("rule %s/%s: %s %s", g.Name, r.Name, r.Health, r.LastError)
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d rules loaded from deploy/alerts.yml", n)
	}
	// Every query of the Grafana dashboards runs.
	for _, expr := range dashboardQueries(t) {
		p.query(strings.ReplaceAll(expr, "$__rate_interval", "1m"))
	}

	// Nothing is wrong, so nothing fires.
	var alerts struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	p.get("/api/v1/alerts", url.Values{}, &alerts)
	for _, a := range alerts.Alerts {
		if a.State == "firing" {
			t.Errorf("alert %s fires on a healthy stack: %v", a.Labels["alertname"], a.Labels)
		}
	}
}

// dashboardQueries returns the PromQL of every panel of the Grafana
// dashboards in deploy/grafana/dashboards.
func dashboardQueries(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards: %v", err)
	}
	type panel struct {
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		Panels []json.RawMessage `json:"panels"`
	}
	var out []string
	var walk func(raw []json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatal(err)
			}
			for _, tg := range p.Targets {
				out = append(out, tg.Expr)
			}
			walk(p.Panels)
		}
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			Panels []json.RawMessage `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walk(d.Panels)
	}
	return out
}

// TestAdminListener: with METRICS_TOKEN set, the admin listener serves
// /metrics only with the bearer token (401 JSON without), its health
// endpoints without; the public listener serves no /metrics to any key.
func TestAdminListener(t *testing.T) {
	s := startStack(t, func(c *config.Config) { c.MetricsToken = "scrape-secret" })
	s.key("admin", "acme", apikey.Admin)
	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "press-1", "type": "press"})
	get := func(base, path, auth string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(s.adminURL, "/metrics", ""); code != 401 || !strings.Contains(body, `"unauthorized"`) {
		t.Errorf("admin /metrics without the token = %d %s, want 401 JSON", code, body)
	}
	if code, body := get(s.adminURL, "/metrics", "Bearer scrape-secret"); code != 200 || !strings.Contains(body, `smartmaint_http_requests_total{code="201",method="POST",route="/api/v1/assets"}`) {
		t.Errorf("admin /metrics with the token = %d %.300s", code, body)
	}
	if code, body := get(s.adminURL, "/health/ready", ""); code != 200 {
		t.Errorf("admin /health/ready = %d %s, want 200 without a token", code, body)
	}
	for _, auth := range []string{"", "Bearer scrape-secret"} {
		if code, body := get(s.baseURL, "/metrics", auth); code != 404 || strings.Contains(body, "smartmaint_") {
			t.Errorf("public /metrics with %q = %d %.200s, want 404", auth, code, body)
		}
	}
	if code, body := s.call("admin", "GET", "/metrics", nil); code != 404 {
		t.Errorf("public /metrics with a tenant admin's key = %d %v, want 404", code, body)
	}
}
