package workers

import (
	"go.temporal.io/sdk/worker"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Incidents registers the incident workflow and its activities.
func Incidents(inc *activities.Incidents, maint *activities.Maintenance, notif *activities.Notifications) Registration {
	return func(r worker.Registry) {
		r.RegisterWorkflow(workflows.Incident)
		r.RegisterActivity(inc)
		r.RegisterActivity(maint)
		r.RegisterActivity(notif)
	}
}
