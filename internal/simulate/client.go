package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/requestid"
)

// StatusError is an answer of the API the simulator cannot recover from,
// such as 401 for a wrong key.
type StatusError struct {
	Method, Path string
	Status       int
	Code         string
	Message      string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

// wireReading is a reading as POST /api/v1/readings takes it.
type wireReading struct {
	AssetID  string  `json:"asset_id"`
	SensorID string  `json:"sensor_id"`
	TS       string  `json:"ts"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit,omitempty"`
}

// errorBody is the API's error envelope.
type errorBody struct {
	Error struct {
		Code    string          `json:"code"`
		Message string          `json:"message"`
		Details json.RawMessage `json:"details"`
	} `json:"error"`
}

// client talks to the smartmaint API over HTTP.
type client struct {
	base    string
	key     string
	http    *http.Client
	log     *slog.Logger
	maxWait time.Duration // cap on a Retry-After wait
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody decodes the API's error envelope, tolerating other bodies.
func (r response) apiError() errorBody {
	var e errorBody
	if json.Unmarshal(r.body, &e) != nil || e.Error.Code == "" {
		e.Error.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(r.status), " ", "_"))
		e.Error.Message = strings.TrimSpace(string(r.body))
	}
	return e
}

func (c *client) statusError(method, path string, r response) *StatusError {
	e := r.apiError()
	return &StatusError{Method: method, Path: path, Status: r.status, Code: e.Error.Code, Message: e.Error.Message}
}

// do sends one request. Its context is detached from ctx's cancellation so
// that a request in flight when the simulator stops still gets its answer
// (the HTTP client's timeout bounds it): an answered batch is never resent.
func (c *client) do(ctx context.Context, method, path, idempotencyKey string, body any) (response, error) {
	var b []byte
	if body != nil {
		var err error
		if b, err = json.Marshal(body); err != nil {
			return response{}, err
		}
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", c.key)
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, header: resp.Header, body: rb}, nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), 1 s when
// absent, capped at c.maxWait.
func (c *client) retryAfter(h http.Header, now time.Time) time.Duration {
	d := time.Second
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			d = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	}
	return max(0, min(d, c.maxWait))
}

// backoff is the wait before retry attempt n (from 0) after a failure whose
// outcome is unknown: 250 ms doubling to at most 5 s.
func backoff(n int) time.Duration {
	return min(250*time.Millisecond<<min(n, 5), 5*time.Second)
}

// maxAttempts bounds the tries of one batch after failures with unknown
// outcome (no connection, 5xx other than 503).
const maxAttempts = 6

// create POSTs body to path, answering created (201) or existing (409). It
// waits for the API while it is unreachable or unavailable, until ctx ends.
func (c *client) create(ctx context.Context, path string, body any) (created bool, err error) {
	for attempt := 0; ; attempt++ {
		r, err := c.do(ctx, http.MethodPost, path, "", body)
		var wait time.Duration
		switch {
		case err != nil:
			if attempt%20 == 0 {
				c.log.Info("waiting for the smartmaint API", "url", c.base, "error", err)
			}
			wait = backoff(attempt)
		case r.status == http.StatusCreated:
			return true, nil
		case r.status == http.StatusConflict:
			return false, nil
		case r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable:
			wait = c.retryAfter(r.header, time.Now())
		default:
			return false, c.statusError(http.MethodPost, path, r)
		}
		if err := sleepCtx(ctx, wait); err != nil {
			return false, err
		}
	}
}

// setup registers the assets and their sensors, leaving existing ones as
// they are. It returns how many assets and sensors it created.
func (c *client) setup(ctx context.Context, assets []Asset, sensors []SensorSpec, records func(asset int) int) (newAssets, newSensors int, err error) {
	for i, a := range assets {
		body := map[string]any{
			"id": a.ID, "type": AssetType,
			"name":     "Milling machine " + strings.TrimPrefix(a.ID, "mill-"),
			"location": "simulated line",
			"metadata": map[string]any{
				"simulated": true, "dataset": "ai4i2020", "first_udi": records(i),
				"limits": map[string]any{
					"heat_dissipation_min_delta_k": HeatDissipationMinDeltaK, "heat_dissipation_max_rpm": HeatDissipationMaxRPM,
					"power_min_w": PowerMinW, "power_max_w": PowerMaxW,
					"overstrain_min_nm":  map[string]float64{"L": OverstrainLimit('L'), "M": OverstrainLimit('M'), "H": OverstrainLimit('H')},
					"tool_wear_warn_min": ToolWearWarnMin, "tool_wear_fail_min": ToolWearFailMin,
				},
			},
		}
		created, err := c.create(ctx, "/api/v1/assets", body)
		if err != nil {
			return newAssets, newSensors, fmt.Errorf("create asset %s: %w", a.ID, err)
		}
		if created {
			newAssets++
		}
		for _, s := range sensors {
			created, err := c.create(ctx, "/api/v1/assets/"+url.PathEscape(a.ID)+"/sensors", s)
			if err != nil {
				return newAssets, newSensors, fmt.Errorf("create sensor %s/%s: %w", a.ID, s.ID, err)
			}
			if created {
				newSensors++
			}
		}
	}
	return newAssets, newSensors, nil
}

// sent is the outcome of sending one batch.
type sent struct {
	requests, accepted, rejected, failed, retries int
}

// send posts readings until every one is stored or rejected. A 422 names the
// invalid readings: they are counted as rejected and the others resent. 429
// and 503 are waited out as Retry-After says; failures with unknown outcome
// are retried with backoff under the same Idempotency-Key and, after
// maxAttempts, counted as failed. 413 halves the batch. Anything else is an
// error the simulator cannot recover from.
func (c *client) send(ctx context.Context, batch []wireReading) (sent, error) {
	var out sent
	key := requestid.New()
	for attempt := 0; len(batch) > 0; {
		out.requests++
		r, err := c.do(ctx, http.MethodPost, "/api/v1/readings", key, batch)
		var wait time.Duration
		switch {
		case err != nil || r.status >= 500 && r.status != http.StatusServiceUnavailable:
			if attempt++; attempt >= maxAttempts {
				c.log.Error("readings not delivered; giving up on the batch", "readings", len(batch), "error", describe(err, r))
				out.failed += len(batch)
				return out, nil
			}
			c.log.Warn("sending readings failed; retrying", "attempt", attempt, "error", describe(err, r))
			wait = backoff(attempt - 1)
		case r.status == http.StatusCreated:
			out.accepted += len(batch)
			return out, nil
		case r.status == http.StatusTooManyRequests || r.status == http.StatusServiceUnavailable:
			wait, key = c.retryAfter(r.header, time.Now()), requestid.New()
			c.log.Debug("API asked to retry later", "status", r.status, "wait", wait)
		case r.status == http.StatusUnprocessableEntity:
			bad, err := invalidIndexes(r, len(batch))
			if err != nil {
				return out, err
			}
			c.log.Info("API rejected invalid readings; resending the rest of the batch", "rejected", len(bad), "resent", len(batch)-len(bad), "first", r.apiError().Error.Message)
			out.rejected += len(bad)
			batch, key = without(batch, bad), requestid.New()
			continue
		case r.status == http.StatusRequestEntityTooLarge && len(batch) > 1:
			for _, half := range [][]wireReading{batch[:len(batch)/2], batch[len(batch)/2:]} {
				h, err := c.send(ctx, half)
				out.add(h)
				if err != nil {
					return out, err
				}
			}
			return out, nil
		default:
			return out, c.statusError(http.MethodPost, "/api/v1/readings", r)
		}
		out.retries++
		if err := sleepCtx(ctx, wait); err != nil {
			out.failed += len(batch)
			return out, nil
		}
	}
	return out, nil
}

func (s *sent) add(o sent) {
	s.requests += o.requests
	s.accepted += o.accepted
	s.rejected += o.rejected
	s.failed += o.failed
	s.retries += o.retries
}

// invalidIndexes reads the indexes of the invalid readings from a 422.
func invalidIndexes(r response, n int) (map[int]bool, error) {
	e := r.apiError()
	var details []struct {
		Index int `json:"index"`
	}
	if e.Error.Code != "invalid_readings" || json.Unmarshal(e.Error.Details, &details) != nil || len(details) == 0 {
		return nil, &StatusError{Method: http.MethodPost, Path: "/api/v1/readings", Status: r.status, Code: e.Error.Code, Message: e.Error.Message}
	}
	bad := map[int]bool{}
	for _, d := range details {
		if d.Index < 0 || d.Index >= n {
			return nil, fmt.Errorf("POST /api/v1/readings: 422 names reading %d of a batch of %d", d.Index, n)
		}
		bad[d.Index] = true
	}
	return bad, nil
}

// without returns batch less the readings at the indexes in bad.
func without(batch []wireReading, bad map[int]bool) []wireReading {
	out := make([]wireReading, 0, len(batch)-len(bad))
	for i, r := range batch {
		if !bad[i] {
			out = append(out, r)
		}
	}
	return out
}

func describe(err error, r response) string {
	if err != nil {
		return err.Error()
	}
	e := r.apiError()
	return fmt.Sprintf("%d %s: %s", r.status, e.Error.Code, e.Error.Message)
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
