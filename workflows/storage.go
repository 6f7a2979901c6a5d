// Package workflows holds smartmaint's Temporal workflows, one business
// process per file. Workflows are deterministic: they take time from
// workflow.Now, start goroutines with workflow.Go and mark changes with
// workflow.GetVersion.
package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
)

// StorageMaintenanceScheduleID is the Temporal Schedule that runs
// StorageMaintenance.
const StorageMaintenanceScheduleID = "storage-maintenance"

// StorageMaintenance keeps the readings table healthy: daily partitions are
// created ahead of time, partitions and rollups past their retention are
// dropped. It runs on a Temporal Schedule and at start-up.
func StorageMaintenance(ctx workflow.Context) (activities.PartitionsResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 5 * time.Minute,
		RetryPolicy:         retryAttempts(10),
	})
	var a *activities.Storage
	in := activities.PartitionsInput{Now: workflow.Now(ctx)}

	var created, dropped activities.PartitionsResult
	if err := workflow.ExecuteActivity(ctx, a.EnsurePartitions, in).Get(ctx, &created); err != nil {
		return created, fmt.Errorf("ensure partitions: %w", err)
	}
	if err := workflow.ExecuteActivity(ctx, a.DropExpired, in).Get(ctx, &dropped); err != nil {
		return created, fmt.Errorf("drop expired: %w", err)
	}
	dropped.Created = created.Created
	return dropped, nil
}
