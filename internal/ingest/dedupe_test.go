package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/store"
)

// TestValidateCollapsesRepeats: within one request an exact repeat (same
// sensor, timestamp at microseconds, value) collapses into the first, and a
// different value for the same sensor and timestamp is invalid.
func TestValidateCollapsesRepeats(t *testing.T) {
	f := setup(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	v := &ingest.Validator{Catalog: f.cat, MaxSkew: 5 * time.Minute, Retention: 24 * time.Hour, Now: func() time.Time { return now }}
	at := func(d time.Duration, val float64) ingest.Input {
		return ingest.Input{AssetID: "mill-1", SensorID: "torque", TS: now.Add(-time.Minute + d).Format(time.RFC3339Nano), Value: ptr(val)}
	}
	valid, rej, err := v.Validate(context.Background(), "acme", []ingest.Input{at(0, 1), at(0, 1), at(time.Second, 2), at(300*time.Nanosecond, 1)})
	if err != nil || rej != nil {
		t.Fatalf("rejected: %+v, %v", rej, err)
	}
	if len(valid.Rows) != 2 || fmt.Sprint(valid.Index) != "[0 2]" || valid.Repeats != 2 || len(valid.Sensors) != 2 {
		t.Errorf("valid = %+v, want rows of readings 0 and 2 and 2 repeats", valid)
	}
	_, rej, err = v.Validate(context.Background(), "acme", []ingest.Input{at(0, 1), at(time.Second, 2), at(0, 1.5)})
	if err != nil {
		t.Fatal(err)
	}
	if rej == nil || rej.Invalid != 1 || rej.Errors[0].Index != 2 || rej.Errors[0].Field != "value" || !strings.Contains(rej.Errors[0].Message, "reading 0 has the same sensor") {
		t.Errorf("rejection = %+v, want reading 2 refused for disagreeing with reading 0", rej)
	}
}

// TestBatcherAcknowledgesDuplicates: a request re-sent is acknowledged and
// stored once; the rollup counts it once.
func TestBatcherAcknowledgesDuplicates(t *testing.T) {
	f := setup(t)
	b := ingest.NewBatcher(f.db, ingest.Options{})
	defer b.Close()
	base := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	for i, want := range []store.Written{{Stored: 4}, {Duplicates: 4}, {Stored: 1, Duplicates: 4}} {
		rs := rows(f, 4+i/2, base)
		req := &ingest.Request{Rows: rs}
		if err := b.Write(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if req.Written != want {
			t.Errorf("write %d: %+v, want %+v", i, req.Written, want)
		}
	}
	if n, _ := f.db.CountReadings(context.Background(), "acme"); n != 5 {
		t.Errorf("%d readings stored, want 5", n)
	}
	var n int64
	if err := f.db.Pool.QueryRow(context.Background(), `SELECT n FROM readings_hourly WHERE sensor_key = $1`, f.sensor.Key).Scan(&n); err != nil || n != 5 {
		t.Errorf("rollup counts %d readings (%v), want 5", n, err)
	}
}

// TestBatcherConflictSparesTheBatch: several concurrent requests share one
// transaction; the one with a different value for a stored reading gets a
// *ConflictError naming it and stores nothing, the others commit, an exact
// re-send among them included.
func TestBatcherConflictSparesTheBatch(t *testing.T) {
	f := setup(t)
	failedBefore := failedBatches(t)
	gate := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var sizes []int
	b := ingest.NewBatcher(f.db, ingest.Options{Flushers: 1, Hooks: ingest.Hooks{
		// Hold the first transaction until the others are queued, so
		// they share the next one.
		Stage: func(_ *pgx.Batch, batch []*ingest.Request) {
			once.Do(func() { <-gate })
			mu.Lock()
			sizes = append(sizes, len(batch))
			mu.Unlock()
		},
	}})
	defer b.Close()
	base := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	stored := rows(f, 3, base)
	first := make(chan error, 1)
	go func() { first <- b.Write(context.Background(), &ingest.Request{Rows: stored}) }()
	time.Sleep(50 * time.Millisecond)

	conflicting := rows(f, 3, base.Add(-time.Second)) // two new readings ...
	conflicting = append(conflicting, stored[1])      // ... and one that disagrees
	conflicting[3].Value = 99
	reqs := []*ingest.Request{
		{Rows: rows(f, 5, base.Add(time.Minute))},
		{Rows: conflicting},
		{Rows: stored}, // an exact re-send
		{Rows: rows(f, 5, base.Add(2*time.Minute))},
	}
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Go(func() { errs[i] = b.Write(context.Background(), r) })
	}
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	var ce *ingest.ConflictError
	if !errors.As(errs[1], &ce) || len(ce.Conflicts) != 1 || ce.Conflicts[0] != (store.Conflict{Row: 3, Value: 99, Stored: 1}) {
		t.Errorf("conflicting request: %v (%+v), want one conflict at row 3 with stored value 1", errs[1], ce)
	}
	for _, i := range []int{0, 2, 3} {
		if errs[i] != nil {
			t.Errorf("request %d failed with the conflicting one: %v", i, errs[i])
		}
	}
	if reqs[2].Written != (store.Written{Duplicates: 3}) || reqs[0].Written != (store.Written{Stored: 5}) {
		t.Errorf("written %+v and %+v, want 3 duplicates and 5 stored", reqs[2].Written, reqs[0].Written)
	}
	if n, _ := f.db.CountReadings(context.Background(), "acme"); n != 13 {
		t.Errorf("%d readings stored, want 3 + 5 + 5", n)
	}
	if d := failedBatches(t) - failedBefore; d != 0 {
		t.Errorf("%g batches counted as failed (which alerts); a client's conflict is not a failure", d)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) < 2 || sizes[1] != len(reqs) {
		t.Errorf("batches %v: the four requests did not share a transaction", sizes)
	}
}

// failedBatches reads smartmaint_ingest_batches_total{result="error"}.
func failedBatches(t *testing.T) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "smartmaint_ingest_batches_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == "error" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
