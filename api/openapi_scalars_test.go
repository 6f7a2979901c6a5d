package api

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIScalarsAreWhole catches text that YAML cut short in
// api/openapi.yaml. An unquoted description inside {…} ends at its first
// ", ": the rest becomes a key of its own with no value, and the
// description reads "Sensor ids" instead of "Sensor ids, repeated or
// comma-separated". A " #" in an unquoted description starts a comment the
// same way. Such text must be quoted.
func TestOpenAPIScalarsAreWhole(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal(openAPISpec, &doc); err != nil {
		t.Fatalf("api/openapi.yaml: %v", err)
	}
	for _, p := range cutScalars(&doc, "") {
		t.Error(p)
	}
}

// cutScalars walks n and describes every scalar that looks cut short.
func cutScalars(n *yaml.Node, path string) []string {
	var out []string
	if n.Kind != yaml.MappingNode {
		for _, c := range n.Content {
			out = append(out, cutScalars(c, path)...)
		}
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		at := path + "/" + k.Value
		switch {
		case n.Style&yaml.FlowStyle != 0 && v.Kind == yaml.ScalarNode && v.Tag == "!!null" && v.Value == "":
			out = append(out, fmt.Sprintf("api/openapi.yaml:%d: %s: the text %q lost its place (an unquoted \", \" in {…} cut the text before it short); quote the whole text", k.Line, path, k.Value))
		case strings.Contains(k.Value, " "):
			out = append(out, fmt.Sprintf("api/openapi.yaml:%d: %s: the key %q looks like prose split off a description", k.Line, path, k.Value))
		case k.Value == "description" && v.Kind == yaml.ScalarNode && v.Style == 0 && v.LineComment != "":
			out = append(out, fmt.Sprintf("api/openapi.yaml:%d: %s: the description ends where %q begins (an unquoted \" #\" starts a comment); quote it", v.Line, at, v.LineComment))
		}
		out = append(out, cutScalars(v, at)...)
	}
	return out
}

// TestCutScalars checks the checker on small documents.
func TestCutScalars(t *testing.T) {
	tests := []struct {
		name, doc string
		cut       bool
	}{
		{"comma in flow", "p: {name: a, description: Sensor ids, repeated or comma-separated.}", true},
		{"quoted comma in flow", `p: {name: a, description: "Sensor ids, repeated or comma-separated."}`, false},
		{"comma in block", "p:\n  description: Sensor ids, repeated or comma-separated.", false},
		{"comment in description", "p:\n  description: Issue #12 explains it", true},
		{"hash without space", "p:\n  description: Issue#12 explains it", false},
		{"flow key with value", "p: {description: Ids, default: all}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(tt.doc), &doc); err != nil {
				t.Fatal(err)
			}
			if got := cutScalars(&doc, ""); (len(got) > 0) != tt.cut {
				t.Errorf("cutScalars(%q) = %q, want cut %v", tt.doc, got, tt.cut)
			}
		})
	}
}
