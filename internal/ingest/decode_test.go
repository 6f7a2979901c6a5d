package ingest

import (
	"errors"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	one := `{"asset_id":"a","sensor_id":"s","ts":"2026-01-01T00:00:00Z","value":1.5}`
	tests := []struct {
		name    string
		body    string
		format  Format
		limit   int
		want    int    // readings decoded
		wantErr string // substring; "" means success
		index   int    // DecodeError.Index when wantErr is set
	}{
		{name: "object", body: one, want: 1},
		{name: "object with spaces", body: "  \n" + one + "\n", want: 1},
		{name: "array", body: "[" + one + "," + one + "]", want: 2},
		{name: "ndjson", body: one + "\n\n" + one + "\n", format: NDJSON, want: 2},
		{name: "ndjson no final newline", body: one + "\n" + one, format: NDJSON, want: 2},
		{name: "empty", body: "", wantErr: "empty body", index: -1},
		{name: "empty array", body: "[]", wantErr: "empty array", index: -1},
		{name: "empty ndjson", body: "\n\n", format: NDJSON, wantErr: "empty body", index: -1},
		{name: "not json", body: "hello", wantErr: "must be a JSON object or array", index: -1},
		{name: "unknown field", body: `[` + one + `,{"asset_id":"a","valu":1}]`, wantErr: `unknown field "valu"`, index: 1},
		{name: "wrong type", body: `{"asset_id":"a","sensor_id":"s","ts":"x","value":"1"}`, wantErr: `field "value" must be a number`, index: 0},
		{name: "truncated", body: `[` + one + `,{"asset_id":`, wantErr: "ends in the middle", index: 1},
		{name: "syntax", body: `[` + one + `,{"asset_id" 1}]`, wantErr: "malformed JSON", index: 1},
		{name: "trailing after object", body: one + one, wantErr: "unexpected data after the reading", index: -1},
		{name: "trailing after array", body: "[" + one + "] x", wantErr: "unexpected data after the array", index: -1},
		{name: "two values on a ndjson line", body: one + one, format: NDJSON, wantErr: "more than one JSON value", index: 0},
		{name: "ndjson bad second line", body: one + "\n{]", format: NDJSON, wantErr: "malformed JSON", index: 1},
		{name: "over limit", body: "[" + one + "," + one + "," + one + "]", limit: 2, wantErr: "more than 2 readings"},
		{name: "ndjson over limit", body: one + "\n" + one + "\n" + one, format: NDJSON, limit: 2, wantErr: "more than 2 readings"},
		{name: "null value is missing", body: `{"asset_id":"a","sensor_id":"s","ts":"x","value":null}`, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			limit := tt.limit
			if limit == 0 {
				limit = 100
			}
			got, err := Decode(strings.NewReader(tt.body), tt.format, limit)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if len(got) != tt.want {
					t.Fatalf("decoded %d, want %d", len(got), tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			var de *DecodeError
			if errors.As(err, &de) && de.Index != tt.index {
				t.Errorf("index = %d, want %d", de.Index, tt.index)
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	got, err := Decode(strings.NewReader(`{"asset_id":"mill","sensor_id":"torque","ts":"2026-01-01T00:00:00.5+01:00","value":-0.25,"unit":"Nm"}`), JSON, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := got[0]
	if r.AssetID != "mill" || r.SensorID != "torque" || r.TS != "2026-01-01T00:00:00.5+01:00" || *r.Value != -0.25 || r.Unit != "Nm" {
		t.Errorf("decoded %+v", r)
	}
}

func TestFormatOf(t *testing.T) {
	tests := []struct {
		ct   string
		want Format
		ok   bool
	}{
		{"", JSON, true},
		{"application/json", JSON, true},
		{"application/json; charset=utf-8", JSON, true},
		{"application/x-ndjson", NDJSON, true},
		{"application/jsonl", NDJSON, true},
		{"text/plain", 0, false},
		{"application/x-www-form-urlencoded", 0, false},
		{";;", 0, false},
	}
	for _, tt := range tests {
		f, ok := FormatOf(tt.ct)
		if f != tt.want || ok != tt.ok {
			t.Errorf("FormatOf(%q) = %v, %v; want %v, %v", tt.ct, f, ok, tt.want, tt.ok)
		}
	}
}

// FuzzDecode checks that no body makes the decoder panic, exceed its limit
// or return readings together with an error.
func FuzzDecode(f *testing.F) {
	f.Add(`{"asset_id":"a","sensor_id":"s","ts":"2026-01-01T00:00:00Z","value":1}`, false)
	f.Add(`[{"asset_id":"a","value":1},{"sensor_id":"b"}]`, false)
	f.Add("{\"value\":1}\n{\"value\":2}\n", true)
	f.Add(`[{"value":1e999}]`, false)
	f.Add(`[`, false)
	f.Fuzz(func(t *testing.T, body string, ndjson bool) {
		format := JSON
		if ndjson {
			format = NDJSON
		}
		got, err := Decode(strings.NewReader(body), format, 5)
		if err != nil && got != nil {
			t.Fatalf("readings and error together: %v", err)
		}
		if len(got) > 5 {
			t.Fatalf("decoded %d readings over the limit of 5", len(got))
		}
	})
}
