package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/registry/registrytest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// newModelsServer is the real router with the models routes made by
// routes over a throwaway database and artifact folder, tenants acme and
// rival, and the keys ml-ops (models:write, readings:read) and reader of
// acme and rival of rival.
func newModelsServer[R api.Routes](t *testing.T, routes func(*store.DB, *registry.Registry) R) (*server, *registry.Registry) {
	t.Helper()
	folder := registrytest.Folder(t)
	return newModelsServerOn(t, folder, routes)
}

// newModelsServerOn is newModelsServer keeping artifacts in artifacts, the
// router built with opts.
func newModelsServerOn[R api.Routes](t testing.TB, artifacts artifact.Store, routes func(*store.DB, *registry.Registry) R, opts ...api.Option) (*server, *registry.Registry) {
	t.Helper()
	db, _ := testenv.DB(t)
	log := slog.New(slog.DiscardHandler)
	reg := registry.New(db, artifacts, registry.Options{Logger: log})
	h := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, []api.Routes{routes(db, reg)}, nil, opts...)
	s := &server{Server: httptest.NewServer(h), db: db, keys: map[string]string{}}
	t.Cleanup(s.Close)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	s.key(t, "ml-ops", "acme", apikey.ModelsWrite, apikey.ReadingsRead)
	s.key(t, "reader", "acme", apikey.ReadingsRead)
	s.key(t, "rival", "rival", apikey.Admin)
	return s, reg
}

// newRegistryServer is the real router with the registry routes over a
// throwaway database and artifact folder, with two versions of
// "pump-iforest" (v1 champion) and a third whose artifact is corrupt.
func newRegistryServer(t *testing.T) (*server, *registry.Registry) {
	t.Helper()
	s, reg := newModelsServer(t, func(_ *store.DB, reg *registry.Registry) *api.Models { return &api.Models{Registry: reg} })
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
			if err := os.WriteFile(filepath.Join(reg.Artifacts().(*artifact.Folder).Dir(), v.Artifact.Key), []byte("forest tree"), 0o644); err != nil {
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
		{"unknown field", "ml-ops", path, `{"version":2,"reason":"r","forced":true}`, 400, "malformed_body"},
		{"force not a boolean", "ml-ops", path, `{"version":2,"reason":"r","force":"yes"}`, 400, "malformed_body"},
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

// newMLOpsServer is newRegistryServer with the drift, policy and
// retraining routes. Its Temporal client never connects: these tests stop
// at the checks made before a workflow is started (the end-to-end test in
// internal/app starts them on a real server).
func newMLOpsServer(t *testing.T) *server {
	t.Helper()
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	defaults := mlops.Policy{Drift: mlops.DefaultDriftPolicy(), MinImprovement: 0.01, ApprovalTimeout: 24 * time.Hour}
	s, reg := newModelsServer(t, func(db *store.DB, reg *registry.Registry) *api.Models {
		return &api.Models{Registry: reg, MLOps: &mlops.Store{DB: db}, Defaults: defaults, Temporal: tc, TaskQueue: "test"}
	})
	ctx := context.Background()
	for _, name := range []string{"iforest-mill", "iforest-fan", "ai4i-gbdt"} {
		v, err := reg.Create(ctx, "acme", registry.NewVersion{Name: name, Kind: "iforest", CreatedBy: "test"}, []byte("model of "+name))
		if err != nil {
			t.Fatal(err)
		}
		if name != "iforest-fan" {
			if _, err := reg.Promote(ctx, "acme", registry.Promotion{Name: name, Alias: registry.Champion, Version: v.Version, Actor: "test", Reason: "first"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return s
}

func TestModelDriftAndPolicy(t *testing.T) {
	s := newMLOpsServer(t)
	code, body, _ := s.do(t, "reader", "GET", "/api/v1/models/iforest-mill/drift", "", "")
	policy, _ := body["policy"].(map[string]any)
	if code != 200 || body["latest"] != nil || len(body["history"].([]any)) != 0 || len(body["retrains"].([]any)) != 0 ||
		policy["min_improvement"] != 0.01 || policy["approval_timeout"] != "24h0m0s" || policy["overridden"] != false {
		t.Fatalf("GET drift: %d %v", code, body)
	}
	code, body, _ = s.do(t, "ml-ops", "PUT", "/api/v1/models/iforest-mill/policy", "application/json",
		`{"require_approval":true,"approval_timeout":"2h","psi_threshold":0.25,"min_features":3}`)
	drift, _ := body["drift"].(map[string]any)
	if code != 200 || body["require_approval"] != true || body["approval_timeout"] != "2h0m0s" || drift["psi_threshold"] != 0.25 ||
		drift["min_features"] != 3.0 || drift["ks_pvalue"] != 0.01 || !strings.Contains(body["updated_by"].(string), "ml-ops") {
		t.Fatalf("PUT policy: %d %v", code, body)
	}
	// The promotion settings: a watch band and short intervals.
	code, body, _ = s.do(t, "ml-ops", "PUT", "/api/v1/models/iforest-mill/policy", "application/json",
		`{"require_approval":true,"approval_timeout":"2h","backtest_days":7,"tolerance":0.05,"watch_band":[0,2],"watch_for":"10s","watch_every":"2s","watch_duration":"5m"}`)
	watch, _ := body["watch"].(map[string]any)
	if code != 200 || body["backtest_days"] != 7.0 || body["tolerance"] != 0.05 || watch["enabled"] != true || watch["for"] != "10s" ||
		watch["every"] != "2s" || watch["duration"] != "5m0s" || watch["ratio"] != 3.0 || fmt.Sprint(watch["band"]) != "[0 2]" {
		t.Fatalf("PUT promotion policy: %d %v", code, body)
	}
	if code, body, _ = s.do(t, "reader", "GET", "/api/v1/models/iforest-mill/drift", "", ""); body["policy"].(map[string]any)["require_approval"] != true {
		t.Errorf("policy after PUT: %d %v", code, body)
	}

	for _, tt := range []struct {
		name, key, method, path, body string
		code                          int
		errCode                       string
		details                       int
	}{
		{"drift of unknown model", "reader", "GET", "/api/v1/models/nope/drift", "", 404, "not_found", 0},
		{"drift of another tenant", "rival", "GET", "/api/v1/models/iforest-mill/drift", "", 404, "not_found", 0},
		{"drift bad limit", "reader", "GET", "/api/v1/models/iforest-mill/drift?limit=0", "", 400, "invalid_query", 1},
		{"drift no key", "", "GET", "/api/v1/models/iforest-mill/drift", "", 401, "unauthenticated", 0},
		{"policy read-only key", "reader", "PUT", "/api/v1/models/iforest-mill/policy", `{}`, 403, "forbidden", 0},
		{"policy unknown model", "ml-ops", "PUT", "/api/v1/models/nope/policy", `{}`, 404, "not_found", 0},
		{"policy bad values", "ml-ops", "PUT", "/api/v1/models/iforest-mill/policy",
			`{"approval_timeout":"soon","min_improvement":-1,"psi_threshold":0,"ks_pvalue":1,"min_features":0}`, 422, "invalid_policy", 5},
		{"policy bad promotion values", "ml-ops", "PUT", "/api/v1/models/iforest-mill/policy",
			`{"backtest_days":91,"tolerance":2,"watch_band":[3,1],"watch_ratio":0.5,"watch_for":"0s","watch_duration":"1y","watch_every":"48h"}`, 422, "invalid_policy", 7},
		{"policy unknown field", "ml-ops", "PUT", "/api/v1/models/iforest-mill/policy", `{"margin":1}`, 400, "malformed_body", 0},
		{"retrain unknown model", "ml-ops", "POST", "/api/v1/models/nope/retrain", "", 404, "not_found", 0},
		{"retrain without champion", "ml-ops", "POST", "/api/v1/models/iforest-fan/retrain", "", 409, "no_champion", 0},
		{"retrain another kind of model", "ml-ops", "POST", "/api/v1/models/ai4i-gbdt/retrain", "", 422, "not_retrainable", 0},
		{"retrain read-only key", "reader", "POST", "/api/v1/models/iforest-mill/retrain", "", 403, "forbidden", 0},
		{"retrain reason too long", "ml-ops", "POST", "/api/v1/models/iforest-mill/retrain", `{"reason":"` + strings.Repeat("x", 2001) + `"}`, 422, "invalid_retrain", 1},
		{"retrain not JSON", "ml-ops", "POST", "/api/v1/models/iforest-mill/retrain", `reason=x`, 400, "malformed_body", 0},
		{"approval without answer", "ml-ops", "POST", "/api/v1/models/iforest-mill/retrain/approval", `{"comment":"ok"}`, 422, "invalid_approval", 1},
		{"approval read-only key", "reader", "POST", "/api/v1/models/iforest-mill/retrain/approval", `{"approve":true}`, 403, "forbidden", 0},
	} {
		code, body, _ := s.do(t, tt.key, tt.method, tt.path, "application/json", tt.body)
		details, _ := body["error"].(map[string]any)["details"].([]any)
		if code != tt.code || errCode(body) != tt.errCode || len(details) != tt.details {
			t.Errorf("%s: %d %v, want %d %s with %d details", tt.name, code, body, tt.code, tt.errCode, tt.details)
		}
	}
}
