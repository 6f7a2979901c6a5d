package dataset

import (
	"strings"
	"testing"
)

func TestLoadAI4I(t *testing.T) {
	path, err := AI4IPath()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := LoadAI4I(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 10000 {
		t.Fatalf("records = %d, want 10000", len(recs))
	}
	failures := 0
	for _, r := range recs {
		if r.Failure {
			failures++
		}
	}
	if failures != 339 {
		t.Errorf("failures = %d, want 339 (3.39%%)", failures)
	}
	first := recs[0]
	if first.ProductID != "M14860" || first.Type != 'M' || first.AirTempK != 298.1 || first.RPM != 1551 || first.TorqueNm != 42.8 {
		t.Errorf("first record = %+v", first)
	}
	if got := first.Features(); len(got) != len(AI4IFeatureNames) || got[6] != 1 || got[5] != 0 {
		t.Errorf("features = %v", got)
	}
}

func TestReadAI4IErrors(t *testing.T) {
	header := "UDI,Product ID,Type,Air temperature [K],Process temperature [K],Rotational speed [rpm],Torque [Nm],Tool wear [min],Machine failure,TWF,HDF,PWF,OSF,RNF\n"
	tests := []struct {
		name, body, want string
	}{
		{"bad number", header + "1,M1,M,abc,308.6,1551,42.8,0,0,0,0,0,0,0\n", "line 2"},
		{"bad type", header + "1,M1,MM,298.1,308.6,1551,42.8,0,0,0,0,0,0,0\n", "type"},
		{"short row", header + "1,M1,M,298.1\n", "line 2"},
		{"no header", "", "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadAI4I(strings.NewReader(tt.body))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}
