// Package modelkind is the vocabulary of what a model bound to an asset
// type does for it: detect anomalies, estimate the risk of a failure,
// estimate the remaining useful life, or judge bearing health. It is the
// one definition of these names; the binding store, the API and the
// detector use its constants.
//
// Each Kind accepts the model file kinds (modelfile.Kind*) that can serve
// it and says whether its models are trained on labels (failures, or
// run-to-failure histories) or on normal operation alone.
package modelkind

import (
	"slices"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// Kind is what a bound model does for the assets of a type.
type Kind string

// The kinds a model can be bound as.
const (
	// Anomaly scores how unusual an asset's feature vector is (an Isolation
	// Forest trained on normal operation).
	Anomaly Kind = "anomaly"
	// FailureRisk is the probability of a failure within the model's
	// horizon (a gradient-boosted classifier trained on failure labels).
	FailureRisk Kind = "failure_risk"
	// RUL is the remaining useful life with an interval (a regression
	// trained on run-to-failure histories).
	RUL Kind = "rul"
	// BearingHealth is a bearing health index against the bearing's own
	// healthy baseline.
	BearingHealth Kind = "bearing_health"
)

// Kinds lists every kind, in the order documentation and listings use.
var Kinds = []Kind{Anomaly, FailureRisk, RUL, BearingHealth}

// info is what a kind accepts and needs.
type info struct {
	modelKinds []string
	labels     bool
}

var infos = map[Kind]info{
	Anomaly:       {modelKinds: []string{modelfile.KindIsolationForest}},
	FailureRisk:   {modelKinds: []string{modelfile.KindGBDT}, labels: true},
	RUL:           {modelKinds: []string{modelfile.KindRUL}, labels: true},
	BearingHealth: {modelKinds: []string{modelfile.KindBearingHealth}},
}

// Parse returns the Kind named s; false when s names none.
func Parse(s string) (Kind, bool) {
	k := Kind(s)
	_, ok := infos[k]
	return k, ok
}

// Valid reports whether k is one of Kinds.
func (k Kind) Valid() bool {
	_, ok := infos[k]
	return ok
}

// String returns the kind's name.
func (k Kind) String() string { return string(k) }

// ModelKinds are the model file kinds (modelfile.Metadata.Kind) that can
// serve k; nil for an invalid kind. The slice must not be modified.
func (k Kind) ModelKinds() []string { return infos[k].modelKinds }

// Accepts reports whether a model of model file kind modelKind can serve k.
func (k Kind) Accepts(modelKind string) bool {
	return slices.Contains(infos[k].modelKinds, modelKind)
}

// NeedsLabels reports whether k's models are trained on labels (failure
// records, run-to-failure histories) rather than normal operation alone:
// such a model can only be retrained where labels are collected.
func (k Kind) NeedsLabels() bool { return infos[k].labels }

// Strings returns the names of Kinds, for messages and error details.
func Strings() []string {
	out := make([]string, len(Kinds))
	for i, k := range Kinds {
		out[i] = string(k)
	}
	return out
}
