package loadtest

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestScrapeAndQuantile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `# HELP x_latency_seconds help
# TYPE x_latency_seconds histogram
x_latency_seconds_bucket{le="0.01"} 50
x_latency_seconds_bucket{le="0.02"} 90
x_latency_seconds_bucket{le="0.05"} 100
x_latency_seconds_bucket{le="+Inf"} 100
x_latency_seconds_sum 1.2
x_latency_seconds_count 100
x_starts_total 7
x_other{label="a"} 3
x_other{label="b"} 4
`)
	}))
	defer srv.Close()
	vals, hists, err := Scrape(srv.URL, "x_latency_seconds", "x_starts_total", "x_other")
	if err != nil {
		t.Fatal(err)
	}
	if vals["x_starts_total"] != 7 || vals["x_other"] != 7 || len(vals) != 2 {
		t.Errorf("values %v", vals)
	}
	h := hists["x_latency_seconds"]
	if h.Count != 100 || h.Sum != 1.2 || len(h.Buckets) != 4 {
		t.Fatalf("histogram %+v", h)
	}
	tests := []struct{ q, want float64 }{{0.5, 0.01}, {0.7, 0.015}, {0.99, 0.047}, {0.25, 0.005}}
	for _, tt := range tests {
		if got := h.Quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("q%.2f = %g, want %g", tt.q, got, tt.want)
		}
	}
	if !math.IsNaN((Histogram{}).Quantile(0.5)) {
		t.Error("empty histogram quantile is not NaN")
	}
}
