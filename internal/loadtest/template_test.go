package loadtest

import (
	"encoding/json"
	"testing"
	"time"
)

// TestTemplate: a rendered body is the JSON of its readings with fresh,
// distinct timestamps each time.
func TestTemplate(t *testing.T) {
	ts := newStamps()
	for _, batch := range [][]input{
		{{AssetID: "a", SensorID: "s", Value: 1.5}},
		{{AssetID: "a", SensorID: "s", Value: 1.5}, {AssetID: "b", SensorID: "t", Value: -2}},
	} {
		tm := newTemplate(batch)
		seen := map[string]bool{}
		for range 2 {
			body := tm.render(ts)
			var got []input
			if len(batch) == 1 {
				got = make([]input, 1)
				if err := json.Unmarshal(body, &got[0]); err != nil {
					t.Fatalf("%s: %v", body, err)
				}
			} else if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%s: %v", body, err)
			}
			for i, r := range got {
				if _, err := time.Parse(time.RFC3339Nano, r.TS); err != nil || seen[r.TS] {
					t.Errorf("timestamp %q: %v, repeated %v", r.TS, err, seen[r.TS])
				}
				seen[r.TS] = true
				if r.AssetID != batch[i].AssetID || r.SensorID != batch[i].SensorID || r.Value != batch[i].Value {
					t.Errorf("reading %+v, want %+v", r, batch[i])
				}
			}
		}
	}
}
