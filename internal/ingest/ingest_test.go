package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func ptr(f float64) *float64 { return &f }

type fixture struct {
	db     *store.DB
	url    string
	sensor store.Sensor
	cat    *ingest.Catalog
}

func setup(t testing.TB) fixture {
	t.Helper()
	db, url := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: "mill-1", Type: "mill"}); err != nil {
		t.Fatal(err)
	}
	s, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "mill-1", ID: "torque", Unit: "Nm", MinValid: ptr(0), MaxValid: ptr(200)})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{db: db, url: url, sensor: s, cat: ingest.NewCatalog(db, slog.New(slog.DiscardHandler))}
}

func TestValidate(t *testing.T) {
	f := setup(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	v := &ingest.Validator{Catalog: f.cat, MaxSkew: 5 * time.Minute, Retention: 24 * time.Hour, Now: func() time.Time { return now }}
	ts := now.Format(time.RFC3339)
	good := ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: now.Add(-time.Second).Format(time.RFC3339), Value: ptr(40)}
	tests := []struct {
		name  string
		in    ingest.Input
		field string
		msg   string
	}{
		{"ok", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: ts, Value: ptr(40)}, "", ""},
		{"ok with unit", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: ts, Value: ptr(40), Unit: "Nm"}, "", ""},
		{"ok at the valid bounds", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: ts, Value: ptr(200)}, "", ""},
		{"missing asset", ingest.Input{SensorID: "torque", TS: ts, Value: ptr(1)}, "asset_id", "required"},
		{"missing sensor", ingest.Input{AssetID: "mill-1", TS: ts, Value: ptr(1)}, "sensor_id", "required"},
		{"missing ts", ingest.Input{AssetID: "mill-1", SensorID: "torque", Value: ptr(1)}, "ts", "required"},
		{"bad ts", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: "yesterday", Value: ptr(1)}, "ts", "not an RFC 3339"},
		{"future ts", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: now.Add(6 * time.Minute).Format(time.RFC3339), Value: ptr(1)}, "ts", "in the future"},
		{"expired ts", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: now.Add(-25 * time.Hour).Format(time.RFC3339), Value: ptr(1)}, "ts", "older than the retention"},
		{"missing value", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: ts}, "value", "required"},
		{"unknown sensor", ingest.Input{AssetID: "mill-1", SensorID: "speed", TS: ts, Value: ptr(1)}, "sensor_id", "unknown sensor"},
		{"unknown asset", ingest.Input{AssetID: "mill-9", SensorID: "torque", TS: ts, Value: ptr(1)}, "sensor_id", "unknown sensor"},
		{"wrong unit", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: ts, Value: ptr(1), Unit: "lbf.ft"}, "unit", "reports in \"Nm\""},
		{"below range", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: ts, Value: ptr(-1)}, "value", "outside the valid range [0, 200]"},
		{"above range", ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: ts, Value: ptr(200.5)}, "value", "outside the valid range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			valid, rej, err := v.Validate(context.Background(), "acme", []ingest.Input{good, tt.in})
			if err != nil {
				t.Fatal(err)
			}
			if tt.field == "" {
				if rej != nil {
					t.Fatalf("rejected: %+v", rej.Errors)
				}
				if len(valid.Rows) != 2 || valid.Rows[1].SensorKey != f.sensor.Key || valid.Sensors[1].ID != "torque" {
					t.Fatalf("valid = %+v", valid)
				}
				return
			}
			if rej == nil {
				t.Fatal("accepted an invalid reading")
			}
			if rej.Invalid != 1 || rej.Total != 2 || len(valid.Rows) != 0 {
				t.Errorf("rejection %+v, rows %d", rej, len(valid.Rows))
			}
			e := rej.Errors[0]
			if e.Index != 1 || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("error = %+v, want index 1 field %q message containing %q", e, tt.field, tt.msg)
			}
		})
	}
}

func TestValidateCapsErrors(t *testing.T) {
	f := setup(t)
	v := &ingest.Validator{Catalog: f.cat, MaxSkew: time.Minute, Retention: time.Hour, MaxErrors: 3}
	in := make([]ingest.Input, 10)
	_, rej, err := v.Validate(context.Background(), "acme", in)
	if err != nil {
		t.Fatal(err)
	}
	if rej.Invalid != 10 || len(rej.Errors) != 3 {
		t.Errorf("invalid %d, errors %d; want 10, 3", rej.Invalid, len(rej.Errors))
	}
}

func TestCatalogSeesNewSensors(t *testing.T) {
	f := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.cat.Listen(ctx)
	if s, err := f.cat.Lookup(ctx, "acme", "mill-1", "torque"); err != nil || s == nil {
		t.Fatalf("lookup = %v, %v", s, err)
	}
	// A limit change made elsewhere reaches the cache through NOTIFY.
	s := f.sensor
	s.MaxValid = ptr(150)
	if _, err := f.db.UpdateSensor(ctx, "acme", s); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := f.cat.Lookup(ctx, "acme", "mill-1", "torque")
		if err != nil {
			t.Fatal(err)
		}
		if got.MaxValid != nil && *got.MaxValid == 150 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cache still holds the old limit after 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A sensor created a moment ago is found on a miss.
	if _, err := f.db.CreateSensor(ctx, "acme", store.Sensor{AssetID: "mill-1", ID: "speed", Unit: "rpm"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // past the per-tenant reload floor, in case NOTIFY lost the race
	if got, err := f.cat.Lookup(ctx, "acme", "mill-1", "speed"); err != nil || got == nil {
		t.Fatalf("new sensor lookup = %v, %v", got, err)
	}
}

func rows(f fixture, n int, base time.Time) []store.Reading {
	out := make([]store.Reading, n)
	for i := range out {
		out[i] = store.Reading{TenantID: "acme", SensorKey: f.sensor.Key, TS: base.Add(time.Duration(i) * time.Millisecond), Value: float64(i)}
	}
	return out
}

func TestBatcherGroupsConcurrentRequests(t *testing.T) {
	f := setup(t)
	var mu sync.Mutex
	var batches []int
	b := ingest.NewBatcher(f.db, ingest.Options{Flushers: 1, Hooks: ingest.Hooks{
		Stage: func(_ *pgx.Batch, batch []*ingest.Request) {
			mu.Lock()
			batches = append(batches, len(batch))
			mu.Unlock()
			time.Sleep(20 * time.Millisecond) // hold the flusher so requests pile up
		},
	}})
	defer b.Close()
	const requests = 50
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	base := time.Now().UTC()
	for i := range requests {
		wg.Go(func() {
			errs <- b.Write(context.Background(), &ingest.Request{Rows: rows(f, 10, base.Add(time.Duration(i)*time.Second))})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := f.db.CountReadings(context.Background(), "acme"); n != requests*10 {
		t.Fatalf("stored %d readings, want %d", n, requests*10)
	}
	total := 0
	for _, n := range batches {
		total += n
	}
	if total != requests || len(batches) >= requests/2 {
		t.Errorf("%d requests went into %d transactions (%v); want far fewer transactions than requests", total, len(batches), batches)
	}
}

func TestBatcherIsolatesABadRequest(t *testing.T) {
	f := setup(t)
	gate := make(chan struct{})
	var once sync.Once
	b := ingest.NewBatcher(f.db, ingest.Options{Flushers: 1, Hooks: ingest.Hooks{
		// Hold the first transaction until the good and bad requests are
		// queued, so they share the next one.
		Stage: func(*pgx.Batch, []*ingest.Request) {
			once.Do(func() { <-gate })
		},
	}})
	defer b.Close()
	base := time.Now().UTC()
	first := make(chan error, 1)
	go func() { first <- b.Write(context.Background(), &ingest.Request{Rows: rows(f, 1, base)}) }()
	time.Sleep(20 * time.Millisecond)

	// PostgreSQL rejects a NUL byte in text: a data exception (class 22).
	bad := rows(f, 1, base)
	bad[0].TenantID = "acme\x00"
	var wg sync.WaitGroup
	var goodErr, badErr error
	wg.Go(func() {
		goodErr = b.Write(context.Background(), &ingest.Request{Rows: rows(f, 5, base.Add(time.Hour))})
	})
	wg.Go(func() { badErr = b.Write(context.Background(), &ingest.Request{Rows: bad}) })
	time.Sleep(20 * time.Millisecond)
	close(gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if goodErr != nil {
		t.Errorf("good request failed with the bad one: %v", goodErr)
	}
	if !errors.Is(badErr, ingest.ErrUnavailable) {
		t.Errorf("bad request: err = %v, want an error", badErr)
	}
	if n, _ := f.db.CountReadings(context.Background(), "acme"); n != 6 {
		t.Errorf("stored %d readings, want 6", n)
	}
}

func TestBatcherReportsUnavailable(t *testing.T) {
	f := setup(t)
	b := ingest.NewBatcher(f.db, ingest.Options{Flushers: 1, CommitTimeout: 2 * time.Second})
	// Take PostgreSQL away from this pool: terminate its connections and
	// forbid new ones to this database.
	admin, err := pgx.Connect(context.Background(), testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	cfg, _ := pgx.ParseConfig(f.url)
	if _, err := admin.Exec(context.Background(), fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS false`, cfg.Database)); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, cfg.Database); err != nil {
		t.Fatal(err)
	}
	err = b.Write(context.Background(), &ingest.Request{Rows: rows(f, 3, time.Now().UTC())})
	if !errors.Is(err, ingest.ErrUnavailable) {
		t.Fatalf("write with the database gone: err = %v, want ErrUnavailable", err)
	}
	// Back up: the same batcher recovers without a restart.
	if _, err := admin.Exec(context.Background(), fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS true`, cfg.Database)); err != nil {
		t.Fatal(err)
	}
	if err := b.Write(context.Background(), &ingest.Request{Rows: rows(f, 3, time.Now().UTC())}); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	b.Close()
	if n, _ := f.db.CountReadings(context.Background(), "acme"); n != 3 {
		t.Errorf("stored %d, want exactly the 3 acknowledged readings", n)
	}
	if err := b.Write(context.Background(), &ingest.Request{Rows: rows(f, 1, time.Now().UTC())}); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("write after Close: err = %v, want ErrClosed", err)
	}
}

// TestBatcherSerialisesSmallCommits checks that small batches commit one at
// a time whatever the number of flushers, while batches of COPY size commit
// side by side.
func TestBatcherSerialisesSmallCommits(t *testing.T) {
	tests := []struct {
		name         string
		rowsPerReq   int
		wantParallel bool
	}{
		{"single readings take turns", 1, false},
		{"small batches take turns", store.CopyThreshold / 20, false}, // 16 of them stay below the threshold together
		{"COPY-sized batches overlap", store.CopyThreshold, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := setup(t)
			var inflight, peak atomic.Int32
			b := ingest.NewBatcher(f.db, ingest.Options{Flushers: 4, MaxBatchRows: store.CopyThreshold, Hooks: ingest.Hooks{
				Stage: func(*pgx.Batch, []*ingest.Request) {
					n := inflight.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					time.Sleep(30 * time.Millisecond) // a slow commit, so others have to wait or overlap
				},
				Committed: func([]*ingest.Request) { inflight.Add(-1) },
			}})
			defer b.Close()
			const requests = 16
			var wg sync.WaitGroup
			base := time.Now().UTC()
			for i := range requests {
				wg.Go(func() {
					if err := b.Write(context.Background(), &ingest.Request{Rows: rows(f, tt.rowsPerReq, base.Add(time.Duration(i)*time.Minute))}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n, _ := f.db.CountReadings(context.Background(), "acme"); n != int64(requests*tt.rowsPerReq) {
				t.Fatalf("stored %d readings, want %d", n, requests*tt.rowsPerReq)
			}
			if got := peak.Load() > 1; got != tt.wantParallel {
				t.Errorf("at most %d commits were in flight at once; want parallel commits %v", peak.Load(), tt.wantParallel)
			}
		})
	}
}

// BenchmarkBatcher writes one-reading requests from 64 goroutines through
// two flushers, with small commits taking turns (the default) and with
// every commit in parallel, and reports readings and commits per second.
func BenchmarkBatcher(b *testing.B) {
	for _, bc := range []struct {
		name   string
		serial int
	}{{"serial-small-commits", 0}, {"parallel-commits", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			f := setup(b)
			var commits atomic.Int64
			bt := ingest.NewBatcher(f.db, ingest.Options{Flushers: 2, SerialBelowRows: bc.serial, Hooks: ingest.Hooks{
				Committed: func([]*ingest.Request) { commits.Add(1) },
			}})
			defer bt.Close()
			base := time.Now().UTC()
			var n atomic.Int64
			b.SetParallelism(32) // 64 writers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					r := []store.Reading{{TenantID: "acme", SensorKey: f.sensor.Key, TS: base.Add(-time.Duration(i) * time.Microsecond), Value: float64(i % 100)}}
					if err := bt.Write(context.Background(), &ingest.Request{Rows: r}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			s := b.Elapsed().Seconds()
			b.ReportMetric(float64(b.N)/s, "readings/s")
			b.ReportMetric(float64(commits.Load())/s, "commits/s")
		})
	}
}
