package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/idempotency"
	"github.com/smartmaint/smartmaint/internal/ratelimit"
	"github.com/smartmaint/smartmaint/internal/requestid"
)

var (
	httpRequests = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_http_requests_total",
		Help: "HTTP requests by route template, method and status code.",
	}, []string{"route", "method", "code"})
	httpDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "smartmaint_http_request_duration_seconds",
		Help:    "HTTP request latency by route template and method.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method"})
)

// statusWriter records the status code and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withRequestID takes X-Request-ID from the request (when well-formed) or
// makes one, puts it in the context for every log line, and echoes it.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestid.Header)
		if !requestid.Valid(id) {
			id = requestid.New()
		}
		w.Header().Set(requestid.Header, id)
		next.ServeHTTP(w, r.WithContext(requestid.NewContext(r.Context(), id)))
	})
}

// withObservability records metrics and an access log line, and turns
// panics into 500s.
func withObservability(log *slog.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				if p := recover(); p != nil {
					if p == http.ErrAbortHandler {
						panic(p)
					}
					log.ErrorContext(r.Context(), "panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					if sw.status == 0 {
						WriteError(sw, r, http.StatusInternalServerError, "internal", "internal error; quote the request id when reporting it", nil)
					}
				}
				route := "unmatched"
				if cr := mux.CurrentRoute(r); cr != nil {
					if t, err := cr.GetPathTemplate(); err == nil {
						route = t
					}
				}
				if sw.status == 0 {
					sw.status = http.StatusOK
				}
				d := time.Since(start)
				httpRequests.WithLabelValues(route, r.Method, strconv.Itoa(sw.status)).Inc()
				httpDuration.WithLabelValues(route, r.Method).Observe(d.Seconds())
				level := slog.LevelDebug // successful requests are only logged at debug: at 10k req/s the log would cost more than the work
				if sw.status >= 400 {
					level = slog.LevelInfo
				}
				if sw.status >= 500 {
					level = slog.LevelWarn
				}
				if log.Enabled(r.Context(), level) {
					log.Log(r.Context(), level, "http request",
						"method", r.Method, "route", route, "path", r.URL.Path, "status", sw.status,
						"bytes", sw.bytes, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
				}
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// withAuth authenticates the X-API-Key header (or "Authorization: Bearer")
// and puts the principal in the context. 401 without a valid key.
func withAuth(a *auth.Authenticator) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get("X-API-Key")
			if key == "" {
				if v, ok := cutPrefixFold(r.Header.Get("Authorization"), "Bearer "); ok {
					key = v
				}
			}
			p, err := a.Authenticate(r.Context(), key)
			switch {
			case errors.Is(err, auth.ErrNoKey):
				w.Header().Set("WWW-Authenticate", `ApiKey header="X-API-Key"`)
				WriteError(w, r, http.StatusUnauthorized, "unauthenticated", "missing API key: send it in the X-API-Key header", nil)
				return
			case errors.Is(err, auth.ErrInvalidKey):
				w.Header().Set("WWW-Authenticate", `ApiKey header="X-API-Key"`)
				WriteError(w, r, http.StatusUnauthorized, "unauthenticated", "API key is unknown, revoked or expired", nil)
				return
			case err != nil:
				slog.WarnContext(r.Context(), "authentication unavailable", "error", err)
				WriteUnavailable(w, r, 2, "cannot verify the API key right now; retry shortly")
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.NewContext(r.Context(), p)))
		})
	}
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return "", false
}

// Require wraps h so it runs only for principals holding scope (403
// otherwise). Every authenticated route is registered through it.
func Require(scope apikey.Scope, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok {
			WriteError(w, r, http.StatusUnauthorized, "unauthenticated", "missing API key", nil)
			return
		}
		if !p.Can(scope) {
			WriteError(w, r, http.StatusForbidden, "forbidden", fmt.Sprintf("this API key lacks the scope %q", scope), map[string]any{"required_scope": scope, "key_scopes": p.Scopes})
			return
		}
		h(w, r)
	})
}

// Tenant returns the tenant of the authenticated request.
func Tenant(r *http.Request) string {
	p, _ := auth.FromContext(r.Context())
	return p.TenantID
}

// withBodyLimit caps every request body at n bytes, or at the limit that
// limits gives the matched route ("METHOD /template"): a declared length
// over it is refused at once, a longer stream fails when read (DecodeJSON,
// the ingest decoder and the model upload answer 413).
func withBodyLimit(def int64, limits map[string]int64) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := def
			if len(limits) > 0 {
				if cr := mux.CurrentRoute(r); cr != nil {
					if tpl, err := cr.GetPathTemplate(); err == nil {
						if l, ok := limits[r.Method+" "+tpl]; ok {
							n = l
						}
					}
				}
			}
			if r.ContentLength > n {
				WriteError(w, r, http.StatusRequestEntityTooLarge, "body_too_large",
					fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, n), map[string]int64{"limit_bytes": n})
				return
			}
			if r.Body != nil && r.Body != http.NoBody {
				r.Body = http.MaxBytesReader(w, r.Body, n)
			}
			next.ServeHTTP(w, r)
		})
	}
}

// expensiveRoutes are the routes (method and template) in the expensive
// rate-limit class: each starts work that costs far more than a request.
var expensiveRoutes = map[string]bool{
	"POST /api/v1/models/{name}/retrain":                  true,
	"POST /api/v1/models/{name}/training":                 true,
	"POST /api/v1/models/{name}/promote":                  true,
	"POST /api/v1/models/{name}/versions":                 true,
	"POST /api/v1/models/{name}/aliases/{alias}/rollback": true,
	"POST /api/v1/work-orders/replan":                     true,
	"POST /api/v1/reports":                                true,
}

// RouteClass is the rate-limit class of the request's matched route:
// ingest for POST /api/v1/readings, expensive for model retrain, training, promote,
// upload and rollback, work-order re-planning and report generation, read for GET and
// HEAD, write for the rest.
func RouteClass(r *http.Request) ratelimit.Class {
	template := ""
	if cr := mux.CurrentRoute(r); cr != nil {
		template, _ = cr.GetPathTemplate()
	}
	switch {
	case r.Method == http.MethodPost && template == "/api/v1/readings":
		return ratelimit.Ingest
	case expensiveRoutes[r.Method+" "+template]:
		return ratelimit.Expensive
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return ratelimit.Read
	}
	return ratelimit.Write
}

// withRateLimit takes each request out of its API key's budget for the
// route class, sets the RateLimit-* headers (IETF draft) and answers 429
// with Retry-After when the budget is spent. Without Redis it lets
// requests through (see package ratelimit).
func withRateLimit(l *ratelimit.Limiter) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := auth.FromContext(r.Context())
			class := RouteClass(r)
			d := l.Allow(r.Context(), p.KeyPrefix, class)
			if d.Limit.Unlimited() || d.FailedOpen {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Set("RateLimit-Limit", strconv.Itoa(d.Limit.Burst))
			h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
			h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.ResetAfter)))
			h.Set("RateLimit-Policy", fmt.Sprintf("%d;w=%d;burst=%d", d.Limit.Rate, int(d.Limit.Period/time.Second), d.Limit.Burst))
			if d.Allowed {
				next.ServeHTTP(w, r)
				return
			}
			retry := max(ceilSeconds(d.RetryAfter), 1)
			h.Set("Retry-After", strconv.Itoa(retry))
			WriteError(w, r, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("this API key has used its budget for %s requests: %s; retry in %d s", class, d.Limit.Describe(), retry),
				map[string]any{"class": class, "limit": d.Limit.String(), "retry_after_seconds": retry})
		})
	}
}

func ceilSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int((d + time.Second - 1) / time.Second)
}

// IdempotentReplayedHeader marks a response replayed for a repeated
// Idempotency-Key.
const IdempotentReplayedHeader = "Idempotent-Replayed"

// withIdempotency makes POST requests with an Idempotency-Key header safe to
// retry: the first one runs and its response is stored; a repeat with the
// same body gets that response again (with Idempotent-Replayed: true), a
// repeat while the first is running gets 409, and a repeat with another
// body gets 422. Without Redis such requests get 503: running them without
// the guarantee could do the work twice.
func withIdempotency(s *idempotency.Store, log *slog.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header := r.Header.Get("Idempotency-Key")
			if r.Method != http.MethodPost || header == "" {
				next.ServeHTTP(w, r)
				return
			}
			key, err := idempotency.ParseKey(header)
			if err != nil {
				WriteError(w, r, http.StatusBadRequest, "invalid_idempotency_key", err.Error(), nil)
				return
			}
			body, err := io.ReadAll(r.Body)
			if err != nil {
				var maxErr *http.MaxBytesError
				if errors.As(err, &maxErr) {
					WriteError(w, r, http.StatusRequestEntityTooLarge, "body_too_large", err.Error(), map[string]int64{"limit_bytes": maxErr.Limit})
					return
				}
				WriteError(w, r, http.StatusBadRequest, "malformed_body", "could not read the request body: "+err.Error(), nil)
				return
			}
			scope := idempotency.Scope{Tenant: Tenant(r), Method: r.Method, Path: r.URL.Path, Key: key}
			claim, replay, err := s.Begin(r.Context(), scope, idempotency.Fingerprint(body))
			switch {
			case errors.Is(err, idempotency.ErrInProgress):
				w.Header().Set("Retry-After", "1")
				WriteError(w, r, http.StatusConflict, "idempotency_in_progress",
					"a request with this Idempotency-Key is still being processed; retry shortly to get its response", nil)
				return
			case errors.Is(err, idempotency.ErrKeyReused):
				WriteError(w, r, http.StatusUnprocessableEntity, "idempotency_key_reused",
					"this Idempotency-Key was already used with a different request body; use a new key for a new request", nil)
				return
			case err != nil:
				log.WarnContext(r.Context(), "idempotency keys unavailable", "error", err)
				WriteUnavailable(w, r, 2, "Idempotency-Key cannot be checked right now, so the request was not processed; retry shortly")
				return
			case replay != nil:
				h := w.Header()
				for k, v := range replay.Header {
					h.Set(k, v)
				}
				h.Set(IdempotentReplayedHeader, "true")
				w.WriteHeader(replay.Status)
				w.Write(replay.Body)
				return
			}
			ctx := context.WithoutCancel(r.Context())
			finished := false
			defer func() {
				if !finished { // the handler panicked: let a retry run
					claim.Release(ctx)
				}
			}()
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := &recordingWriter{ResponseWriter: w, max: s.MaxBodyBytes()}
			next.ServeHTTP(rec, r)
			finished = true
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			if rec.overflow {
				err = claim.Release(ctx)
			} else {
				err = claim.Finish(ctx, idempotency.Response{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()})
			}
			if err != nil {
				log.WarnContext(r.Context(), "store idempotent response", "error", err)
			}
		})
	}
}

// recordingWriter passes a response through and keeps a copy of its status,
// replayed headers and body (up to max bytes) for the idempotency store.
type recordingWriter struct {
	http.ResponseWriter
	status   int
	header   map[string]string
	body     bytes.Buffer
	max      int
	overflow bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		for _, name := range idempotency.ReplayedHeaders {
			if v := w.Header().Get(name); v != "" {
				if w.header == nil {
					w.header = map[string]string{}
				}
				w.header[name] = v
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.overflow {
		if w.body.Len()+len(b) > w.max {
			w.overflow = true
			w.body = bytes.Buffer{}
		} else {
			w.body.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
