package app_test

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"go.uber.org/fx"
	"gopkg.in/yaml.v3"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/app"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// undocumentedPrefixes are served by the router but are not part of the
// API: the operator page is HTML for people (docs/OPERATIONS.md).
var undocumentedPrefixes = []string{"/ui"}

// realApp builds the API module of internal/app on a throwaway database
// without starting it, and returns its router and its route groups.
func realApp(t *testing.T) (http.Handler, []api.Routes, []api.PublicRoutes) {
	t.Helper()
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	_, cfg.DatabaseURL = testenv.DB(t)
	cfg.RedisURL = testenv.RedisURL()
	cfg.ModelStore, cfg.ModelDir = "folder", t.TempDir()
	var (
		h      http.Handler
		routes []api.Routes
		public []api.PublicRoutes
	)
	a := fx.New(
		app.Core(cfg), app.WithoutMigrations(), app.API(),
		fx.Populate(&h),
		fx.Invoke(fx.Annotate(func(rs []api.Routes, ps []api.PublicRoutes) { routes, public = rs, ps },
			fx.ParamTags(`group:"routes"`, `group:"public_routes"`))),
		fx.NopLogger,
	)
	if err := a.Err(); err != nil {
		t.Fatalf("build the API: %v", err)
	}
	return h, routes, public
}

var paramPattern = regexp.MustCompile(`\{([^:}]+):[^}]*\}`)

// served lists "METHOD /template" for every route of the router, leaving
// out undocumentedPrefixes. Path variables lose their patterns:
// {id:[0-9]+} becomes {id}.
func served(t *testing.T, h http.Handler) map[string]bool {
	t.Helper()
	r, ok := h.(*mux.Router)
	if !ok {
		t.Fatalf("the API handler is a %T, not a *mux.Router", h)
	}
	out := map[string]bool{}
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil // a route without a path (none today)
		}
		tpl = paramPattern.ReplaceAllString(tpl, "{$1}")
		methods, err := route.GetMethods()
		if err != nil {
			if route.GetHandler() != nil {
				return fmt.Errorf("route %s has a handler but no methods; register it with .Methods(...)", tpl)
			}
			return nil // a subrouter's prefix
		}
		for _, p := range undocumentedPrefixes {
			if tpl == p || strings.HasPrefix(tpl, p+"/") {
				return nil
			}
		}
		for _, m := range methods {
			out[m+" "+tpl] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// specDoc is what the tests read of api/openapi.yaml.
type specDoc struct {
	OpenAPI    string                                 `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node        `yaml:"paths"`
	Components map[string]map[string]specDocComponent `yaml:"components"`
}

type specDocComponent struct {
	Name string `yaml:"name"`
	In   string `yaml:"in"`
}

type specDocOperation struct {
	OperationID string         `yaml:"operationId"`
	Summary     string         `yaml:"summary"`
	Parameters  []specDocParam `yaml:"parameters"`
	Security    *[]any         `yaml:"security"`
	Responses   map[string]any `yaml:"responses"`
}

type specDocParam struct {
	Ref      string `yaml:"$ref"`
	Name     string `yaml:"name"`
	In       string `yaml:"in"`
	Required bool   `yaml:"required"`
}

var httpMethods = map[string]string{"get": "GET", "put": "PUT", "post": "POST", "delete": "DELETE", "patch": "PATCH", "head": "HEAD", "options": "OPTIONS"}

func loadSpec(t *testing.T) specDoc {
	t.Helper()
	var d specDoc
	if err := yaml.Unmarshal(api.OpenAPI(), &d); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		t.Fatalf("api/openapi.yaml: openapi %q, want 3.x", d.OpenAPI)
	}
	return d
}

// operations returns the spec's operations by "METHOD /path".
func (d specDoc) operations(t *testing.T) map[string]specDocOperation {
	t.Helper()
	out := map[string]specDocOperation{}
	for path, item := range d.Paths {
		var shared []specDocParam
		if n, ok := item["parameters"]; ok {
			if err := n.Decode(&shared); err != nil {
				t.Fatalf("%s parameters: %v", path, err)
			}
		}
		for key, n := range item {
			method, ok := httpMethods[key]
			if !ok {
				continue
			}
			var op specDocOperation
			if err := n.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			op.Parameters = append(slices.Clone(shared), op.Parameters...)
			out[method+" "+path] = op
		}
	}
	return out
}

// mismatches compares the router's routes with the spec's operations.
func mismatches(routes map[string]bool, ops map[string]specDocOperation) []string {
	var out []string
	for _, r := range slices.Sorted(maps.Keys(routes)) {
		if _, ok := ops[r]; !ok {
			out = append(out, fmt.Sprintf("route %s is served but not documented in api/openapi.yaml", r))
		}
	}
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		if !routes[op] {
			out = append(out, fmt.Sprintf("api/openapi.yaml documents %s, which the router does not serve", op))
		}
	}
	return out
}

// TestOpenAPIMatchesRouter: every route of the real app is in the spec with
// the same method and path template, and every spec operation is served.
func TestOpenAPIMatchesRouter(t *testing.T) {
	h, _, _ := realApp(t)
	routes := served(t, h)
	if len(routes) < 50 || !routes["POST /api/v1/readings"] || !routes["GET /api/v1/docs"] {
		t.Fatalf("walked only %d routes: %v", len(routes), slices.Sorted(maps.Keys(routes)))
	}
	for _, m := range mismatches(routes, loadSpec(t).operations(t)) {
		t.Error(m)
	}
}

// extraRoutes stands for a feature added without documenting it.
type extraRoutes struct{}

func (extraRoutes) Register(v1 *mux.Router) {
	v1.HandleFunc("/secret-feature/{id:[0-9]+}", func(http.ResponseWriter, *http.Request) {}).Methods(http.MethodPost)
}

// TestUndocumentedRouteIsCaught builds the router as internal/app does,
// plus one undocumented route, and checks the comparison reports exactly it.
func TestUndocumentedRouteIsCaught(t *testing.T) {
	_, routes, public := realApp(t)
	h := api.NewRouter(slog.New(slog.DiscardHandler), nil, &api.Health{}, append(routes, extraRoutes{}), public)
	ops := loadSpec(t).operations(t)
	got := mismatches(served(t, h), ops)
	want := []string{"route POST /api/v1/secret-feature/{id} is served but not documented in api/openapi.yaml"}
	if !slices.Equal(got, want) {
		t.Errorf("mismatches = %q, want %q", got, want)
	}
	delete(ops, "GET /api/v1/incidents")
	if got := mismatches(map[string]bool{"GET /api/v1/incidents": true}, ops); len(got) == 0 || !strings.Contains(got[0], "GET /api/v1/incidents") {
		t.Errorf("a route missing from the spec was not reported: %q", got)
	}
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// TestOpenAPIWellFormed checks what a generator or a reader relies on:
// unique operation ids and summaries, a success response, declared path
// parameters, the standard errors on authenticated routes and references
// that resolve.
func TestOpenAPIWellFormed(t *testing.T) {
	d := loadSpec(t)
	ids := map[string]string{}
	for key, op := range d.operations(t) {
		_, path, _ := strings.Cut(key, " ")
		if op.OperationID == "" || op.Summary == "" {
			t.Errorf("%s needs an operationId and a summary", key)
		}
		if other, dup := ids[op.OperationID]; dup {
			t.Errorf("operationId %s used by %s and %s", op.OperationID, other, key)
		}
		ids[op.OperationID] = key
		success := false
		for code := range op.Responses {
			success = success || strings.HasPrefix(code, "2")
		}
		if !success {
			t.Errorf("%s documents no 2xx response", key)
		}
		declared := map[string]bool{}
		for _, p := range op.Parameters {
			if name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/"); ok {
				c, found := d.Components["parameters"][name]
				if !found {
					t.Errorf("%s: parameter %s is not defined", key, p.Ref)
				}
				p.Name, p.In, p.Required = c.Name, c.In, true
			}
			if p.In == "path" {
				declared[p.Name] = true
				if !p.Required {
					t.Errorf("%s: path parameter %s must be required", key, p.Name)
				}
			}
		}
		var inPath []string
		for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
			inPath = append(inPath, m[1])
			if !declared[m[1]] {
				t.Errorf("%s: path parameter {%s} is not declared", key, m[1])
			}
		}
		if len(inPath) != len(declared) {
			t.Errorf("%s declares path parameters %v but the path has %v", key, slices.Sorted(maps.Keys(declared)), inPath)
		}
		public := op.Security != nil && len(*op.Security) == 0
		if !public && strings.HasPrefix(path, "/api/v1/") {
			for _, code := range []string{"401", "403", "429"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s requires a key but does not document %s", key, code)
				}
			}
		}
	}

	// Every $ref names a component that exists.
	var root any
	if err := yaml.Unmarshal(api.OpenAPI(), &root); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if ref, ok := x.(string); ok && k == "$ref" {
					parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
					if !strings.HasPrefix(ref, "#/components/") || len(parts) != 2 {
						t.Errorf("$ref %q is not a local component reference", ref)
					} else if _, ok := d.Components[parts[0]][parts[1]]; !ok {
						t.Errorf("$ref %q does not resolve", ref)
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(root)
}

// TestDocsServed checks the spec and the reference page on the router,
// without a key: the page names every operation and loads nothing from
// elsewhere.
func TestDocsServed(t *testing.T) {
	h := api.NewRouter(slog.New(slog.DiscardHandler), nil, &api.Health{}, nil, []api.PublicRoutes{api.Docs{}})
	get := func(path string) (*http.Response, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Result(), string(body)
	}
	resp, body := get("/api/v1/openapi.yaml")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/yaml") || body != string(api.OpenAPI()) {
		t.Errorf("GET /api/v1/openapi.yaml = %d %s (%d bytes)", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	resp, page := get("/api/v1/docs")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /api/v1/docs = %d %s: %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("docs page CSP %q", csp)
	}
	for key, op := range loadSpec(t).operations(t) {
		method, path, _ := strings.Cut(key, " ")
		if !strings.Contains(page, `id="`+op.OperationID+`"`) || !strings.Contains(page, method+"</span> "+path) {
			t.Errorf("the docs page lacks %s (%s)", key, op.OperationID)
		}
	}
	for _, want := range []string{`id="schema-WorkOrder"`, `<a href="#schema-Asset">Asset</a>`, "<code>X-API-Key</code>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the docs page lacks %s", want)
		}
	}
	for _, external := range []string{"<script", "http://", "https://", "<link"} {
		if strings.Contains(page, external) {
			t.Errorf("the docs page contains %q; it must be self-contained", external)
		}
	}
	if resp, _ := get("/api/v1/docs/nothing"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/v1/docs/nothing = %d", resp.StatusCode)
	}
}
