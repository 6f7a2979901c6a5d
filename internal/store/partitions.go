package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

const partitionPrefix = "readings_p"

// PartitionName is the daily partition of readings that holds day (UTC).
func PartitionName(day time.Time) string {
	return partitionPrefix + day.UTC().Format("20060102")
}

// EnsurePartitions makes sure a daily partition exists for every day that
// overlaps [from, to). Readings of such a day that landed in readings_default
// meanwhile are moved into the new partition. It returns the partitions it
// created. On TimescaleDB it does nothing: chunks are created on demand.
func (db *DB) EnsurePartitions(ctx context.Context, from, to time.Time) ([]string, error) {
	if db.Timescale {
		return nil, nil
	}
	existing, err := db.partitions(ctx)
	if err != nil {
		return nil, err
	}
	var created []string
	for day := from.UTC().Truncate(24 * time.Hour); day.Before(to); day = day.Add(24 * time.Hour) {
		name := PartitionName(day)
		if _, ok := existing[name]; ok {
			continue
		}
		if err := db.createPartition(ctx, name, day, day.Add(24*time.Hour)); err != nil {
			return created, err
		}
		created = append(created, name)
	}
	return created, nil
}

// createPartition builds the table on its own, moves any matching rows out of
// the default partition and attaches it. ATTACH takes a weaker lock on
// readings than CREATE ... PARTITION OF, so ingest keeps flowing.
func (db *DB) createPartition(ctx context.Context, name string, from, to time.Time) error {
	ident := pgx.Identifier{name}.Sanitize()
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		// Serialise with other replicas doing the same, then re-check.
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT pg_advisory_xact_lock(hashtext('smartmaint.partitions')), to_regclass($1) IS NOT NULL`, name).Scan(nil, &exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE `+ident+` (LIKE readings INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`); err != nil {
			return err
		}
		// The CHECK lets ATTACH skip scanning the new table.
		bounds := fmt.Sprintf(`ts >= '%s' AND ts < '%s'`, from.Format(time.RFC3339), to.Format(time.RFC3339))
		if _, err := tx.Exec(ctx, `ALTER TABLE `+ident+` ADD CONSTRAINT `+pgx.Identifier{name + "_bounds"}.Sanitize()+` CHECK (`+bounds+`)`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `
			WITH moved AS (DELETE FROM readings_default WHERE ts >= $1 AND ts < $2 RETURNING *)
			INSERT INTO `+ident+` SELECT * FROM moved`, from, to); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`ALTER TABLE readings ATTACH PARTITION %s FOR VALUES FROM ('%s') TO ('%s')`,
			ident, from.Format(time.RFC3339), to.Format(time.RFC3339)))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: create partition %s: %w", name, err)
	}
	return nil
}

// DropPartitionsBefore drops the daily partitions that end at or before
// cutoff and returns their names. On TimescaleDB it drops chunks instead.
func (db *DB) DropPartitionsBefore(ctx context.Context, cutoff time.Time) ([]string, error) {
	if db.Timescale {
		rows, err := db.Pool.Query(ctx, `SELECT drop_chunks('readings', older_than => $1::timestamptz)::text`, cutoff)
		if err != nil {
			return nil, fmt.Errorf("store: drop chunks: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return nil, fmt.Errorf("store: drop chunks: %w", err)
		}
		return names, nil
	}
	existing, err := db.partitions(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(existing))
	for name := range existing {
		names = append(names, name)
	}
	slices.Sort(names) // oldest first: a failure leaves no gap behind
	var dropped []string
	for _, name := range names {
		day := existing[name]
		if day.Add(24 * time.Hour).After(cutoff) {
			continue
		}
		ident := pgx.Identifier{name}.Sanitize()
		err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `ALTER TABLE readings DETACH PARTITION `+ident); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DROP TABLE `+ident)
			return err
		})
		if err != nil {
			return dropped, fmt.Errorf("store: drop partition %s: %w", name, err)
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// DeleteRollupsBefore removes hourly rollups older than cutoff.
func (db *DB) DeleteRollupsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `DELETE FROM readings_hourly WHERE bucket < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("store: delete rollups: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DeleteReportsBefore removes reports (and, by cascade, their charts)
// created before cutoff.
func (db *DB) DeleteReportsBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := db.Pool.Exec(ctx, `DELETE FROM reports WHERE created_at < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("store: delete reports: %w", err)
	}
	return tag.RowsAffected(), nil
}

// DeleteDefaultBefore removes readings older than cutoff that sit in the
// default partition (they missed every daily partition).
func (db *DB) DeleteDefaultBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	if db.Timescale {
		return 0, nil
	}
	tag, err := db.Pool.Exec(ctx, `DELETE FROM readings_default WHERE ts < $1`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("store: trim default partition: %w", err)
	}
	return tag.RowsAffected(), nil
}

// partitions maps the daily partitions of readings to their day.
func (db *DB) partitions(ctx context.Context) (map[string]time.Time, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'readings'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("store: list partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: list partitions: %w", err)
	}
	out := make(map[string]time.Time, len(names))
	for _, n := range names {
		day, ok := strings.CutPrefix(n, partitionPrefix)
		if !ok {
			continue
		}
		t, err := time.Parse("20060102", day)
		if err != nil {
			continue
		}
		out[n] = t
	}
	return out, nil
}
