package api

import (
	"errors"
	"fmt"
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
				log.Log(r.Context(), level, "http request",
					"method", r.Method, "route", route, "path", r.URL.Path, "status", sw.status,
					"bytes", sw.bytes, "duration_ms", float64(d.Microseconds())/1000, "remote", r.RemoteAddr)
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
