package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func benchRows(b *testing.B, n int) (*store.DB, []store.Reading) {
	db, _ := testenv.DB(b)
	testenv.Tenant(b, db, "bench")
	ctx := context.Background()
	if _, err := db.CreateAsset(ctx, "bench", store.Asset{ID: "a", Type: "t"}); err != nil {
		b.Fatal(err)
	}
	var keys []int64
	for i := range 10 {
		s, err := db.CreateSensor(ctx, "bench", store.Sensor{AssetID: "a", ID: fmt.Sprintf("s%d", i), Unit: "u"})
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, s.Key)
	}
	now := time.Now().UTC()
	rows := make([]store.Reading, n)
	for i := range rows {
		rows[i] = store.Reading{TenantID: "bench", SensorKey: keys[i%len(keys)], TS: now.Add(-time.Duration(i) * time.Millisecond), Value: float64(i)}
	}
	return db, rows
}

// shift moves rows past the timestamps of the previous iteration: readings
// are unique per sensor and timestamp, and a benchmark writing the same rows
// again would measure duplicates (or, for raw COPY, fail).
func shift(rows []store.Reading) {
	d := time.Duration(len(rows)+1) * time.Millisecond
	for i := range rows {
		rows[i].TS = rows[i].TS.Add(-d)
	}
}

// BenchmarkRawCopy is the ceiling: pgx COPY of 10,000 rows a transaction
// into readings, nothing else.
func BenchmarkRawCopy(b *testing.B) {
	db, rows := benchRows(b, 10_000)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		shift(rows)
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			_, err := store.CopyReadings(ctx, tx, rows)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteReadings is what the ingest batcher does per batch: readings
// plus the hourly rollup in one transaction, for small (pipelined INSERT)
// and large (COPY) batches; every iteration writes new readings.
func BenchmarkWriteReadings(b *testing.B) {
	for _, n := range []int{20, 500, 10_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db, rows := benchRows(b, n)
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				shift(rows)
				if err := db.WriteReadings(ctx, nil, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// BenchmarkWriteReadingsResent is a batch re-sent whole (every reading a
// duplicate): the fast path fails on the unique index and the write is done
// again with ON CONFLICT DO NOTHING.
func BenchmarkWriteReadingsResent(b *testing.B) {
	for _, n := range []int{500, 10_000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			db, rows := benchRows(b, n)
			ctx := context.Background()
			if err := db.WriteReadings(ctx, nil, rows); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if err := db.WriteReadings(ctx, nil, rows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
