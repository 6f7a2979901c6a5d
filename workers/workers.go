// Package workers runs smartmaint's Temporal worker: which workflows and
// activities it registers, on which task queue, and which Temporal Schedules
// it keeps in place.
package workers

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
)

// Registration adds one feature's workflows and activities to a worker.
type Registration func(r worker.Registry)

// Schedule is a Temporal Schedule the worker creates, or updates to match,
// when it starts.
type Schedule struct {
	ID       string
	Every    time.Duration
	Workflow any
	Args     []any
	// WorkflowID is the id of each run (Temporal appends the start time).
	WorkflowID string
	// TriggerImmediately also starts one run right away.
	TriggerImmediately bool
}

// New returns a worker on taskQueue with every registration applied.
func New(c client.Client, taskQueue string, regs []Registration) worker.Worker {
	w := worker.New(c, taskQueue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{&failureCounter{}}})
	for _, reg := range regs {
		reg(w)
	}
	return w
}

// ScheduleID is the Temporal Schedule id EnsureSchedules gives schedule id
// on taskQueue.
func ScheduleID(taskQueue, id string) string {
	return taskQueue + "/" + id
}

// EnsureSchedules creates each schedule, or updates an existing one to the
// wanted interval and action. Schedule and workflow ids are prefixed with
// the task queue, so deployments sharing a namespace do not collide.
func EnsureSchedules(ctx context.Context, c client.Client, taskQueue string, schedules []Schedule) error {
	for _, s := range schedules {
		s.ID = ScheduleID(taskQueue, s.ID)
		action := &client.ScheduleWorkflowAction{
			ID:        taskQueue + "/" + s.WorkflowID,
			Workflow:  s.Workflow,
			Args:      s.Args,
			TaskQueue: taskQueue,
		}
		spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: s.Every}}}
		_, err := c.ScheduleClient().Create(ctx, client.ScheduleOptions{
			ID:                 s.ID,
			Spec:               spec,
			Action:             action,
			Overlap:            0, // skip a run while the previous one is still going
			TriggerImmediately: s.TriggerImmediately,
		})
		if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
			h := c.ScheduleClient().GetHandle(ctx, s.ID)
			err = h.Update(ctx, client.ScheduleUpdateOptions{
				DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
					in.Description.Schedule.Spec = &spec
					in.Description.Schedule.Action = action
					return &client.ScheduleUpdate{Schedule: &in.Description.Schedule}, nil
				},
			})
			if err == nil && s.TriggerImmediately {
				err = h.Trigger(ctx, client.ScheduleTriggerOptions{})
			}
		}
		if err != nil {
			return fmt.Errorf("workers: schedule %q: %w", s.ID, err)
		}
	}
	return nil
}
