package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewAdminRouter builds the admin listener's handler: /metrics (the
// Prometheus text format, from the default registry) and the health
// endpoints. The metrics carry every tenant's labels, so this handler must
// never be reachable by tenants: it runs on its own address (ADMIN_ADDR),
// not on the public router. A non-empty metricsToken is the bearer token
// /metrics requires; the health endpoints stay open for probes.
func NewAdminRouter(health *Health, metricsToken string) http.Handler {
	root := newRoot()
	root.Use(withRequestID)
	health.register(root)
	var metrics http.Handler = promhttp.Handler()
	if metricsToken != "" {
		metrics = requireBearer(metricsToken, metrics)
	}
	root.Handle("/metrics", metrics).Methods(http.MethodGet)
	return root
}

// register mounts the liveness and readiness endpoints on root.
func (h *Health) register(root *mux.Router) {
	root.HandleFunc("/health", h.Live).Methods(http.MethodGet)
	root.HandleFunc("/health/ready", h.Ready).Methods(http.MethodGet)
}

// requireBearer answers 401 unless the request carries "Authorization:
// Bearer <token>". The comparison takes the same time whatever the guess
// (both sides are hashed first, so even the length does not leak).
func requireBearer(token string, next http.Handler) http.Handler {
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="smartmaint-metrics"`)
			WriteError(w, r, http.StatusUnauthorized, "unauthorized", "this endpoint requires the metrics bearer token", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}
