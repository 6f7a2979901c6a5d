package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// rollup returns the hourly rollup row of key at bucket.
func rollup(t *testing.T, db *store.DB, key int64, bucket time.Time) (n int64, sum, lo, hi float64) {
	t.Helper()
	err := db.Pool.QueryRow(context.Background(), `SELECT n, sum, min, max FROM readings_hourly WHERE sensor_key = $1 AND bucket = $2`, key, bucket).Scan(&n, &sum, &lo, &hi)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return n, sum, lo, hi
}

// sizes are a pipelined batch and a COPY batch.
var sizes = []int{3, store.CopyThreshold}

// bySize runs test as a subtest for each of sizes, each with a fresh
// database holding the temp sensor of acme's pump-1 (key) and base, the
// start of the previous hour.
func bySize(t *testing.T, test func(t *testing.T, db *store.DB, key int64, base time.Time, size int)) {
	for _, size := range sizes {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			db, _ := testenv.DB(t)
			key := seed(t, db, "acme", "pump-1", "temp")["temp"].Key
			test(t, db, key, time.Now().UTC().Truncate(time.Hour).Add(-time.Hour), size)
		})
	}
}

// fill returns n readings of key an hour ago, one a millisecond, value i.
func fill(key int64, base time.Time, n int) []store.Reading {
	rows := make([]store.Reading, n)
	for i := range rows {
		rows[i] = store.Reading{TenantID: "acme", SensorKey: key, TS: base.Add(time.Duration(i) * time.Millisecond), Value: float64(i)}
	}
	return rows
}

func TestWriteChunksDuplicates(t *testing.T) {
	bySize(t, func(t *testing.T, db *store.DB, key int64, base time.Time, size int) {
		ctx := context.Background()
		rows := fill(key, base, size)
		// The same readings twice in one write (two chunks, the way
		// the batcher groups requests) ...
		got, err := db.WriteChunks(ctx, nil, rows, rows)
		if err != nil {
			t.Fatal(err)
		}
		if want := []store.Written{{Stored: size}, {Duplicates: size}}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("first write: %v, want %v", got, want)
		}
		// ... and again in a second write, with one new reading.
		more := append(rows[:size:size], store.Reading{TenantID: "acme", SensorKey: key, TS: base.Add(time.Minute), Value: 1000})
		got, err = db.WriteChunks(ctx, nil, more)
		if err != nil {
			t.Fatal(err)
		}
		if want := []store.Written{{Stored: 1, Duplicates: size}}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("second write: %v, want %v", got, want)
		}
		if n, _ := db.CountReadings(ctx, "acme"); n != int64(size+1) {
			t.Errorf("%d readings stored, want %d", n, size+1)
		}
		n, sum, lo, hi := rollup(t, db, key, base)
		wantSum, wantMax := float64(size*(size-1)/2)+1000, max(float64(size-1), 1000)
		if n != int64(size+1) || sum != wantSum || lo != 0 || hi != wantMax {
			t.Errorf("rollup n=%d sum=%g min=%g max=%g, want n=%d sum=%g min=0 max=%g", n, sum, lo, hi, size+1, wantSum, wantMax)
		}
	})
}

func TestWriteChunksConflict(t *testing.T) {
	bySize(t, func(t *testing.T, db *store.DB, key int64, base time.Time, size int) {
		ctx := context.Background()
		stored := fill(key, base, 2)
		writeReadings(t, db, stored)

		// Chunk 0 is new; chunk 1 repeats reading 1 with another value
		// at row 1 (and reading 0 exactly at row 0); chunk 2 disagrees
		// with chunk 0 within the same write.
		fresh := fill(key, base.Add(time.Second), size)
		clash := []store.Reading{stored[0], stored[1], fresh[0]}
		clash[1].Value = 41.5
		inner := []store.Reading{fresh[size-1]}
		inner[0].Value = -7
		_, err := db.WriteChunks(ctx, nil, fresh, clash, inner)
		var ce *store.ConflictError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v, want a *store.ConflictError", err)
		}
		want := map[int][]store.Conflict{
			1: {{Row: 1, Value: 41.5, Stored: 1}},
			2: {{Row: 0, Value: -7, Stored: float64(size - 1)}},
		}
		if fmt.Sprint(ce.Chunks) != fmt.Sprint(want) {
			t.Errorf("conflicts %v, want %v", ce.Chunks, want)
		}
		if n, _ := db.CountReadings(ctx, "acme"); n != 2 {
			t.Errorf("%d readings after the refused write, want the 2 stored before", n)
		}
		if n, _, _, _ := rollup(t, db, key, base); n != 2 {
			t.Errorf("rollup n=%d after the refused write, want 2", n)
		}
		// Without the conflicting chunks the write goes through.
		if _, err := db.WriteChunks(ctx, nil, fresh); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.CountReadings(ctx, "acme"); n != int64(2+size) {
			t.Errorf("%d readings, want %d", n, 2+size)
		}
	})
}

// TestWriteChunksConcurrentDuplicates writes the same readings from many
// goroutines at once: each is stored once, nothing deadlocks or fails, and
// the rollup counts them once.
func TestWriteChunksConcurrentDuplicates(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	key := seed(t, db, "acme", "pump-1", "temp")["temp"].Key
	base := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	rows := fill(key, base, store.CopyThreshold)
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored := 0
	for g := range 8 {
		wg.Go(func() {
			part := rows[:100]
			if g%2 == 0 {
				part = rows // half of them by COPY
			}
			got, err := db.WriteChunks(ctx, nil, part)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			stored += got[0].Stored
			mu.Unlock()
		})
	}
	wg.Wait()
	if n, _ := db.CountReadings(ctx, "acme"); n != int64(len(rows)) || stored != len(rows) {
		t.Errorf("%d readings stored, %d reported stored, want %d", n, stored, len(rows))
	}
	if n, _, _, _ := rollup(t, db, key, base); n != int64(len(rows)) {
		t.Errorf("rollup n=%d, want %d", n, len(rows))
	}
}
