package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
)

// TestNoMetricsForTenants: the public router serves no /metrics: with no
// key, a key without scopes or a tenant admin's key the answer is the 404
// JSON of any unknown path, and no metric reaches the body.
func TestNoMetricsForTenants(t *testing.T) {
	s := newFullServer(t, nil)
	s.key(t, "admin", "acme", apikey.Admin)
	for _, key := range []string{"", "none", "decider", "admin"} {
		for _, path := range []string{"/metrics", "/metrics/", "/api/v1/metrics"} {
			code, raw, _ := s.send(t, key, "GET", path, "", nil)
			if code != http.StatusNotFound || jsonErrCode(raw) != "not_found" {
				t.Errorf("GET %s as %q = %d %s, want 404 not_found", path, key, code, raw)
			}
			if bytes.Contains(raw, []byte("smartmaint_")) || bytes.Contains(raw, []byte("go_goroutines")) {
				t.Errorf("GET %s as %q leaks metrics: %s", path, key, raw)
			}
		}
	}
}

// TestAdminRouter: the admin listener serves /metrics and the health
// endpoints, answers unknown paths with 404 JSON, and with a token requires
// it on /metrics (401 JSON without or with a wrong one) but not on health.
func TestAdminRouter(t *testing.T) {
	tests := []struct {
		name, token, method, path, auth string
		code                            int
		errCode                         string
	}{
		{"metrics open", "", "GET", "/metrics", "", 200, ""},
		{"health", "", "GET", "/health", "", 200, ""},
		{"ready", "", "GET", "/health/ready", "", 200, ""},
		{"unknown path", "", "GET", "/api/v1/assets", "", 404, "not_found"},
		{"wrong method", "", "POST", "/metrics", "", 405, "method_not_allowed"},
		{"token missing", "s3cret", "GET", "/metrics", "", 401, "unauthorized"},
		{"token wrong", "s3cret", "GET", "/metrics", "Bearer s3cre", 401, "unauthorized"},
		{"token not bearer", "s3cret", "GET", "/metrics", "Basic s3cret", 401, "unauthorized"},
		{"token right", "s3cret", "GET", "/metrics", "Bearer s3cret", 200, ""},
		{"health without token", "s3cret", "GET", "/health", "", 200, ""},
		{"ready without token", "s3cret", "GET", "/health/ready", "", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := api.NewAdminRouter(&api.Health{}, tt.token)
			req := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			raw := rec.Body.Bytes()
			if rec.Code != tt.code || jsonErrCode(raw) != tt.errCode {
				t.Fatalf("%s %s = %d %s, want %d %q", tt.method, tt.path, rec.Code, raw, tt.code, tt.errCode)
			}
			if tt.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.path == "/metrics" && tt.code == 200 && !bytes.Contains(raw, []byte("go_goroutines")) {
				t.Errorf("/metrics lacks go_goroutines: %.200s", raw)
			}
			if tt.code != 200 && bytes.Contains(raw, []byte("go_goroutines")) {
				t.Errorf("a refused request got metrics: %.200s", raw)
			}
		})
	}
}
