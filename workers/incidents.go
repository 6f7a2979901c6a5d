package workers

import (
	"go.temporal.io/sdk/worker"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Incidents registers the incident workflow and its activities.
func Incidents(inc *activities.Incidents, maint *activities.Maintenance, notif *activities.Notifications) Registration {
	return registering([]any{workflows.Incident}, inc, maint, notif)
}

// registering is the Registration of the workflow functions wfs and then
// of the activity structs acts, in order.
func registering(wfs []any, acts ...any) Registration {
	return func(r worker.Registry) {
		for _, w := range wfs {
			r.RegisterWorkflow(w)
		}
		for _, a := range acts {
			r.RegisterActivity(a)
		}
	}
}
