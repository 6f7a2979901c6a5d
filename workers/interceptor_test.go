package workers

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func failing(ctx workflow.Context, how string) error {
	switch how {
	case "fail":
		return errors.New("permanent")
	case "panic":
		panic("bug")
	case "continue":
		return workflow.NewContinueAsNewError(ctx, failing, "ok")
	}
	return nil
}

func TestFailureCounter(t *testing.T) {
	tests := []struct {
		how            string
		failed, panics float64
	}{
		{"ok", 0, 0},
		{"continue", 0, 0},
		{"fail", 1, 0},
		{"panic", 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.how, func(t *testing.T) {
			f0 := testutil.ToFloat64(workflowFailures.WithLabelValues("failing"))
			p0 := testutil.ToFloat64(workflowPanics.WithLabelValues("failing"))
			var suite testsuite.WorkflowTestSuite
			suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
			env := suite.NewTestWorkflowEnvironment()
			env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&failureCounter{}}})
			env.RegisterWorkflow(failing)
			env.ExecuteWorkflow(failing, tt.how)
			if got := testutil.ToFloat64(workflowFailures.WithLabelValues("failing")) - f0; got != tt.failed {
				t.Errorf("failures +%v, want +%v", got, tt.failed)
			}
			if got := testutil.ToFloat64(workflowPanics.WithLabelValues("failing")) - p0; got != tt.panics {
				t.Errorf("panics +%v, want +%v", got, tt.panics)
			}
		})
	}
}
