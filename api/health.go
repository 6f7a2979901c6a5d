package api

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Check reports whether one dependency works.
type Check func(ctx context.Context) error

// Health serves liveness and readiness.
type Health struct {
	// Checks are run concurrently by Ready, by name.
	Checks map[string]Check
	// Timeout bounds each check.
	Timeout time.Duration
}

// Live answers 200 while the process serves HTTP.
func (h *Health) Live(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Ready answers 200 when every dependency answers, 503 otherwise, with the
// result of each check.
func (h *Health) Ready(w http.ResponseWriter, r *http.Request) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	type result struct {
		Status string `json:"status"`
		Error  string `json:"error,omitempty"`
		MS     int64  `json:"latency_ms"`
	}
	results := make(map[string]result, len(h.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range h.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			defer cancel()
			start := time.Now()
			err := check(ctx)
			res := result{Status: "ok", MS: time.Since(start).Milliseconds()}
			if err != nil {
				res.Status, res.Error = "down", err.Error()
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	status, code := "ok", http.StatusOK
	for _, res := range results {
		if res.Status != "ok" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	WriteJSON(w, code, map[string]any{"status": status, "checks": results})
}
