package workers

import (
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/workflows"
)

// Models registers the drift check, retraining, training and model watch
// workflows and the model activities. The notification activity they use is registered by
// Incidents.
func Models(a *activities.Models) Registration {
	return func(r worker.Registry) {
		r.RegisterWorkflow(workflows.DriftCheck)
		r.RegisterWorkflow(workflows.Retrain)
		r.RegisterWorkflow(workflows.ModelWatch)
		r.RegisterWorkflow(workflows.TrainModel)
		r.RegisterActivity(a)
	}
}

// DriftSchedule runs the drift check of every monitored model every
// interval.
func DriftSchedule(every time.Duration) Schedule {
	return Schedule{
		ID:         workflows.DriftCheckScheduleID,
		Every:      every,
		Workflow:   workflows.DriftCheck,
		Args:       []any{workflows.DriftCheckInput{}},
		WorkflowID: "drift-check",
	}
}
