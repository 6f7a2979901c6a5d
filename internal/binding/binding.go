// Package binding keeps which registered model serves the assets of a type
// as which kind (modelkind.Kind), and where each of the model's features
// comes from: a sensor of the asset or its metadata.
//
// A Binding is stored per tenant, asset type and kind (Store). The
// detector on the ingest path reads them through a Cache, which reloads
// them within seconds of a change. Without a stored anomaly binding the
// champion of "iforest-<asset type>" serves as the anomaly model with
// identity features (Default), as it did before bindings existed.
package binding

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
)

// ModelPrefix starts the name of an asset type's default anomaly model: the
// champion of "iforest-milling-machine" scores the assets of type
// "milling-machine" unless a binding names another model.
const ModelPrefix = "iforest-"

// DefaultModelName is the model of the default anomaly binding of
// assetType.
func DefaultModelName(assetType string) string { return ModelPrefix + assetType }

// MetadataFeature starts a feature source that is read from the asset's
// metadata rather than from a sensor: "asset.variant=L" is 1 when the
// asset's metadata has "variant": "L" and 0 otherwise (a one-hot
// encoding), and "asset.rated_power" is the numeric metadata value.
// Every other source is a sensor id of the asset.
const MetadataFeature = "asset."

// Binding says which model serves the assets of AssetType as Kind.
type Binding struct {
	TenantID  string         `json:"-"`
	AssetType string         `json:"asset_type"`
	Kind      modelkind.Kind `json:"kind"`
	// Model names the registered model whose champion serves.
	Model string `json:"model"`
	// Features maps a model feature name to its source: a sensor id or a
	// MetadataFeature spec. A feature without an entry is read from the
	// source of its own name.
	Features map[string]string `json:"features"`
	// Threshold, when set, overrides the model file's threshold: a
	// probability for failure_risk, the lower bound of the remaining life
	// under which a finding is raised for rul, a health index for
	// bearing_health, a score for anomaly.
	Threshold *float64 `json:"threshold,omitempty"`
	// Default marks the implicit anomaly binding (not stored).
	Default   bool      `json:"default,omitempty"`
	UpdatedBy string    `json:"updated_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
}

// Default returns the binding that serves when none is stored: for
// modelkind.Anomaly the champion of DefaultModelName(assetType) with
// identity features; false for every other kind.
func Default(tenant, assetType string, kind modelkind.Kind) (*Binding, bool) {
	if kind != modelkind.Anomaly {
		return nil, false
	}
	return &Binding{TenantID: tenant, AssetType: assetType, Kind: kind, Model: DefaultModelName(assetType), Features: map[string]string{}, Default: true}, true
}

// Source returns where feature is read from: its mapping, or its own name.
func (b *Binding) Source(feature string) string {
	if s, ok := b.Features[feature]; ok {
		return s
	}
	return feature
}

// ThresholdOr returns the binding's threshold, or def when it has none.
func (b *Binding) ThresholdOr(def float64) float64 {
	if b.Threshold != nil {
		return *b.Threshold
	}
	return def
}

// sourcePattern is what a sensor id looks like (see the asset API).
var sourcePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// ValidSource reports whether s can be a feature source: a sensor id, or a
// MetadataFeature spec with a key.
func ValidSource(s string) bool {
	if spec, ok := strings.CutPrefix(s, MetadataFeature); ok {
		key, _, _ := strings.Cut(spec, "=")
		return key != "" && len(s) <= 256
	}
	return sourcePattern.MatchString(s)
}

// Problem is one reason a binding is refused, for an API error's details.
type Problem struct {
	// Field is the body field at fault: "model", "features.<name>",
	// "threshold".
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Check validates b against the champion model meta it would serve:
// the model file kind must be one b.Kind accepts; every mapped name must be
// one of the model's features and every source valid, each sensor feeding
// at most one feature; every feature without a mapping must be a valid
// source by its own name; the threshold must suit the kind, and a rul
// binding needs one unless the model file has it.
func Check(b *Binding, meta modelfile.Metadata) []Problem {
	var out []Problem
	add := func(field, format string, a ...any) {
		out = append(out, Problem{Field: field, Message: fmt.Sprintf(format, a...)})
	}
	if !b.Kind.Accepts(meta.Kind) {
		add("model", "the champion of %q is a %q model; a %s binding needs one of %q", b.Model, meta.Kind, b.Kind, b.Kind.ModelKinds())
		return out
	}
	for _, name := range slices.Sorted(maps.Keys(b.Features)) {
		if !slices.Contains(meta.FeatureNames, name) {
			add("features."+name, "%q is not a feature of %q (its features: %q)", name, b.Model, meta.FeatureNames)
		}
	}
	bySource := map[string]string{}
	for _, name := range meta.FeatureNames {
		src := b.Source(name)
		field := "features." + name
		if !ValidSource(src) {
			if _, mapped := b.Features[name]; mapped {
				add(field, "source %q is neither a sensor id (letters, digits and . _ : -, up to 128) nor an %q metadata spec", src, MetadataFeature)
			} else {
				add(field, "feature %q is not mapped, and its name is neither a sensor id nor an %q metadata spec: map it to a sensor or metadata", name, MetadataFeature)
			}
			continue
		}
		if strings.HasPrefix(src, MetadataFeature) {
			continue
		}
		if other, dup := bySource[src]; dup {
			add(field, "sensor %q already feeds feature %q; a sensor feeds one feature of a model", src, other)
			continue
		}
		bySource[src] = name
	}
	if b.Threshold != nil {
		t := *b.Threshold
		switch {
		case math.IsNaN(t) || math.IsInf(t, 0) || t <= 0:
			add("threshold", "threshold %v: want a positive finite number", t)
		case (b.Kind == modelkind.FailureRisk || b.Kind == modelkind.Anomaly) && t >= 1:
			add("threshold", "threshold %v: a %s score is below 1", t, b.Kind)
		}
	}
	if b.Kind == modelkind.RUL && b.Threshold == nil && !(meta.Threshold > 0) {
		add("threshold", "the model file of %q has no threshold: set the remaining life under which its lower bound raises a finding", b.Model)
	}
	return out
}
