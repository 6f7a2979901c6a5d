package workers

import (
	"time"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Reports registers the report workflows and their activities. The
// notification activity they use is registered by Incidents.
func Reports(a *activities.Reports) Registration {
	return registering([]any{workflows.Report, workflows.ScheduledReports}, a)
}

// ReportSchedules makes every tenant's report of the last interval every
// interval; none when interval is zero (scheduled reports off).
func ReportSchedules(interval time.Duration) []Schedule {
	if interval <= 0 {
		return nil
	}
	return []Schedule{{
		ID:         workflows.ReportScheduleID,
		Every:      interval,
		Workflow:   workflows.ScheduledReports,
		Args:       []any{workflows.ScheduledReportsInput{Interval: interval}},
		WorkflowID: "reports",
	}}
}
