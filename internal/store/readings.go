package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reading is one stored measurement.
type Reading struct {
	TenantID  string
	SensorKey int64
	TS        time.Time
	Value     float64
}

var readingColumns = []string{"tenant_id", "sensor_key", "ts", "value"}

// CopyReadings writes the readings of every chunk with one COPY in tx.
func CopyReadings(ctx context.Context, tx pgx.Tx, chunks ...[]Reading) (int64, error) {
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"readings"}, readingColumns, &readingSource{chunks: chunks})
	if err != nil {
		return n, fmt.Errorf("store: copy readings: %w", err)
	}
	return n, nil
}

// readingSource streams several slices to COPY without concatenating them.
type readingSource struct {
	chunks [][]Reading
	chunk  int
	i      int
	row    [4]any
}

func (s *readingSource) Next() bool {
	for s.chunk < len(s.chunks) {
		if s.i < len(s.chunks[s.chunk]) {
			s.i++
			return true
		}
		s.chunk++
		s.i = 0
	}
	return false
}

func (s *readingSource) Values() ([]any, error) {
	r := &s.chunks[s.chunk][s.i-1]
	s.row = [4]any{r.TenantID, r.SensorKey, r.TS, r.Value}
	return s.row[:], nil
}

func (s *readingSource) Err() error { return nil }

// hourly accumulates one rollup row.
type hourly struct {
	tenant   string
	key      int64
	bucket   time.Time
	n        int64
	sum, sq  float64
	min, max float64
}

// QueueRollup queues on b the statement that adds the readings of every
// chunk to readings_hourly. Rows are locked in (sensor_key, bucket) order so
// concurrent batches cannot deadlock.
func QueueRollup(b *pgx.Batch, chunks ...[]Reading) {
	type k struct {
		key    int64
		bucket int64
	}
	acc := map[k]*hourly{}
	for _, c := range chunks {
		for i := range c {
			r := &c[i]
			bk := r.TS.Truncate(time.Hour)
			id := k{r.SensorKey, bk.Unix()}
			h := acc[id]
			if h == nil {
				h = &hourly{tenant: r.TenantID, key: r.SensorKey, bucket: bk, min: math.Inf(1), max: math.Inf(-1)}
				acc[id] = h
			}
			h.n++
			h.sum += r.Value
			h.sq += r.Value * r.Value
			h.min = min(h.min, r.Value)
			h.max = max(h.max, r.Value)
		}
	}
	if len(acc) == 0 {
		return
	}
	rows := make([]*hourly, 0, len(acc))
	for _, h := range acc {
		rows = append(rows, h)
	}
	slices.SortFunc(rows, func(a, b *hourly) int {
		return cmp.Or(cmp.Compare(a.key, b.key), a.bucket.Compare(b.bucket))
	})
	var (
		tenants = make([]string, len(rows))
		keys    = make([]int64, len(rows))
		buckets = make([]time.Time, len(rows))
		ns      = make([]int64, len(rows))
		sums    = make([]float64, len(rows))
		sqs     = make([]float64, len(rows))
		mins    = make([]float64, len(rows))
		maxs    = make([]float64, len(rows))
	)
	for i, h := range rows {
		tenants[i], keys[i], buckets[i], ns[i] = h.tenant, h.key, h.bucket, h.n
		sums[i], sqs[i], mins[i], maxs[i] = h.sum, h.sq, h.min, h.max
	}
	b.Queue(`
		INSERT INTO readings_hourly AS h (tenant_id, sensor_key, bucket, n, sum, sum_sq, min, max)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::bigint[], $5::float8[], $6::float8[], $7::float8[], $8::float8[])
		ON CONFLICT (sensor_key, bucket) DO UPDATE SET
			n = h.n + excluded.n,
			sum = h.sum + excluded.sum,
			sum_sq = h.sum_sq + excluded.sum_sq,
			min = least(h.min, excluded.min),
			max = greatest(h.max, excluded.max)`,
		tenants, keys, buckets, ns, sums, sqs, mins, maxs)
}

// QueueInsertReadings queues on b an INSERT of every chunk's readings from
// arrays: for small batches it beats COPY because it needs no round trip of
// its own.
func QueueInsertReadings(b *pgx.Batch, chunks ...[]Reading) {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	tenants := make([]string, 0, n)
	keys := make([]int64, 0, n)
	tss := make([]time.Time, 0, n)
	vals := make([]float64, 0, n)
	for _, c := range chunks {
		for i := range c {
			tenants = append(tenants, c[i].TenantID)
			keys = append(keys, c[i].SensorKey)
			tss = append(tss, c[i].TS)
			vals = append(vals, c[i].Value)
		}
	}
	b.Queue(`INSERT INTO readings (tenant_id, sensor_key, ts, value)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::float8[])`, tenants, keys, tss, vals)
}

// CopyThreshold is the batch size from which WriteReadings uses COPY.
const CopyThreshold = 2000

// WriteReadings stores every chunk's readings and their rollups atomically,
// together with the statements extra queues (may be nil). Small batches go
// out as one pipelined implicit transaction (a single round trip); large
// ones use COPY inside an explicit transaction.
func (db *DB) WriteReadings(ctx context.Context, extra func(*pgx.Batch), chunks ...[]Reading) error {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	b := &pgx.Batch{}
	if n < CopyThreshold {
		QueueInsertReadings(b, chunks...)
		QueueRollup(b, chunks...)
		if extra != nil {
			extra(b)
		}
		if err := db.Pool.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("store: write readings: %w", err)
		}
		return nil
	}
	QueueRollup(b, chunks...)
	if extra != nil {
		extra(b)
	}
	return pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		if _, err := CopyReadings(ctx, tx, chunks...); err != nil {
			return err
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("store: write readings: %w", err)
		}
		return nil
	})
}

// ReadingsQuery selects readings of one asset.
type ReadingsQuery struct {
	AssetID string
	// SensorIDs restricts the sensors; empty means all of the asset's.
	SensorIDs []string
	From, To  time.Time
	// Step aggregates into buckets of this width; zero returns raw points.
	Step time.Duration
	// Limit caps the points per sensor.
	Limit int
}

// Point is a raw reading.
type Point struct {
	TS    time.Time `json:"ts"`
	Value float64   `json:"value"`
}

// Bucket aggregates the readings of one step.
type Bucket struct {
	TS    time.Time `json:"ts"`
	Count int64     `json:"count"`
	Mean  float64   `json:"mean"`
	Min   float64   `json:"min"`
	Max   float64   `json:"max"`
}

// Series is the answer for one sensor: Points when raw, Buckets when stepped.
type Series struct {
	SensorID  string   `json:"sensor_id"`
	Unit      string   `json:"unit"`
	Points    []Point  `json:"points,omitempty"`
	Buckets   []Bucket `json:"buckets,omitempty"`
	Truncated bool     `json:"truncated"`
	// Source is "raw" or "rollup": where the numbers came from.
	Source string `json:"source"`
}

// QueryReadings answers q within tenant. Steps that are whole hours read the
// hourly rollup; shorter steps aggregate raw readings with date_bin.
func (db *DB) QueryReadings(ctx context.Context, tenant string, q ReadingsQuery) ([]Series, error) {
	var out []Series
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT key, id, unit FROM sensors
			WHERE asset_id = $1 AND ($2::text[] IS NULL OR cardinality($2::text[]) = 0 OR id = ANY($2))
			ORDER BY id`, q.AssetID, q.SensorIDs)
		if err != nil {
			return err
		}
		type sensor struct {
			key      int64
			id, unit string
		}
		sensors, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sensor, error) {
			var s sensor
			return s, r.Scan(&s.key, &s.id, &s.unit)
		})
		if err != nil {
			return err
		}
		for _, s := range sensors {
			series := Series{SensorID: s.id, Unit: s.unit}
			switch {
			case q.Step == 0:
				series.Source = "raw"
				series.Points, series.Truncated, err = rawPoints(ctx, tx, s.key, q)
			case q.Step%time.Hour == 0:
				series.Source = "rollup"
				series.Buckets, series.Truncated, err = buckets(ctx, tx, s.key, q, `
					SELECT date_bin($2::interval, bucket, timestamptz '2000-01-01') AS b,
						sum(n)::bigint, sum(sum) / sum(n), min(min), max(max)
					FROM readings_hourly
					WHERE sensor_key = $1 AND bucket >= date_bin($2::interval, $3::timestamptz, timestamptz '2000-01-01') AND bucket < $4
					GROUP BY b ORDER BY b LIMIT $5`)
			default:
				series.Source = "raw"
				series.Buckets, series.Truncated, err = buckets(ctx, tx, s.key, q, `
					SELECT date_bin($2::interval, ts, timestamptz '2000-01-01') AS b,
						count(*), avg(value), min(value), max(value)
					FROM readings
					WHERE sensor_key = $1 AND ts >= $3 AND ts < $4
					GROUP BY b ORDER BY b LIMIT $5`)
			}
			if err != nil {
				return err
			}
			out = append(out, series)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: query readings of %q: %w", q.AssetID, err)
	}
	return out, nil
}

func rawPoints(ctx context.Context, tx pgx.Tx, key int64, q ReadingsQuery) ([]Point, bool, error) {
	rows, err := tx.Query(ctx, `
		SELECT ts, value FROM readings
		WHERE sensor_key = $1 AND ts >= $2 AND ts < $3
		ORDER BY ts LIMIT $4`, key, q.From, q.To, q.Limit+1)
	if err != nil {
		return nil, false, err
	}
	pts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Point, error) {
		var p Point
		return p, r.Scan(&p.TS, &p.Value)
	})
	if err != nil {
		return nil, false, err
	}
	if len(pts) > q.Limit {
		return pts[:q.Limit], true, nil
	}
	return pts, false, nil
}

func buckets(ctx context.Context, tx pgx.Tx, key int64, q ReadingsQuery, sql string) ([]Bucket, bool, error) {
	rows, err := tx.Query(ctx, sql, key, q.Step, q.From, q.To, q.Limit+1)
	if err != nil {
		return nil, false, err
	}
	bs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Bucket, error) {
		var b Bucket
		return b, r.Scan(&b.TS, &b.Count, &b.Mean, &b.Min, &b.Max)
	})
	if err != nil {
		return nil, false, err
	}
	if len(bs) > q.Limit {
		return bs[:q.Limit], true, nil
	}
	return bs, false, nil
}

// CountReadings returns how many readings tenant has (owner role; used by
// benchmarks and tests to check that every acknowledged reading landed).
func (db *DB) CountReadings(ctx context.Context, tenant string) (int64, error) {
	var n int64
	if err := db.Pool.QueryRow(ctx, `SELECT count(*) FROM readings WHERE tenant_id = $1`, tenant).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count readings: %w", err)
	}
	return n, nil
}
