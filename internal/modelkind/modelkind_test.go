package modelkind

import (
	"testing"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

func TestKinds(t *testing.T) {
	if len(Kinds) != len(infos) {
		t.Fatalf("%d kinds listed, %d described", len(Kinds), len(infos))
	}
	for _, k := range Kinds {
		if got, ok := Parse(string(k)); !ok || got != k || !k.Valid() {
			t.Errorf("Parse(%q) = %q, %v", k, got, ok)
		}
		if len(k.ModelKinds()) == 0 {
			t.Errorf("%s accepts no model kind", k)
		}
	}
	if _, ok := Parse("forecast"); ok || Kind("").Valid() {
		t.Error("an unknown kind parsed")
	}
	for _, tc := range []struct {
		k         Kind
		modelKind string
		want      bool
	}{
		{Anomaly, modelfile.KindIsolationForest, true},
		{Anomaly, modelfile.KindGBDT, false},
		{FailureRisk, modelfile.KindGBDT, true},
		{RUL, modelfile.KindRUL, true},
		{RUL, modelfile.KindGBDT, false},
		{BearingHealth, modelfile.KindBearingHealth, true},
		{Kind("nope"), modelfile.KindGBDT, false},
	} {
		if got := tc.k.Accepts(tc.modelKind); got != tc.want {
			t.Errorf("%s.Accepts(%s) = %v", tc.k, tc.modelKind, got)
		}
	}
	if Anomaly.NeedsLabels() || BearingHealth.NeedsLabels() || !FailureRisk.NeedsLabels() || !RUL.NeedsLabels() {
		t.Error("NeedsLabels")
	}
	if s := Strings(); len(s) != 4 || s[0] != "anomaly" {
		t.Errorf("Strings() = %q", s)
	}
}
