package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkIngestSingle pushes single-reading POSTs through the real router,
// middleware, validation and group-commit batcher into PostgreSQL, from
// many goroutines at once (no network): the server-side cost of one reading
// a request.
func BenchmarkIngestSingle(b *testing.B) {
	s := newServer(b)
	s.seedMill(b)
	key := s.keys["writer"]
	h := s.Config.Handler
	now := time.Now().UTC()
	var n atomic.Int64
	b.SetParallelism(32) // requests in flight, as from many sensors
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"asset_id":"mill-1","sensor_id":"torque","ts":%q,"value":%d}`, now.Add(-time.Duration(i)*time.Microsecond).Format(time.RFC3339Nano), 40+i%10)
			req := httptest.NewRequest(http.MethodPost, "/api/v1/readings", strings.NewReader(body))
			req.Header.Set("X-API-Key", key)
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusCreated {
				b.Fatalf("%d %s", rec.Code, rec.Body)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
