package api_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// newRegistryServer is the real router with the registry routes over a
// throwaway database and artifact folder, with two versions of
// "pump-iforest" (v1 champion) and a third whose artifact is corrupt.
func newRegistryServer(t *testing.T) (*server, *registry.Registry) {
	t.Helper()
	db, _ := testenv.DB(t)
	log := slog.New(slog.DiscardHandler)
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(db, folder, registry.Options{Logger: log})
	h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, []api.Routes{&api.Models{Registry: reg}}, nil)
	s := &server{Server: httptest.NewServer(h), db: db, keys: map[string]string{}}
	t.Cleanup(s.Close)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	s.key(t, "ml-ops", "acme", apikey.ModelsWrite, apikey.ReadingsRead)
	s.key(t, "reader", "acme", apikey.ReadingsRead)
	s.key(t, "rival", "rival", apikey.Admin)

	ctx := context.Background()
	for i, content := range []string{"forest one", "forest two", "forest three"} {
		v, err := reg.Create(ctx, "acme", registry.NewVersion{
			Name: "pump-iforest", Kind: "iforest", Metrics: map[string]float64{"auc": 0.9 + float64(i)/100},
			Features: []string{"torque"}, TrainingData: "ai4i2020.csv", CreatedBy: "test", Parent: i,
		}, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := os.WriteFile(filepath.Join(folder.Dir(), v.Artifact.Key), []byte("forest tree"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := reg.Promote(ctx, "acme", registry.Promotion{Name: "pump-iforest", Alias: registry.Champion, Version: 1, Actor: "test", Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func TestModelsList(t *testing.T) {
	s, _ := newRegistryServer(t)
	code, body, _ := s.do(t, "reader", "GET", "/api/v1/models", "", "")
	items, _ := body["items"].([]any)
	if code != 200 || len(items) != 1 {
		t.Fatalf("GET /models: %d %v", code, body)
	}
	m := items[0].(map[string]any)
	if m["name"] != "pump-iforest" || m["latest_version"] != 3.0 || m["aliases"].(map[string]any)["champion"] != 1.0 {
		t.Errorf("model = %v", m)
	}
	if code, body, _ := s.do(t, "rival", "GET", "/api/v1/models", "", ""); code != 200 || len(body["items"].([]any)) != 0 {
		t.Errorf("another tenant lists %d %v", code, body)
	}
	if code, body, _ := s.do(t, "", "GET", "/api/v1/models", "", ""); code != 401 || errCode(body) != "unauthenticated" {
		t.Errorf("without a key: %d %v", code, body)
	}
}

func TestModelVersions(t *testing.T) {
	s, _ := newRegistryServer(t)
	code, body, _ := s.do(t, "reader", "GET", "/api/v1/models/pump-iforest/versions", "", "")
	if code != 200 {
		t.Fatalf("GET versions: %d %v", code, body)
	}
	items := body["items"].([]any)
	if len(items) != 3 || items[0].(map[string]any)["version"] != 3.0 || body["next_before"] != 0.0 {
		t.Fatalf("versions = %v", body)
	}
	v1 := items[2].(map[string]any)
	if v1["metrics"].(map[string]any)["auc"] != 0.9 || v1["kind"] != "iforest" || v1["artifact"].(map[string]any)["sha256"] == "" {
		t.Errorf("v1 = %v", v1)
	}
	if items[1].(map[string]any)["parent_version"] != 1.0 {
		t.Errorf("v2 lineage = %v", items[1])
	}
	history := body["alias_history"].([]any)
	if len(history) != 1 || history[0].(map[string]any)["to_version"] != 1.0 || history[0].(map[string]any)["reason"] != "first" {
		t.Errorf("alias_history = %v", history)
	}
	if body["model"].(map[string]any)["aliases"].(map[string]any)["champion"] != 1.0 {
		t.Errorf("model = %v", body["model"])
	}

	code, body, _ = s.do(t, "reader", "GET", "/api/v1/models/pump-iforest/versions?limit=2", "", "")
	if code != 200 || len(body["items"].([]any)) != 2 || body["next_before"] != 2.0 {
		t.Fatalf("first page: %d %v", code, body)
	}
	code, body, _ = s.do(t, "reader", "GET", "/api/v1/models/pump-iforest/versions?limit=2&before=2", "", "")
	if code != 200 || len(body["items"].([]any)) != 1 || body["next_before"] != 0.0 {
		t.Fatalf("second page: %d %v", code, body)
	}

	for _, tt := range []struct {
		key, path string
		code      int
		errCode   string
	}{
		{"reader", "/api/v1/models/nope/versions", 404, "not_found"},
		{"rival", "/api/v1/models/pump-iforest/versions", 404, "not_found"},
		{"reader", "/api/v1/models/pump-iforest/versions?limit=0", 400, "invalid_query"},
		{"reader", "/api/v1/models/pump-iforest/versions?before=x", 400, "invalid_query"},
		{"", "/api/v1/models/pump-iforest/versions", 401, "unauthenticated"},
	} {
		if code, body, _ := s.do(t, tt.key, "GET", tt.path, "", ""); code != tt.code || errCode(body) != tt.errCode {
			t.Errorf("GET %s as %q: %d %v, want %d %s", tt.path, tt.key, code, body, tt.code, tt.errCode)
		}
	}
}

func TestPromote(t *testing.T) {
	s, reg := newRegistryServer(t)
	const path = "/api/v1/models/pump-iforest/promote"
	code, body, _ := s.do(t, "ml-ops", "POST", path, "application/json", `{"version":2,"alias":"champion","reason":"better AUC on holdout"}`)
	if code != 200 || body["from_version"] != 1.0 || body["to_version"] != 2.0 || body["reason"] != "better AUC on holdout" ||
		!strings.Contains(body["actor"].(string), "ml-ops") {
		t.Fatalf("promote: %d %v", code, body)
	}
	if v, err := reg.Resolve(context.Background(), "acme", "pump-iforest", registry.Champion); err != nil || v.Version != 2 {
		t.Fatalf("champion after promotion: v%d, %v", v.Version, err)
	}
	// alias defaults to champion
	code, body, _ = s.do(t, "ml-ops", "POST", path, "application/json", `{"version":1,"reason":"roll back"}`)
	if code != 200 || body["alias"] != "champion" || body["to_version"] != 1.0 {
		t.Fatalf("roll back: %d %v", code, body)
	}

	for _, tt := range []struct {
		name, key, path, body string
		code                  int
		errCode               string
	}{
		{"no key", "", path, `{"version":2,"reason":"r"}`, 401, "unauthenticated"},
		{"read-only key", "reader", path, `{"version":2,"reason":"r"}`, 403, "forbidden"},
		{"already champion", "ml-ops", path, `{"version":1,"alias":"champion","reason":"again"}`, 409, "alias_unchanged"},
		{"corrupt artifact", "ml-ops", path, `{"version":3,"alias":"challenger","reason":"try"}`, 409, "not_eligible"},
		{"unknown version", "ml-ops", path, `{"version":9,"reason":"r"}`, 404, "not_found"},
		{"unknown model", "ml-ops", "/api/v1/models/nope/promote", `{"version":1,"reason":"r"}`, 404, "not_found"},
		{"other tenant", "rival", path, `{"version":2,"reason":"r"}`, 404, "not_found"},
		{"no version", "ml-ops", path, `{"reason":"r"}`, 422, "invalid_promotion"},
		{"unknown alias", "ml-ops", path, `{"version":2,"alias":"production","reason":"r"}`, 422, "invalid_promotion"},
		{"no reason", "ml-ops", path, `{"version":2,"reason":"  "}`, 422, "invalid_promotion"},
		{"unknown field", "ml-ops", path, `{"version":2,"reason":"r","force":true}`, 400, "malformed_body"},
		{"not JSON", "ml-ops", path, `version=2`, 400, "malformed_body"},
		{"GET", "ml-ops", path, ``, 405, "method_not_allowed"},
	} {
		method := "POST"
		if tt.name == "GET" {
			method = "GET"
		}
		code, body, _ := s.do(t, tt.key, method, tt.path, "application/json", tt.body)
		if code != tt.code || errCode(body) != tt.errCode {
			t.Errorf("%s: %d %v, want %d %s", tt.name, code, body, tt.code, tt.errCode)
		}
		if tt.code == 409 && tt.errCode == "not_eligible" && strings.Contains(body["error"].(map[string]any)["message"].(string), "/") {
			t.Errorf("%s: the message leaks a storage path: %v", tt.name, body)
		}
	}
	code, body, _ = s.do(t, "ml-ops", "POST", path, "application/json", `{"version":0,"alias":"x","reason":""}`)
	if details, _ := body["error"].(map[string]any)["details"].([]any); code != 422 || len(details) != 3 {
		t.Errorf("three problems: %d %v, want 422 naming version, alias and reason", code, body)
	}
	history, err := reg.AliasHistory(context.Background(), "acme", "pump-iforest", 0)
	if err != nil || len(history) != 3 {
		t.Fatalf("history has %d moves (%v); refused promotions must not be recorded", len(history), err)
	}
}
