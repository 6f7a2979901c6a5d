package workers

import (
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Storage registers storage maintenance.
func Storage(a *activities.Storage) Registration {
	return func(r worker.Registry) {
		r.RegisterWorkflow(workflows.StorageMaintenance)
		r.RegisterActivity(a)
	}
}

// StorageSchedule runs storage maintenance every interval, and once at once.
func StorageSchedule(every time.Duration) Schedule {
	return Schedule{
		ID:                 workflows.StorageMaintenanceScheduleID,
		Every:              every,
		Workflow:           workflows.StorageMaintenance,
		WorkflowID:         "storage-maintenance",
		TriggerImmediately: true,
	}
}
