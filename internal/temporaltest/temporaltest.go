// Package temporaltest starts a real Temporal server (the embedded dev
// server, SQLite in memory) for end-to-end tests. One server is shared by all
// tests of a test binary; each test should use its own task queue.
package temporaltest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/smartmaint/smartmaint/internal/devserver"
)

var (
	namespaces atomic.Int64
	once       sync.Once
	server     *devserver.Server
	err        error
)

// Server returns the shared server, starting it on first use.
func Server(t testing.TB) *devserver.Server {
	t.Helper()
	once.Do(func() {
		server, err = devserver.Start(devserver.Options{Logger: slog.New(slog.DiscardHandler), LogLevel: slog.LevelError})
	})
	if err != nil {
		t.Fatalf("temporaltest: start dev server: %v", err)
	}
	return server
}

// Client returns a client of the shared server, closed when the test ends.
func Client(t testing.TB) client.Client {
	t.Helper()
	s := Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: s.Address(), Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("temporaltest: dial %s: %v", s.Address(), err)
	}
	t.Cleanup(c.Close)
	return c
}

// quietLogger drops the SDK's chatter from test output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}

// TerminateOnCleanup ends, when the test finishes, every workflow still
// running on taskQueue, so a later test of the same binary (or the same
// test under -count) that reuses a workflow id starts a fresh run on its
// own task queue instead of signalling one whose worker is gone. Register
// it after the cleanup that stops the worker: cleanups run last first.
func TerminateOnCleanup(t testing.TB, c client.Client, taskQueue string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		query := fmt.Sprintf("TaskQueue = %q AND ExecutionStatus = 'Running'", taskQueue)
		ended := map[string]bool{} // run ids; visibility may list them a moment longer
		for {
			resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query})
			if err != nil {
				t.Errorf("temporaltest: list workflows on %s: %v", taskQueue, err)
				return
			}
			left := 0
			for _, e := range resp.GetExecutions() {
				run := e.GetExecution()
				if ended[run.GetRunId()] {
					continue
				}
				left++
				err := c.TerminateWorkflow(ctx, run.GetWorkflowId(), run.GetRunId(), "test finished")
				var gone *serviceerror.NotFound
				if err != nil && !errors.As(err, &gone) {
					t.Errorf("temporaltest: terminate %s: %v", run.GetWorkflowId(), err)
					return
				}
				ended[run.GetRunId()] = true
			}
			if left == 0 && len(resp.GetNextPageToken()) == 0 {
				return
			}
		}
	})
}

// Namespace registers a namespace of its own for the test on the shared
// server and returns its name once the server accepts work in it. Workflow
// ids such as incident/<tenant>/<asset> are then the test's alone, even
// under -count or when another test used the same tenant and asset.
func Namespace(t testing.TB) string {
	t.Helper()
	c := Client(t)
	name := fmt.Sprintf("test-%d", namespaces.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        name,
		WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	})
	if err != nil {
		t.Fatalf("temporaltest: register namespace %s: %v", name, err)
	}
	// The frontend learns of new namespaces on its next registry refresh.
	for {
		_, err := c.WorkflowService().ListWorkflowExecutions(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: name, PageSize: 1})
		if err == nil {
			return name
		}
		select {
		case <-ctx.Done():
			t.Fatalf("temporaltest: namespace %s not ready: %v", name, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
