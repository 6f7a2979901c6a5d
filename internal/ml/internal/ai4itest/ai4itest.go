// Package ai4itest gives the ml packages' tests and benchmarks the AI4I 2020
// data as a feature matrix, and a per-call latency benchmark helper.
package ai4itest

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// Load returns the AI4I features (dataset.AI4IFeatureNames) and failure
// labels. It skips the test when the datasets folder is absent and fails it
// when the file is there but unreadable.
func Load(tb testing.TB) (X [][]float64, y []bool) {
	tb.Helper()
	path, err := dataset.AI4IPath()
	if err == nil {
		_, err = os.Stat(path)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || path == "" {
			tb.Skipf("AI4I 2020 not available: %v", err)
		}
		tb.Fatal(err)
	}
	recs, err := dataset.LoadAI4I(path)
	if err != nil {
		tb.Fatal(err)
	}
	X = make([][]float64, len(recs))
	y = make([]bool, len(recs))
	for i, r := range recs {
		X[i] = r.Features()
		y[i] = r.Failure
	}
	return X, y
}

// Throughput runs fn once per benchmark iteration, cycling through rows,
// with allocations reported: the per-reading scoring cost.
func Throughput(b *testing.B, rows [][]float64, fn func(x []float64) float64) {
	b.Helper()
	b.ReportAllocs()
	b.ResetTimer()
	var sink float64
	for i := 0; i < b.N; i++ {
		sink += fn(rows[i%len(rows)])
	}
	if sink == 0.123456789 {
		b.Log(sink)
	}
}

// Latency times fn once per benchmark iteration, cycling through rows, and
// reports the 50th and 99th percentile of the single-call latency as
// p50-ns and p99-ns besides the usual ns/op (which includes the clock
// reads).
func Latency(b *testing.B, rows [][]float64, fn func(x []float64) float64) {
	b.Helper()
	lat := make([]time.Duration, 0, b.N)
	var sink float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := rows[i%len(rows)]
		start := time.Now()
		sink += fn(x)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	if sink == 0.123456789 {
		b.Log(sink)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}
