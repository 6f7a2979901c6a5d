package api

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/gorilla/mux"
	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPI returns the OpenAPI 3 description of the API (api/openapi.yaml).
func OpenAPI() []byte { return bytes.Clone(openAPISpec) }

// Docs serves the API description and a reference page rendered from it,
// outside authentication:
//
//	GET /api/v1/openapi.yaml  the OpenAPI 3 document
//	GET /api/v1/docs          a self-contained HTML page (no scripts, no CDN)
type Docs struct{}

// RegisterPublic implements PublicRoutes.
func (Docs) RegisterPublic(root *mux.Router) {
	root.HandleFunc("/api/v1/openapi.yaml", serveSpec).Methods(http.MethodGet)
	root.HandleFunc("/api/v1/docs", serveDocs).Methods(http.MethodGet)
}

func serveSpec(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(openAPISpec)
}

// renderedDocs renders the reference page once per process.
var renderedDocs = sync.OnceValues(func() ([]byte, error) {
	var spec apiSpec
	if err := yaml.Unmarshal(openAPISpec, &spec); err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	var buf bytes.Buffer
	if err := docsTemplate.Execute(&buf, spec.page()); err != nil {
		return nil, fmt.Errorf("render the API reference: %w", err)
	}
	return buf.Bytes(), nil
})

func serveDocs(w http.ResponseWriter, r *http.Request) {
	page, err := renderedDocs()
	if err != nil {
		slog.ErrorContext(r.Context(), "api docs", "error", err)
		WriteError(w, r, http.StatusInternalServerError, "internal", "the API reference cannot be rendered; /api/v1/openapi.yaml has the description", nil)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(page)
}

// ordered is a YAML mapping that keeps its keys in document order.
type ordered[T any] []entry[T]

type entry[T any] struct {
	Key   string
	Value T
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (o *ordered[T]) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: want a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var v T
		if err := n.Content[i+1].Decode(&v); err != nil {
			return err
		}
		*o = append(*o, entry[T]{n.Content[i].Value, v})
	}
	return nil
}

// apiSpec is the part of an OpenAPI document the reference page shows.
type apiSpec struct {
	Info struct {
		Title       string `yaml:"title"`
		Version     string `yaml:"version"`
		Description string `yaml:"description"`
	} `yaml:"info"`
	Tags []struct {
		Name        string `yaml:"name"`
		Description string `yaml:"description"`
	} `yaml:"tags"`
	Paths      ordered[specPath] `yaml:"paths"`
	Components struct {
		Parameters map[string]specParam    `yaml:"parameters"`
		Responses  map[string]specResponse `yaml:"responses"`
		Schemas    ordered[*specSchema]    `yaml:"schemas"`
	} `yaml:"components"`
}

type specPath struct {
	Parameters []specParam    `yaml:"parameters"`
	Get        *specOperation `yaml:"get"`
	Put        *specOperation `yaml:"put"`
	Post       *specOperation `yaml:"post"`
	Delete     *specOperation `yaml:"delete"`
	Patch      *specOperation `yaml:"patch"`
}

type specOperation struct {
	OperationID string      `yaml:"operationId"`
	Summary     string      `yaml:"summary"`
	Description string      `yaml:"description"`
	Tags        []string    `yaml:"tags"`
	Parameters  []specParam `yaml:"parameters"`
	Security    *[]any      `yaml:"security"`
	RequestBody *struct {
		Required bool                                  `yaml:"required"`
		Content  ordered[struct{ Schema *specSchema }] `yaml:"content"`
	} `yaml:"requestBody"`
	Responses ordered[specResponse] `yaml:"responses"`
}

type specParam struct {
	Ref         string      `yaml:"$ref"`
	Name        string      `yaml:"name"`
	In          string      `yaml:"in"`
	Required    bool        `yaml:"required"`
	Description string      `yaml:"description"`
	Schema      *specSchema `yaml:"schema"`
}

type specResponse struct {
	Ref         string                                `yaml:"$ref"`
	Description string                                `yaml:"description"`
	Content     ordered[struct{ Schema *specSchema }] `yaml:"content"`
}

type specSchema struct {
	Ref         string               `yaml:"$ref"`
	Type        string               `yaml:"type"`
	Format      string               `yaml:"format"`
	Description string               `yaml:"description"`
	Enum        []any                `yaml:"enum"`
	Items       *specSchema          `yaml:"items"`
	Required    []string             `yaml:"required"`
	Properties  ordered[*specSchema] `yaml:"properties"`
	AllOf       []*specSchema        `yaml:"allOf"`
	OneOf       []*specSchema        `yaml:"oneOf"`
	Additional  any                  `yaml:"additionalProperties"`
	Nullable    bool                 `yaml:"nullable"`
}

// The reference page's view of the spec.
type (
	docsPage struct {
		Title, Version string
		Description    template.HTML
		Groups         []docsGroup
		Schemas        []docsSchema
	}
	docsGroup struct {
		Name        string
		Description template.HTML
		Operations  []docsOperation
	}
	docsOperation struct {
		ID, Method, Path, Summary string
		Description               template.HTML
		Public                    bool
		Params                    []docsField
		Body                      []docsBody
		Responses                 []docsResponse
	}
	docsBody struct {
		MediaType string
		Type      template.HTML
	}
	docsResponse struct {
		Code        string
		Description template.HTML
		Type        template.HTML
	}
	docsField struct {
		Name, In    string
		Required    bool
		Type        template.HTML
		Description template.HTML
	}
	docsSchema struct {
		Name        string
		Description template.HTML
		Type        template.HTML
		Fields      []docsField
	}
)

var methodOrder = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// page arranges the spec by tag, operations in document order.
func (s *apiSpec) page() docsPage {
	p := docsPage{Title: s.Info.Title, Version: s.Info.Version, Description: markup(s.Info.Description)}
	groups := map[string]*docsGroup{}
	for _, t := range s.Tags {
		p.Groups = append(p.Groups, docsGroup{Name: t.Name, Description: markup(t.Description)})
	}
	for i := range p.Groups {
		groups[p.Groups[i].Name] = &p.Groups[i]
	}
	for _, e := range s.Paths {
		for _, method := range methodOrder {
			op := e.Value.operation(method)
			if op == nil {
				continue
			}
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			g := groups[tag]
			if g == nil {
				p.Groups = append(p.Groups, docsGroup{Name: tag})
				clear(groups) // the slice moved: index again
				for i := range p.Groups {
					groups[p.Groups[i].Name] = &p.Groups[i]
				}
				g = groups[tag]
			}
			g.Operations = append(g.Operations, s.operation(method, e.Key, e.Value.Parameters, op))
		}
	}
	p.Groups = slices.DeleteFunc(p.Groups, func(g docsGroup) bool { return len(g.Operations) == 0 })
	for _, e := range s.Components.Schemas {
		d := docsSchema{Name: e.Key, Description: markup(e.Value.Description), Type: typeOf(e.Value)}
		for _, part := range append([]*specSchema{e.Value}, e.Value.AllOf...) {
			if name, ok := strings.CutPrefix(part.Ref, "#/components/schemas/"); ok {
				part = s.schema(name)
			}
			d.Fields = append(d.Fields, fields(part)...)
		}
		p.Schemas = append(p.Schemas, d)
	}
	return p
}

// schema returns the named component schema; an empty one when missing.
func (s *apiSpec) schema(name string) *specSchema {
	for _, e := range s.Components.Schemas {
		if e.Key == name {
			return e.Value
		}
	}
	return &specSchema{}
}

func (p *specPath) operation(method string) *specOperation {
	switch method {
	case "GET":
		return p.Get
	case "POST":
		return p.Post
	case "PUT":
		return p.Put
	case "PATCH":
		return p.Patch
	case "DELETE":
		return p.Delete
	}
	return nil
}

func (s *apiSpec) operation(method, path string, shared []specParam, op *specOperation) docsOperation {
	d := docsOperation{
		ID: op.OperationID, Method: method, Path: path, Summary: op.Summary, Description: markup(op.Description),
		Public: op.Security != nil && len(*op.Security) == 0,
	}
	for _, prm := range append(slices.Clone(shared), op.Parameters...) {
		if name, ok := strings.CutPrefix(prm.Ref, "#/components/parameters/"); ok {
			prm = s.Components.Parameters[name]
		}
		d.Params = append(d.Params, docsField{Name: prm.Name, In: prm.In, Required: prm.Required, Type: typeOf(prm.Schema), Description: markup(prm.Description)})
	}
	if b := op.RequestBody; b != nil {
		for _, c := range b.Content {
			d.Body = append(d.Body, docsBody{MediaType: c.Key, Type: typeOf(c.Value.Schema)})
		}
	}
	for _, r := range op.Responses {
		resp := r.Value
		if name, ok := strings.CutPrefix(resp.Ref, "#/components/responses/"); ok {
			resp = s.Components.Responses[name]
		}
		dr := docsResponse{Code: r.Key, Description: markup(resp.Description)}
		if len(resp.Content) > 0 {
			dr.Type = typeOf(resp.Content[0].Value.Schema)
		}
		d.Responses = append(d.Responses, dr)
	}
	return d
}

// fields lists a schema's own properties.
func fields(s *specSchema) []docsField {
	var out []docsField
	for _, e := range s.Properties {
		out = append(out, docsField{Name: e.Key, Required: slices.Contains(s.Required, e.Key), Type: typeOf(e.Value), Description: markup(e.Value.Description)})
	}
	return out
}

// typeOf describes a schema in a few words, linking named schemas.
func typeOf(s *specSchema) template.HTML {
	if s == nil {
		return ""
	}
	if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
		return template.HTML(fmt.Sprintf(`<a href="#schema-%s">%s</a>`, template.HTMLEscapeString(name), template.HTMLEscapeString(name)))
	}
	var parts []string
	join := func(list []*specSchema, sep string) string {
		var names []string
		for _, x := range list {
			names = append(names, string(typeOf(x)))
		}
		return strings.Join(names, sep)
	}
	switch {
	case len(s.OneOf) > 0:
		parts = append(parts, join(s.OneOf, " or "))
	case len(s.AllOf) > 0:
		parts = append(parts, join(s.AllOf, " and "))
	case s.Type == "array":
		parts = append(parts, "array of "+string(typeOf(s.Items)))
	case s.Type == "object" && len(s.Properties) == 0 && s.Additional != nil:
		if m, ok := s.Additional.(map[string]any); ok && m["type"] != nil {
			parts = append(parts, template.HTMLEscapeString(fmt.Sprintf("map of %v", m["type"])))
		} else {
			parts = append(parts, "object")
		}
	case s.Type != "":
		t := s.Type
		if s.Format != "" {
			t += " (" + s.Format + ")"
		}
		parts = append(parts, template.HTMLEscapeString(t))
	default:
		parts = append(parts, "any")
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, v := range s.Enum {
			vals = append(vals, fmt.Sprint(v))
		}
		parts = append(parts, "one of <code>"+template.HTMLEscapeString(strings.Join(vals, "</code>, <code>"))+"</code>")
	}
	if s.Nullable {
		parts = append(parts, "or null")
	}
	return template.HTML(strings.Join(parts, ", "))
}

var codeSpan = regexp.MustCompile("`([^`]+)`")

// markup escapes text, turns `code` spans into <code> and blank lines into
// paragraph breaks: enough of Markdown for the descriptions here.
func markup(s string) template.HTML {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	var paras []string
	for _, p := range strings.Split(s, "\n\n") {
		p = template.HTMLEscapeString(strings.Join(strings.Fields(p), " "))
		paras = append(paras, "<p>"+codeSpan.ReplaceAllString(p, "<code>$1</code>")+"</p>")
	}
	return template.HTML(strings.Join(paras, ""))
}

var docsTemplate = template.Must(template.New("docs").Funcs(template.FuncMap{
	"lower": strings.ToLower,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} {{.Version}} — reference</title>
<style>
:root { color-scheme: light dark; --fg: #1d232a; --muted: #5b6570; --line: #d8dde3; --bg: #fff; --code: #f2f4f7; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ed; --muted: #a3acb6; --line: #3a424b; --bg: #15191d; --code: #222930; } }
body { font: 15px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0; display: grid; grid-template-columns: 16rem 1fr; }
nav { position: sticky; top: 0; height: 100vh; overflow: auto; border-right: 1px solid var(--line); padding: 1rem; box-sizing: border-box; font-size: 13px; }
nav a { color: inherit; text-decoration: none; display: block; padding: 1px 0; }
nav h2 { font-size: 12px; text-transform: uppercase; color: var(--muted); margin: 1rem 0 .25rem; }
main { padding: 1rem 2rem 4rem; max-width: 60rem; }
code { background: var(--code); padding: 0 .25em; border-radius: 3px; font-size: 90%; }
.op { border: 1px solid var(--line); border-radius: 6px; padding: .75rem 1rem; margin: 1rem 0; }
.op h3 { margin: 0; font-size: 16px; font-family: ui-monospace, monospace; }
.method { display: inline-block; min-width: 4.5em; font-weight: 700; }
.get { color: #1a7f37; } .post { color: #0969da; } .put, .patch { color: #9a6700; } .delete { color: #cf222e; }
.summary { color: var(--muted); margin: .25rem 0; }
.public { font-size: 12px; border: 1px solid var(--line); border-radius: 3px; padding: 0 .3em; margin-left: .5em; font-family: system-ui, sans-serif; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; font-size: 14px; }
th, td { text-align: left; vertical-align: top; padding: .25rem .5rem; border-top: 1px solid var(--line); }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td p, .desc p { margin: 0 0 .4rem; }
a { color: #0969da; }
</style>
</head>
<body>
<nav aria-label="Operations">
<strong>{{.Title}}</strong> <span>v{{.Version}}</span>
<p><a href="/api/v1/openapi.yaml">openapi.yaml</a></p>
{{range .Groups}}<h2>{{.Name}}</h2>
{{range .Operations}}<a href="#{{.ID}}"><span class="method {{lower .Method}}">{{.Method}}</span> {{.Path}}</a>
{{end}}{{end}}<h2>Schemas</h2>
{{range .Schemas}}<a href="#schema-{{.Name}}">{{.Name}}</a>
{{end}}</nav>
<main>
<h1>{{.Title}} <small>v{{.Version}}</small></h1>
<div class="desc">{{.Description}}</div>
{{range .Groups}}
<section aria-labelledby="tag-{{.Name}}">
<h2 id="tag-{{.Name}}">{{.Name}}</h2>
<div class="desc">{{.Description}}</div>
{{range .Operations}}
<article class="op" id="{{.ID}}">
<h3><span class="method {{lower .Method}}">{{.Method}}</span> {{.Path}}{{if .Public}}<span class="public">no key</span>{{end}}</h3>
<p class="summary">{{.Summary}}</p>
<div class="desc">{{.Description}}</div>
{{if .Params}}<table><caption hidden>Parameters</caption><tr><th scope="col">Parameter</th><th scope="col">In</th><th scope="col">Type</th><th scope="col">Description</th></tr>
{{range .Params}}<tr><td><code>{{.Name}}</code>{{if .Required}} (required){{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{end}}
{{if .Body}}<table><caption hidden>Request body</caption><tr><th scope="col">Request body</th><th scope="col">Type</th></tr>
{{range .Body}}<tr><td>{{.MediaType}}</td><td>{{.Type}}</td></tr>
{{end}}</table>{{end}}
<table><caption hidden>Responses</caption><tr><th scope="col">Status</th><th scope="col">Meaning</th><th scope="col">Body</th></tr>
{{range .Responses}}<tr><td>{{.Code}}</td><td>{{.Description}}</td><td>{{.Type}}</td></tr>
{{end}}</table>
</article>
{{end}}
</section>
{{end}}
<section aria-labelledby="schemas">
<h2 id="schemas">Schemas</h2>
{{range .Schemas}}
<article class="op" id="schema-{{.Name}}">
<h3>{{.Name}}</h3>
<div class="desc">{{.Description}}</div>
{{if .Fields}}<table><caption hidden>Fields of {{.Name}}</caption><tr><th scope="col">Field</th><th scope="col">Type</th><th scope="col">Description</th></tr>
{{range .Fields}}<tr><td><code>{{.Name}}</code>{{if .Required}} (required){{end}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>
{{end}}</table>{{else}}<p>{{.Type}}</p>{{end}}
</article>
{{end}}
</section>
</main>
</body>
</html>
`))
