package workers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/workflow"
)

var (
	workflowFailures = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_workflow_failures_total",
		Help: "Workflow runs of this worker that ended in failure, by workflow type.",
	}, []string{"workflow"})
	workflowPanics = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_workflow_task_panics_total",
		Help: "Workflow tasks of this worker that panicked (the task is retried until the code is fixed), by workflow type.",
	}, []string{"workflow"})
)

// failureCounter counts failed workflow runs and panicking workflow tasks,
// so that a workflow stuck on a bug or ended by a permanent error raises an
// alert (deploy/alerts.yml) instead of going unnoticed.
type failureCounter struct {
	interceptor.WorkerInterceptorBase
}

func (*failureCounter) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	return &workflowFailureCounter{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}}
}

type workflowFailureCounter struct {
	interceptor.WorkflowInboundInterceptorBase
}

func (w *workflowFailureCounter) ExecuteWorkflow(ctx workflow.Context, in *interceptor.ExecuteWorkflowInput) (out any, err error) {
	name := workflow.GetInfo(ctx).WorkflowType.Name
	defer func() {
		if r := recover(); r != nil {
			workflowPanics.WithLabelValues(name).Inc()
			panic(r)
		}
	}()
	out, err = w.Next.ExecuteWorkflow(ctx, in)
	var can *workflow.ContinueAsNewError
	if err != nil && !errors.As(err, &can) && !errors.Is(err, workflow.ErrCanceled) && !workflow.IsReplaying(ctx) {
		workflowFailures.WithLabelValues(name).Inc()
	}
	return out, err
}
