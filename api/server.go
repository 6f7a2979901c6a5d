// Package api is smartmaint's HTTP interface (gorilla/mux): the routes under
// /api/v1, their middleware (request id, metrics and access log, body-size
// limit, API-key authentication, rate limits, Idempotency-Key, scope checks)
// and the health endpoints. /metrics is served only by the admin listener
// (NewAdminRouter), never to tenants.
//
// Each feature contributes a Routes value; NewRouter mounts them all on the
// authenticated /api/v1 subrouter, so every route there requires a key.
package api

import (
	"log/slog"
	"maps"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/idempotency"
	"github.com/smartmaint/smartmaint/internal/ratelimit"
)

// Routes registers a feature's handlers on the authenticated /api/v1
// subrouter. Handlers wrap themselves with Require for their scope.
type Routes interface {
	Register(v1 *mux.Router)
}

// PublicRoutes registers handlers outside authentication (documentation,
// the operator page's static assets). Use sparingly.
type PublicRoutes interface {
	RegisterPublic(root *mux.Router)
}

// BodyLimiter is implemented by Routes some of whose routes take larger
// bodies than the router's limit (model uploads). BodyLimits maps
// "METHOD /template", with the full template such as
// "POST /api/v1/models/{name}/versions", to that route's limit in bytes.
type BodyLimiter interface {
	BodyLimits() map[string]int64
}

// DefaultMaxBodyBytes limits request bodies unless WithMaxBodyBytes says
// otherwise.
const DefaultMaxBodyBytes = 8 << 20

// Option configures NewRouter.
type Option func(*options)

type options struct {
	maxBody     int64
	limiter     *ratelimit.Limiter
	idempotency *idempotency.Store
}

// WithMaxBodyBytes limits every request body to n bytes (413 beyond).
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithRateLimit limits /api/v1 requests per API key and route class (see
// RouteClass); nil leaves them unlimited.
func WithRateLimit(l *ratelimit.Limiter) Option { return func(o *options) { o.limiter = l } }

// WithIdempotency honours the Idempotency-Key header of POST requests; nil
// ignores the header.
func WithIdempotency(s *idempotency.Store) Option { return func(o *options) { o.idempotency = s } }

// NewRouter builds the HTTP handler.
func NewRouter(log *slog.Logger, authn *auth.Authenticator, health *Health, routes []Routes, public []PublicRoutes, opts ...Option) http.Handler {
	o := options{maxBody: DefaultMaxBodyBytes}
	for _, opt := range opts {
		opt(&o)
	}
	root := newRoot()
	limits := map[string]int64{}
	for _, rt := range routes {
		if bl, ok := rt.(BodyLimiter); ok {
			maps.Copy(limits, bl.BodyLimits())
		}
	}
	root.Use(withRequestID, withObservability(log), withBodyLimit(o.maxBody, limits))

	health.register(root)
	for _, p := range public {
		p.RegisterPublic(root)
	}

	v1 := root.PathPrefix("/api/v1").Subrouter()
	v1.Use(withAuth(authn))
	if o.limiter != nil {
		v1.Use(withRateLimit(o.limiter))
	}
	if o.idempotency != nil {
		v1.Use(withIdempotency(o.idempotency, log))
	}
	for _, rt := range routes {
		rt.Register(v1)
	}
	return root
}

// newRoot returns a router answering unknown paths with 404 JSON and known
// paths with another method with 405 JSON.
func newRoot() *mux.Router {
	root := mux.NewRouter()
	// gorilla/mux loses "method not allowed" inside subrouters whose later
	// routes share the prefix, so 404s check the other methods themselves.
	root.NotFoundHandler = withRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allowed := allowedMethods(root, r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			WriteError(w, r, http.StatusMethodNotAllowed, "method_not_allowed",
				"method "+r.Method+" is not allowed on "+r.URL.Path, map[string][]string{"allowed": allowed})
			return
		}
		WriteError(w, r, http.StatusNotFound, "not_found", "no such endpoint: "+r.Method+" "+r.URL.Path, nil)
	}))
	root.MethodNotAllowedHandler = root.NotFoundHandler
	return root
}

// allowedMethods lists the methods that would match r's path.
func allowedMethods(root *mux.Router, r *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if root.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
