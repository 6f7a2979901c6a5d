package workers

import (
	"time"

	"github.com/smartmaint/smartmaint/workflows"
)

// Preventive registers the preventive maintenance workflow. Its activities
// are the Maintenance and Notifications ones Incidents registers.
func Preventive() Registration {
	return registering([]any{workflows.PreventiveMaintenance})
}

// PreventiveSchedule raises due preventive work orders every interval, lead
// ahead of their due date, and once at start.
func PreventiveSchedule(every, lead time.Duration) Schedule {
	return Schedule{
		ID:                 workflows.PreventiveMaintenanceScheduleID,
		Every:              every,
		Workflow:           workflows.PreventiveMaintenance,
		Args:               []any{workflows.PreventiveInput{Lead: lead}},
		WorkflowID:         "preventive-maintenance",
		TriggerImmediately: true,
	}
}
