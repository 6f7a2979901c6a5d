package faults

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// refuseConnections makes PostgreSQL refuse new connections to the stack's
// database and ends the open ones — the database is gone as far as the
// API can tell, while the shared server keeps serving other tests.
func refuseConnections(t *testing.T, dbURL string, refuse bool) {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{cfg.Database}.Sanitize(), !refuse)); err != nil {
		t.Fatal(err)
	}
	if refuse {
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, cfg.Database); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPostgresGoneDuringIngest sends single readings from eight clients
// while the database refuses connections for a few seconds: the API
// answers 503 with Retry-After (never 500), picks up again by itself, and
// every reading it acknowledged with 201 is in the table afterwards.
func TestPostgresGoneDuringIngest(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	_, api := s.startAPI()
	s.key("admin", "acme", apikey.Admin)
	s.key("sensor", "acme", apikey.ReadingsWrite)
	s.must(201, api, "admin", "POST", "/api/v1/assets", map[string]any{"id": "press-1", "type": "press"})
	s.must(201, api, "admin", "POST", "/api/v1/assets/press-1/sensors", map[string]any{"id": "temp", "unit": "C", "min_valid": -50, "max_valid": 500})

	var (
		codes    counter
		mu       sync.Mutex
		acked    []time.Time
		seq      atomic.Int64
		noRetry  atomic.Int64
		stopLoad = make(chan struct{})
		wg       sync.WaitGroup
	)
	base := time.Now().UTC().Add(-2 * time.Minute).Truncate(time.Second)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stopLoad:
					return
				default:
				}
				ts := base.Add(time.Duration(seq.Add(1)) * time.Millisecond)
				r := s.call(api, "sensor", "POST", "/api/v1/readings",
					fmt.Sprintf(`{"asset_id":"press-1","sensor_id":"temp","ts":%q,"value":%.3f}`, ts.Format(time.RFC3339Nano), 80+rand.NormFloat64()),
					nil)
				switch {
				case r.err != nil:
					codes.add("transport error")
				case r.code == 201:
					mu.Lock()
					acked = append(acked, ts)
					mu.Unlock()
				case r.code == 503 && r.header.Get("Retry-After") == "":
					noRetry.Add(1)
				}
				codes.add(strconv.Itoa(r.code))
				if r.code != 201 {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	defer func() {
		select {
		case <-stopLoad:
		default:
			close(stopLoad)
		}
		wg.Wait()
	}()
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }

	eventually(t, 20*time.Second, "readings to be acknowledged", func() bool { return ackedNow() > 200 })
	refuseConnections(t, s.dbURL, true)
	t.Cleanup(func() { refuseConnections(t, s.dbURL, false) })
	eventually(t, 30*time.Second, "503 answers while the database is gone", func() bool { return codes.get("503") > 20 })
	time.Sleep(2 * time.Second)
	during := ackedNow()
	refuseConnections(t, s.dbURL, false)
	eventually(t, 30*time.Second, "ingest to recover without a restart", func() bool { return ackedNow() > during+200 })
	close(stopLoad)
	wg.Wait()

	t.Logf("answers: %s", codes.String())
	if n := codes.get("500"); n > 0 {
		t.Errorf("%d answers were 500; a database outage must answer 503", n)
	}
	if n := noRetry.Load(); n > 0 {
		t.Errorf("%d 503 answers lack Retry-After", n)
	}
	for code, n := range codes.m {
		if code != "201" && code != "503" {
			t.Errorf("%d answers were %s", n, code)
		}
	}

	// Every acknowledged reading is stored.
	ctx := context.Background()
	rows, err := s.db.Pool.Query(ctx, `SELECT ts FROM readings WHERE tenant_id = 'acme'`)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		t.Fatal(err)
	}
	have := make(map[int64]bool, len(stored))
	for _, ts := range stored {
		have[ts.UnixMicro()] = true
	}
	lost := 0
	for _, ts := range acked {
		if !have[ts.UnixMicro()] {
			lost++
		}
	}
	t.Logf("acknowledged %d readings, %d stored", len(acked), len(stored))
	if lost > 0 {
		t.Errorf("%d of %d acknowledged readings are missing", lost, len(acked))
	}
}
