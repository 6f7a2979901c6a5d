package activities_test

import (
	"log/slog"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
)

// quietEnv is a test activity environment that discards the SDK's logs,
// with acts registered.
func quietEnv(acts ...any) *testsuite.TestActivityEnvironment {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	for _, a := range acts {
		env.RegisterActivity(a)
	}
	return env
}

// execute runs activity fn with in and returns its result, failing the
// test on an error.
func execute[T any](t *testing.T, env *testsuite.TestActivityEnvironment, fn, in any) T {
	t.Helper()
	var out T
	v, err := env.ExecuteActivity(fn, in)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Get(&out); err != nil {
		t.Fatal(err)
	}
	return out
}
