package ingest

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
)

// FieldError names one problem with one reading of a request.
type FieldError struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Validator checks readings against the sensor catalogue and the clock.
type Validator struct {
	Catalog *Catalog
	// MaxSkew is how far in the future a timestamp may be.
	MaxSkew time.Duration
	// Retention is how far in the past a timestamp may be.
	Retention time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxErrors caps the FieldErrors returned for one request.
	MaxErrors int
}

// Rejection lists why a request's readings were refused.
type Rejection struct {
	// Invalid counts the invalid readings; Errors may be capped.
	Invalid int
	Total   int
	Errors  []FieldError
}

// Valid is a request's readings ready for storage, with their sensors.
type Valid struct {
	Rows    []store.Reading
	Sensors []*store.Sensor // Sensors[i] is the sensor of Rows[i]
	// Index[i] is the position in the request of Rows[i]: a reading that
	// repeats an earlier one exactly (same sensor, timestamp and value) is
	// left out of Rows and counted in Repeats.
	Index   []int
	Repeats int
}

// readingKey is what makes a reading unique: its sensor and its timestamp
// at PostgreSQL's microsecond precision (as pgx encodes it).
type readingKey struct {
	sensor int64
	micros int64
}

// Validate checks every input. A request is all or nothing: when any reading
// is invalid, the field errors are returned and nothing should be stored.
// Within the request, an exact repeat of an earlier reading is collapsed
// into it, and two different values for one sensor and timestamp make the
// later reading invalid.
// The error is non-nil only when the catalogue could not be read.
func (v *Validator) Validate(ctx context.Context, tenant string, in []Input) (Valid, *Rejection, error) {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	maxErrors := v.MaxErrors
	if maxErrors <= 0 {
		maxErrors = 100
	}
	t := now()
	latest, earliest := t.Add(v.MaxSkew), t.Add(-v.Retention)
	out := Valid{Rows: make([]store.Reading, 0, len(in)), Sensors: make([]*store.Sensor, 0, len(in)), Index: make([]int, 0, len(in))}
	var seen map[readingKey]int // position in out.Rows
	if len(in) > 1 {
		seen = make(map[readingKey]int, len(in))
	}
	var errs []FieldError
	invalid, lastBad := 0, -1
	fail := func(i int, field, format string, args ...any) {
		if i != lastBad {
			invalid, lastBad = invalid+1, i
		}
		if len(errs) < maxErrors {
			errs = append(errs, FieldError{Index: i, Field: field, Message: fmt.Sprintf(format, args...)})
		}
	}
	for i := range in {
		r := &in[i]
		before := invalid
		if r.AssetID == "" {
			fail(i, "asset_id", "required")
		}
		if r.SensorID == "" {
			fail(i, "sensor_id", "required")
		}
		var ts time.Time
		if r.TS == "" {
			fail(i, "ts", "required (RFC 3339, for example 2026-11-25T08:00:00Z)")
		} else if parsed, err := time.Parse(time.RFC3339Nano, r.TS); err != nil {
			fail(i, "ts", "not an RFC 3339 timestamp: %q", r.TS)
		} else if parsed.After(latest) {
			fail(i, "ts", "%s is more than %s in the future", r.TS, v.MaxSkew)
		} else if parsed.Before(earliest) {
			fail(i, "ts", "%s is older than the retention period of %s", r.TS, v.Retention)
		} else {
			ts = parsed
		}
		if r.Value == nil {
			fail(i, "value", "required")
		} else if math.IsNaN(*r.Value) || math.IsInf(*r.Value, 0) {
			fail(i, "value", "must be a finite number")
		}
		if invalid > before || r.AssetID == "" || r.SensorID == "" {
			continue
		}
		s, err := v.Catalog.Lookup(ctx, tenant, r.AssetID, r.SensorID)
		if err != nil {
			return Valid{}, nil, err
		}
		if s == nil {
			fail(i, "sensor_id", "unknown sensor %q of asset %q; register it with POST /api/v1/assets/%s/sensors", r.SensorID, r.AssetID, r.AssetID)
			continue
		}
		if r.Unit != "" && r.Unit != s.Unit {
			fail(i, "unit", "sensor %s/%s reports in %q, not %q", r.AssetID, r.SensorID, s.Unit, r.Unit)
			continue
		}
		val := *r.Value
		if s.MinValid != nil && val < *s.MinValid || s.MaxValid != nil && val > *s.MaxValid {
			fail(i, "value", "%g is outside the valid range %s of sensor %s/%s", val, validRange(s), r.AssetID, r.SensorID)
			continue
		}
		if seen != nil {
			k := readingKey{s.Key, ts.UnixMicro()}
			if j, ok := seen[k]; ok {
				if out.Rows[j].Value != val {
					fail(i, "value", "reading %d has the same sensor %s/%s and timestamp with value %g; one sensor has one value at a time", out.Index[j], r.AssetID, r.SensorID, out.Rows[j].Value)
				} else {
					out.Repeats++
				}
				continue
			}
			seen[k] = len(out.Rows)
		}
		out.Rows = append(out.Rows, store.Reading{TenantID: tenant, SensorKey: s.Key, TS: ts, Value: val})
		out.Sensors = append(out.Sensors, s)
		out.Index = append(out.Index, i)
	}
	if invalid > 0 {
		return Valid{}, &Rejection{Invalid: invalid, Total: len(in), Errors: errs}, nil
	}
	return out, nil, nil
}

func validRange(s *store.Sensor) string {
	lo, hi := "-inf", "+inf"
	if s.MinValid != nil {
		lo = fmt.Sprint(*s.MinValid)
	}
	if s.MaxValid != nil {
		hi = fmt.Sprint(*s.MaxValid)
	}
	return "[" + lo + ", " + hi + "]"
}
