package registry

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// benchLoader is a Loader serving n models of one tenant, filled directly:
// the benchmarks measure Get, not loading.
func benchLoader(n int) *Loader[*toy] {
	l := NewLoader(New(nil, nil, Options{}), decodeToy, LoaderOptions{})
	m := make(map[modelKey]*Loaded[*toy], n)
	for i := range n {
		name := fmt.Sprintf("model-%d", i)
		m[modelKey{"acme", name}] = &Loaded[*toy]{Model: &toy{tag: name}, Version: Version{TenantID: "acme", Name: name, Version: 1}}
	}
	l.models.Store(&m)
	return l
}

// BenchmarkLoaderGet is the scoring hot path: one atomic load and one map
// lookup, no lock.
func BenchmarkLoaderGet(b *testing.B) {
	l := benchLoader(100)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := l.Get("acme", "model-42"); !ok {
			b.Fatal("missing")
		}
	}
}

// BenchmarkLoaderGetParallel reads from every core while another goroutine
// swaps the model set every millisecond, as promotions would (far more
// often than they do).
func BenchmarkLoaderGetParallel(b *testing.B) {
	l := benchLoader(100)
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			next := make(map[modelKey]*Loaded[*toy], 100)
			for k, v := range *l.models.Load() {
				next[k] = v
			}
			l.models.Store(&next)
			time.Sleep(time.Millisecond)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := l.Get("acme", "model-42"); !ok {
				b.Fatal("missing")
			}
		}
	})
	b.StopTimer()
	stop.Store(true)
	<-done
}
