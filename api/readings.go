package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Readings serves ingest and queries of sensor readings.
type Readings struct {
	DB        *store.DB
	Validator *ingest.Validator
	Batcher   *ingest.Batcher
	// Scorer, when set, scores validated readings before they are queued and
	// returns what the batch hooks need (for example the anomalies found).
	Scorer func(r *http.Request, tenant string, v ingest.Valid) any
	// MaxBodyBytes and MaxReadings bound one request.
	MaxBodyBytes int64
	MaxReadings  int
}

// Query limits.
const (
	defaultPoints = 10_000
	maxPoints     = 100_000
	maxBuckets    = 100_000
)

// Register mounts the readings routes.
func (h *Readings) Register(v1 *mux.Router) {
	v1.Handle("/readings", Require(apikey.ReadingsWrite, h.ingest)).Methods(http.MethodPost)
	v1.Handle("/assets/{id}/readings", Require(apikey.ReadingsRead, h.query)).Methods(http.MethodGet)
}

// ingest handles POST /api/v1/readings: one JSON object, a JSON array or
// NDJSON. The answer comes only after the readings are committed.
func (h *Readings) ingest(w http.ResponseWriter, r *http.Request) {
	format, ok := ingest.FormatOf(r.Header.Get("Content-Type"))
	if !ok {
		WriteError(w, r, http.StatusUnsupportedMediaType, "unsupported_media_type",
			"send readings as application/json (an object or an array) or application/x-ndjson; with curl, use --json or -H 'Content-Type: application/json'", nil)
		return
	}
	body := http.MaxBytesReader(w, r.Body, h.MaxBodyBytes)
	in, err := ingest.Decode(body, format, h.MaxReadings)
	var tooMany *ingest.TooManyError
	var maxErr *http.MaxBytesError
	var decErr *ingest.DecodeError
	switch {
	case errors.As(err, &maxErr):
		WriteError(w, r, http.StatusRequestEntityTooLarge, "body_too_large",
			fmt.Sprintf("request body exceeds %d bytes; split the readings into several requests", maxErr.Limit), map[string]int64{"limit_bytes": maxErr.Limit})
		return
	case errors.As(err, &tooMany):
		WriteError(w, r, http.StatusRequestEntityTooLarge, "too_many_readings",
			err.Error()+"; split the readings into several requests", map[string]int{"limit": tooMany.Limit})
		return
	case errors.As(err, &decErr):
		var details any
		if decErr.Index >= 0 {
			details = []ingest.FieldError{{Index: decErr.Index, Message: decErr.Message}}
		}
		WriteError(w, r, http.StatusBadRequest, "malformed_body", decErr.Error(), details)
		return
	case err != nil:
		WriteError(w, r, http.StatusBadRequest, "malformed_body", err.Error(), nil)
		return
	}

	tenant := Tenant(r)
	valid, rejected, err := h.Validator.Validate(r.Context(), tenant, in)
	if err != nil {
		WriteUnavailable(w, r, 2, "cannot check readings against the sensor catalogue right now; nothing was stored")
		return
	}
	if rejected != nil {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_readings",
			fmt.Sprintf("%d of %d readings are invalid; nothing was stored", rejected.Invalid, rejected.Total), rejected.Errors)
		return
	}
	req := &ingest.Request{Rows: valid.Rows}
	if h.Scorer != nil {
		req.Extra = h.Scorer(r, tenant, valid)
	}
	err = h.Batcher.Write(r.Context(), req)
	var conflict *ingest.ConflictError
	switch {
	case errors.As(err, &conflict):
		writeConflict(w, r, conflict, valid, len(in))
		return
	case err != nil:
		WriteUnavailable(w, r, 5, "readings could not be stored right now and were not acknowledged; retry the request")
		return
	}
	// Duplicates (already stored with the same value, or repeated in this
	// request) are acknowledged: a re-sent request succeeds like the first.
	WriteJSON(w, http.StatusCreated, map[string]int{"stored": req.Written.Stored, "duplicates": req.Written.Duplicates + valid.Repeats})
}

// maxConflictDetails caps the readings a 409 lists, like the 422's errors.
const maxConflictDetails = 100

// ConflictDetail names a reading whose sensor and timestamp are already
// stored with another value.
type ConflictDetail struct {
	Index       int     `json:"index"`
	Field       string  `json:"field"`
	Message     string  `json:"message"`
	Value       float64 `json:"value"`
	StoredValue float64 `json:"stored_value"`
}

// writeConflict answers 409 conflicting_reading: readings are unique per
// sensor and timestamp, and a different value for a stored one is refused
// with the whole request (see docs/ARCHITECTURE.md, "Duplicate readings").
func writeConflict(w http.ResponseWriter, r *http.Request, e *ingest.ConflictError, valid ingest.Valid, total int) {
	details := make([]ConflictDetail, 0, min(len(e.Conflicts), maxConflictDetails))
	for _, c := range e.Conflicts[:min(len(e.Conflicts), maxConflictDetails)] {
		details = append(details, ConflictDetail{
			Index: valid.Index[c.Row], Field: "value", Value: c.Value, StoredValue: c.Stored,
			Message: fmt.Sprintf("%s/%s at %s is already stored with value %g, not %g",
				valid.Sensors[c.Row].AssetID, valid.Sensors[c.Row].ID, valid.Rows[c.Row].TS.UTC().Format(time.RFC3339Nano), c.Stored, c.Value),
		})
	}
	WriteError(w, r, http.StatusConflict, "conflicting_reading",
		fmt.Sprintf("%d of %d readings have a sensor and timestamp already stored with a different value; nothing was stored (an exact re-send is accepted, a correction is not)", len(e.Conflicts), total),
		details)
}

// query handles GET /api/v1/assets/{id}/readings?from&to&sensor&step&limit.
func (h *Readings) query(w http.ResponseWriter, r *http.Request) {
	q, problems := parseReadingsQuery(r, time.Now())
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return
	}
	tenant := Tenant(r)
	if _, err := h.DB.GetAsset(r.Context(), tenant, q.AssetID); err != nil {
		WriteStoreError(w, r, err)
		return
	}
	series, err := h.DB.QueryReadings(r.Context(), tenant, q)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	if series == nil {
		series = []store.Series{}
	}
	step := ""
	if q.Step > 0 {
		step = q.Step.String()
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"asset_id": q.AssetID, "from": q.From, "to": q.To, "step": step, "series": series,
	})
}

// ParamError names a bad query parameter.
type ParamError struct {
	Param   string `json:"param"`
	Message string `json:"message"`
}

func parseReadingsQuery(r *http.Request, now time.Time) (store.ReadingsQuery, []ParamError) {
	v := r.URL.Query()
	q := store.ReadingsQuery{AssetID: mux.Vars(r)["id"], To: now, Limit: defaultPoints}
	var problems []ParamError
	bad := func(param, format string, args ...any) {
		problems = append(problems, ParamError{Param: param, Message: fmt.Sprintf(format, args...)})
	}
	parseTime := func(param string, dst *time.Time) {
		if s := v.Get(param); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				bad(param, "not an RFC 3339 timestamp: %q", s)
				return
			}
			*dst = t
		}
	}
	parseTime("to", &q.To)
	q.From = q.To.Add(-time.Hour)
	parseTime("from", &q.From)
	if !q.From.Before(q.To) {
		bad("from", "must be before to")
	}
	for _, s := range v["sensor"] {
		for _, id := range strings.Split(s, ",") {
			if id = strings.TrimSpace(id); id != "" {
				q.SensorIDs = append(q.SensorIDs, id)
			}
		}
	}
	if s := v.Get("step"); s != "" && s != "raw" {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			bad("step", "not a duration such as 30s, 5m or 1h: %q", s)
		case d < time.Second:
			bad("step", "must be at least 1s")
		case d%time.Second != 0:
			bad("step", "must be a whole number of seconds")
		case q.From.Before(q.To) && q.To.Sub(q.From)/d > maxBuckets:
			bad("step", "%s over %s gives more than %d buckets; use a larger step", s, q.To.Sub(q.From), maxBuckets)
		default:
			q.Step = d
		}
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPoints {
			bad("limit", "must be an integer from 1 to %d", maxPoints)
		} else {
			q.Limit = n
		}
	}
	return q, problems
}
