// Package activities holds smartmaint's Temporal activities: structs that
// carry their dependencies, one file per concern. Every activity is
// idempotent, so Temporal may retry it freely.
package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Storage maintains the readings table: partitions ahead, expired data out.
type Storage struct {
	DB *store.DB
	// Retention, RollupRetention and Lookahead mirror READINGS_RETENTION,
	// ROLLUP_RETENTION and PARTITION_LOOKAHEAD.
	Retention       time.Duration
	RollupRetention time.Duration
	Lookahead       time.Duration
}

// PartitionsInput anchors the activity to the workflow's clock.
type PartitionsInput struct {
	Now time.Time
}

// PartitionsResult lists what changed.
type PartitionsResult struct {
	Created []string
	Dropped []string
	// RollupsDeleted and DefaultDeleted count removed rows.
	RollupsDeleted int64
	DefaultDeleted int64
	// AnomaliesDeleted and ReportsDeleted count trimmed outbox rows and
	// reports.
	AnomaliesDeleted int64
	ReportsDeleted   int64
}

// EnsurePartitions creates the daily partitions from the retention horizon to
// Lookahead past in.Now. Existing partitions are left alone, so retries are
// harmless.
func (a *Storage) EnsurePartitions(ctx context.Context, in PartitionsInput) (PartitionsResult, error) {
	created, err := a.DB.EnsurePartitions(ctx, in.Now.Add(-a.Retention), in.Now.Add(a.Lookahead))
	if err != nil {
		return PartitionsResult{Created: created}, fmt.Errorf("ensure partitions: %w", err)
	}
	if len(created) > 0 {
		activity.GetLogger(ctx).Info("created readings partitions", "partitions", created)
	}
	return PartitionsResult{Created: created}, nil
}

// DropExpired drops readings partitions past Retention, rollups and reports
// past RollupRetention, and dispatched anomaly outbox rows past Retention.
// Dropping what is already gone is a no-op.
func (a *Storage) DropExpired(ctx context.Context, in PartitionsInput) (PartitionsResult, error) {
	var res PartitionsResult
	var err error
	cutoff := in.Now.Add(-a.Retention)
	if res.Dropped, err = a.DB.DropPartitionsBefore(ctx, cutoff); err != nil {
		return res, fmt.Errorf("drop partitions: %w", err)
	}
	if res.DefaultDeleted, err = a.DB.DeleteDefaultBefore(ctx, cutoff); err != nil {
		return res, fmt.Errorf("trim default partition: %w", err)
	}
	if res.RollupsDeleted, err = a.DB.DeleteRollupsBefore(ctx, in.Now.Add(-a.RollupRetention)); err != nil {
		return res, fmt.Errorf("delete rollups: %w", err)
	}
	if res.AnomaliesDeleted, err = a.DB.DeleteDispatchedAnomaliesBefore(ctx, cutoff); err != nil {
		return res, fmt.Errorf("trim anomaly outbox: %w", err)
	}
	if res.ReportsDeleted, err = a.DB.DeleteReportsBefore(ctx, in.Now.Add(-a.RollupRetention)); err != nil {
		return res, fmt.Errorf("delete reports: %w", err)
	}
	if len(res.Dropped) > 0 {
		activity.GetLogger(ctx).Info("dropped expired readings partitions", "partitions", res.Dropped)
	}
	return res, nil
}
