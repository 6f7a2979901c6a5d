package loadtest

import (
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	out := `Running 15s test @ http://127.0.0.1:18080/api/v1/readings
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.82ms   14.89ms 466.51ms   98.36%
    Req/Sec     4.74k     1.12k    6.85k    71.33%
  Latency Distribution
     50%    5.95ms
     75%    8.08ms
     90%   11.21ms
     99%   29.82ms
  142168 requests in 15.07s, 38.91MB read
  Socket errors: connect 0, read 0, write 0, timeout 3
  Non-2xx or 3xx responses: 168
Requests/sec:   9431.03
`
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.Requests != 142168 || r.Succeeded != 142000 || r.P50 != 5950*time.Microsecond || r.P99 != 29820*time.Microsecond ||
		r.Max != 466510*time.Microsecond || len(r.Errors) != 2 {
		t.Errorf("report %+v", r)
	}
	if int(r.RequestsPerS) != 9433 {
		t.Errorf("rate %f", r.RequestsPerS)
	}
	if _, err := parseWrk("garbage"); err == nil {
		t.Error("garbage parsed")
	}
}
