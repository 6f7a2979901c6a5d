package workers

import (
	"time"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Storage registers storage maintenance.
func Storage(a *activities.Storage) Registration {
	return registering([]any{workflows.StorageMaintenance}, a)
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
