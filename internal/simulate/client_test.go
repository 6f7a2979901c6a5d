package simulate

import (
	"net/http"
	"reflect"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	c := &client{maxWait: 30 * time.Second}
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Second},
		{"0", 0},
		{"5", 5 * time.Second},
		{"3600", 30 * time.Second},
		{now.Add(10 * time.Second).Format(http.TimeFormat), 10 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
		{"soon", time.Second},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.header != "" {
			h.Set("Retry-After", tt.header)
		}
		if got := c.retryAfter(h, now); got != tt.want {
			t.Errorf("Retry-After %q: wait %s, want %s", tt.header, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for n, w := range want {
		if got := backoff(n); got != w {
			t.Errorf("backoff(%d) = %s, want %s", n, got, w)
		}
	}
}

func TestInvalidIndexes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    map[int]bool
		wantErr bool
	}{
		{"two readings", `{"error":{"code":"invalid_readings","message":"2 of 5","details":[{"index":1,"field":"value"},{"index":3,"field":"value"},{"index":3,"field":"unit"}]}}`, map[int]bool{1: true, 3: true}, false},
		{"index out of range", `{"error":{"code":"invalid_readings","details":[{"index":5}]}}`, nil, true},
		{"no details", `{"error":{"code":"invalid_readings"}}`, nil, true},
		{"another 422", `{"error":{"code":"invalid","message":"bad"}}`, nil, true},
		{"not JSON", `oops`, nil, true},
	}
	for _, tt := range tests {
		got, err := invalidIndexes(response{status: http.StatusUnprocessableEntity, body: []byte(tt.body)}, 5)
		if (err != nil) != tt.wantErr || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v, error %t", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
	batch := []wireReading{{SensorID: "a"}, {SensorID: "b"}, {SensorID: "c"}, {SensorID: "d"}}
	if got := without(batch, map[int]bool{0: true, 2: true}); !reflect.DeepEqual(got, []wireReading{{SensorID: "b"}, {SensorID: "d"}}) {
		t.Errorf("without = %+v", got)
	}
}
