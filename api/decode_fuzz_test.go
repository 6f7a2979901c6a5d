package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// fuzzBody has the shapes request bodies use: strings, numbers, pointers,
// lists, maps, nested objects and times.
type fuzzBody struct {
	ID       string            `json:"id"`
	Count    int               `json:"count"`
	Ratio    *float64          `json:"ratio"`
	Tags     []string          `json:"tags"`
	Meta     map[string]any    `json:"meta"`
	At       *time.Time        `json:"at"`
	Items    []fuzzItem        `json:"items"`
	Labels   map[string]string `json:"labels"`
	Disabled *bool             `json:"disabled"`
}

type fuzzItem struct {
	Index int  `json:"index"`
	Done  bool `json:"done"`
}

// FuzzDecodeJSON checks DecodeJSON, which every JSON handler uses: it never
// panics, accepts only one well-formed JSON value without unknown fields
// within the size limit, and answers everything else with a JSON 400 or
// 413 of its own.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","count":1,"ratio":0.5,"tags":["x"],"meta":{"k":[1,2]},"at":"2030-01-02T03:04:05Z","items":[{"index":0,"done":true}]}`,
		`{"id":"a","unknown":1}`, `{"id":"a"} {"id":"b"}`, `[]`, `null`, `{"count":1e400}`, `{"ratio":NaN}`,
		`{"at":"yesterday"}`, `{"id":"\u0000"}`, `{"id":"` + string(make([]byte, 300)) + `"}`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/api/v1/x", bytes.NewReader(data))
		r.Body = http.MaxBytesReader(w, r.Body, 256)
		var v fuzzBody
		ok := DecodeJSON(w, r, &v)
		if ok {
			if w.Body.Len() != 0 {
				t.Fatalf("accepted %q but wrote %q", data, w.Body.String())
			}
			if len(data) > 256 || !json.Valid(data) {
				t.Fatalf("accepted %q (%d bytes): not one valid JSON value within the limit", data, len(data))
			}
			// Strict: the accepted document has no field the struct lacks.
			var generic map[string]any
			if json.Unmarshal(data, &generic) == nil {
				for k := range generic {
					if !knownField(k) {
						t.Fatalf("accepted unknown field %q in %q", k, data)
					}
				}
			}
			return
		}
		if w.Code != http.StatusBadRequest && w.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("refused %q with %d, want 400 or 413", data, w.Code)
		}
		var body struct {
			Error Error `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error.Code == "" || body.Error.Message == "" {
			t.Fatalf("refusal of %q is not a JSON error: %q", data, w.Body.String())
		}
	})
}

// knownField reports whether a JSON object key decodes into fuzzBody
// (encoding/json matches names case-insensitively).
func knownField(k string) bool {
	for _, name := range []string{"id", "count", "ratio", "tags", "meta", "at", "items", "labels", "disabled"} {
		if bytes.EqualFold([]byte(k), []byte(name)) {
			return true
		}
	}
	return false
}

// FuzzParseReadingsQuery checks the query-string parser of GET
// /api/v1/assets/{id}/readings: no panics, and whatever it accepts is a
// usable query.
func FuzzParseReadingsQuery(f *testing.F) {
	for _, s := range []string{
		"from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z&step=5m&limit=10&sensor=a,b",
		"step=raw", "step=1ns", "step=1.5s", "limit=0", "limit=999999999999", "from=2030-01-02T00:00:00Z&to=2030-01-01T00:00:00Z",
		"from=0001-01-01T00:00:00Z&step=1s", "sensor=,,,", "to=9999-12-31T23:59:59Z",
	} {
		f.Add(s)
	}
	now := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, query string) {
		r, err := http.NewRequest(http.MethodGet, "/api/v1/assets/a/readings?"+query, nil)
		if err != nil {
			return
		}
		q, problems := parseReadingsQuery(r, now)
		if len(problems) > 0 {
			return
		}
		if !q.From.Before(q.To) {
			t.Fatalf("%q: accepted from %s not before to %s", query, q.From, q.To)
		}
		if q.Limit < 1 || q.Limit > maxPoints {
			t.Fatalf("%q: accepted limit %d", query, q.Limit)
		}
		if q.Step != 0 && (q.Step < time.Second || q.To.Sub(q.From)/q.Step > maxBuckets) {
			t.Fatalf("%q: accepted step %s over %s", query, q.Step, q.To.Sub(q.From))
		}
	})
}
