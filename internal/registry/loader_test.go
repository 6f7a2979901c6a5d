package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/registry/s3test"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// toy is the "model" the loader tests decode: the tag of "model:<name>:<tag>".
type toy struct{ tag string }

func decodeToy(b []byte) (*toy, error) {
	s := string(b)
	if strings.HasSuffix(s, ":panic") {
		panic("decoder bug")
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 || parts[0] != "model" {
		return nil, fmt.Errorf("not a toy model: %q", s)
	}
	return &toy{tag: parts[2]}, nil
}

// run starts l and waits until it has subscribed and loaded.
func run[T any](t *testing.T, l *Loader[T]) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-l.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("loader not ready after 10s")
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func servedTag(l *Loader[*toy], tenant, name string) string {
	m, ok := l.Get(tenant, name)
	if !ok {
		return ""
	}
	return m.Model.tag
}

func TestLoaderSwapsOnNotification(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	f := newFixture(t, Options{Redis: rdb, Channel: prefix + "models"})
	f.create(t, "pump-iforest", "a", 0)
	f.create(t, "pump-iforest", "b", 1)
	f.promote(t, "pump-iforest", Champion, 1)

	// Polling is effectively off: only the notification can bring v2 in.
	l := NewLoader(f.reg, decodeToy, LoaderOptions{Interval: time.Hour})
	run(t, l)
	if got := servedTag(l, f.tenant, "pump-iforest"); got != "a" {
		t.Fatalf("serving %q after the first load, want a", got)
	}
	f.promote(t, "pump-iforest", Champion, 2)
	waitFor(t, "the notification to swap in v2", func() bool { return servedTag(l, f.tenant, "pump-iforest") == "b" })
	if got := metricValue(t, loadedVersion.WithLabelValues(f.tenant, "pump-iforest", Champion)); got != 2 {
		t.Errorf("loaded version gauge = %v, want 2", got)
	}
	m, _ := l.Get(f.tenant, "pump-iforest")
	if m.Version.Version != 2 || m.Version.TenantID != f.tenant || m.LoadedAt.IsZero() {
		t.Errorf("loaded = %+v", m.Version)
	}
}

func TestLoaderPollsWithoutRedis(t *testing.T) {
	f := newFixture(t, Options{}) // no Redis: nothing is announced
	f.create(t, "pump-iforest", "a", 0)
	f.create(t, "pump-iforest", "b", 1)
	l := NewLoader(f.reg, decodeToy, LoaderOptions{Interval: 20 * time.Millisecond})
	run(t, l)
	if _, ok := l.Get(f.tenant, "pump-iforest"); ok {
		t.Fatal("serving a model before any version is champion")
	}
	f.promote(t, "pump-iforest", Champion, 1)
	waitFor(t, "polling to load v1", func() bool { return servedTag(l, f.tenant, "pump-iforest") == "a" })
	f.promote(t, "pump-iforest", Champion, 2)
	waitFor(t, "polling to swap in v2", func() bool { return servedTag(l, f.tenant, "pump-iforest") == "b" })
	if _, err := f.reg.RemoveAlias(context.Background(), f.tenant, "pump-iforest", Champion, "tester", "retired"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "polling to drop the model", func() bool { _, ok := l.Get(f.tenant, "pump-iforest"); return !ok })
}

func TestLoaderKeepsWorkingModel(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.tenant = testenv.Tenant(t, f.db, "keeps") // own metric labels
	f.create(t, "pump-iforest", "good", 0)
	l := NewLoader(f.reg, decodeToy, LoaderOptions{Interval: time.Hour, RetryFailed: time.Nanosecond})
	f.promote(t, "pump-iforest", Champion, 1)
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	failures := func(reason string) float64 {
		return metricValue(t, modelLoadFailures.WithLabelValues(f.tenant, "pump-iforest", reason))
	}
	tests := []struct {
		name   string
		reason string
		// prepare registers and promotes a version that cannot be served.
		prepare func(t *testing.T) int
	}{
		{"corrupted after promotion", "checksum", func(t *testing.T) int {
			v := f.create(t, "pump-iforest", "soon-corrupt", 1)
			f.promote(t, "pump-iforest", Champion, v.Version)
			overwrite(t, filepath.Join(f.folder.Dir(), v.Artifact.Key), "model:pump-iforest:CORRUPTED!!")
			return v.Version
		}},
		{"deleted after promotion", "missing", func(t *testing.T) int {
			v := f.create(t, "pump-iforest", "soon-gone", 1)
			f.promote(t, "pump-iforest", Champion, v.Version)
			if err := os.Remove(filepath.Join(f.folder.Dir(), v.Artifact.Key)); err != nil {
				t.Fatal(err)
			}
			return v.Version
		}},
		{"undecodable", "decode", func(t *testing.T) int {
			v, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "pump-iforest", Kind: "iforest", CreatedBy: "t"}, []byte("garbage"))
			if err != nil {
				t.Fatal(err)
			}
			f.promote(t, "pump-iforest", Champion, v.Version)
			return v.Version
		}},
		{"decoder panics", "decode", func(t *testing.T) int {
			v := f.create(t, "pump-iforest", "panic", 1)
			f.promote(t, "pump-iforest", Champion, v.Version)
			return v.Version
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := failures(tt.reason)
			bad := tt.prepare(t)
			err := l.Refresh(ctx)
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("version %d", bad)) {
				t.Fatalf("Refresh = %v, want an error about version %d", err, bad)
			}
			if got := servedTag(l, f.tenant, "pump-iforest"); got != "good" {
				t.Fatalf("serving %q, want the working model", got)
			}
			if got := failures(tt.reason); got != before+1 {
				t.Errorf("failures{reason=%s} = %v, want %v", tt.reason, got, before+1)
			}
		})
	}
	if got := metricValue(t, loadedVersion.WithLabelValues(f.tenant, "pump-iforest", Champion)); got != 1 {
		t.Errorf("loaded version gauge = %v, want 1", got)
	}

	// A good version after the bad ones is served again.
	v := f.create(t, "pump-iforest", "better", 1)
	f.promote(t, "pump-iforest", Champion, v.Version)
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servedTag(l, f.tenant, "pump-iforest"); got != "better" {
		t.Fatalf("serving %q, want better", got)
	}
}

func TestLoaderFiltersKindAndTenant(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.create(t, "pump-iforest", "a", 0)
	if _, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "mill-gbdt", Kind: "gbdt", CreatedBy: "t"}, []byte("model:mill-gbdt:g")); err != nil {
		t.Fatal(err)
	}
	f.promote(t, "pump-iforest", Champion, 1)
	f.promote(t, "mill-gbdt", Champion, 1)
	f.promote(t, "pump-iforest", Challenger, 1)
	l := NewLoader(f.reg, decodeToy, LoaderOptions{Kind: "iforest"})
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := l.Get(f.tenant, "mill-gbdt"); ok {
		t.Error("an iforest loader serves a gbdt model")
	}
	if _, ok := l.Get("globex", "pump-iforest"); ok {
		t.Error("another tenant gets acme's model")
	}
	challengers := NewLoader(f.reg, decodeToy, LoaderOptions{Alias: Challenger})
	if err := challengers.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servedTag(challengers, f.tenant, "pump-iforest"); got != "a" {
		t.Errorf("challenger loader serves %q", got)
	}
	if _, ok := challengers.Get(f.tenant, "mill-gbdt"); ok {
		t.Error("challenger loader serves a model without a challenger")
	}
}

// TestRegistryOverS3 runs the registry and a loader with artifacts in a
// real S3-compatible server.
func TestRegistryOverS3(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	store, err := artifact.NewS3(ctx, srv.Config("smartmaint/models"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Options{})
	f.reg = New(f.db, store, Options{Logger: slog.New(slog.DiscardHandler)})
	v1 := f.create(t, "pump-iforest", "a", 0)
	v2 := f.create(t, "pump-iforest", "b", 1)
	if !strings.HasPrefix(v1.Artifact.URI, "s3://"+srv.Bucket+"/smartmaint/models/acme/pump-iforest/") {
		t.Errorf("artifact URI = %s", v1.Artifact.URI)
	}
	f.promote(t, "pump-iforest", Champion, 1)
	l := NewLoader(f.reg, decodeToy, LoaderOptions{})
	if err := l.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servedTag(l, f.tenant, "pump-iforest"); got != "a" {
		t.Fatalf("serving %q from S3, want a", got)
	}
	overwrite(t, srv.ObjectPath("smartmaint/models/"+v2.Artifact.Key), "model:pump-iforest:c")
	_, err = f.reg.Promote(ctx, f.tenant, Promotion{Name: "pump-iforest", Alias: Champion, Version: 2, Actor: "t", Reason: "r"})
	if !errors.Is(err, ErrNotEligible) || !errors.Is(err, artifact.ErrChecksum) {
		t.Fatalf("promoting a version corrupted in S3: %v, want ErrNotEligible", err)
	}
}

// metricValue reads a counter or gauge.
func metricValue(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if c := out.GetCounter(); c != nil {
		return c.GetValue()
	}
	return out.GetGauge().GetValue()
}

func overwrite(t *testing.T, file, content string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
