package loadtest_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/loadtest"
	"github.com/smartmaint/smartmaint/internal/temporaltest"
)

func idle(ctx workflow.Context) error { return nil }

// TestPreflightRefusesAPolledQueue: a task queue that a worker polls on the
// target server (here, a dev stack's) is refused; a queue of its own, a
// namespace the server lacks, or no server at all pass.
func TestPreflightRefusesAPolledQueue(t *testing.T) {
	srv := temporaltest.Server(t)
	c := temporaltest.Client(t)
	const queue = "devstack-queue-under-load"
	w := worker.New(c, queue, worker.Options{Identity: "dev-worker@laptop"})
	w.RegisterWorkflow(idle)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	ctx := context.Background()

	polled := loadtest.Isolation{Address: srv.Address(), Namespace: "default", TaskQueue: queue}
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if err = loadtest.Preflight(ctx, polled, nil, 5*time.Second); err != nil {
			break
		}
		time.Sleep(200 * time.Millisecond) // the worker's first poll
	}
	if !errors.Is(err, loadtest.ErrNotIsolated) || !strings.Contains(err.Error(), "dev-worker@laptop") || !strings.Contains(err.Error(), queue) {
		t.Fatalf("Preflight on a polled queue = %v, want ErrNotIsolated naming the queue and the worker", err)
	}

	free, ferr := devserver.FreePort("127.0.0.1")
	if ferr != nil {
		t.Fatal(ferr)
	}
	for name, tc := range map[string]struct {
		iso      loadtest.Isolation
		reserved []string
		refused  bool
	}{
		"own queue":          {iso: loadtest.NewIsolation(srv.Address())},
		"own queue, default": {iso: loadtest.Isolation{Address: srv.Address(), Namespace: "default", TaskQueue: "nobody-polls-this"}},
		"no such namespace":  {iso: loadtest.Isolation{Address: srv.Address(), Namespace: "not-registered", TaskQueue: queue}},
		"no server":          {iso: loadtest.Isolation{Address: "127.0.0.1:" + strconv.Itoa(free), Namespace: loadtest.DefaultNamespace, TaskQueue: queue}},
		"the default queue":  {iso: loadtest.Isolation{Address: "127.0.0.1:" + strconv.Itoa(free), Namespace: loadtest.DefaultNamespace, TaskQueue: "smartmaint"}, reserved: []string{"default", "smartmaint"}, refused: true},
		"the default ns":     {iso: loadtest.Isolation{Address: "127.0.0.1:" + strconv.Itoa(free), Namespace: "default", TaskQueue: "q"}, reserved: []string{"default", "smartmaint"}, refused: true},
	} {
		err := loadtest.Preflight(ctx, tc.iso, tc.reserved, 2*time.Second)
		if tc.refused != errors.Is(err, loadtest.ErrNotIsolated) || (!tc.refused && err != nil) {
			t.Errorf("%s: Preflight = %v, want refused %v", name, err, tc.refused)
		}
	}
}

// TestSpawnEnvIsIsolated: what the loadtest spawns gets its own namespace
// and task queue (and, in dev mode, an in-memory Temporal history and no
// mail sink) even from a shell set up for a dev stack.
func TestSpawnEnvIsIsolated(t *testing.T) {
	shell := []string{"PATH=/usr/bin", "TEMPORAL_ADDRESS=127.0.0.1:7233", "TEMPORAL_NAMESPACE=default", "TEMPORAL_TASK_QUEUE=smartmaint",
		"TEMPORAL_DB_FILE=var/temporal.db", "HTTP_ADDR=:8080", "DEV_SIMULATE=true"}
	iso := loadtest.NewIsolation("127.0.0.1:40001")
	if iso.Namespace == "default" || iso.TaskQueue == "smartmaint" || !strings.HasPrefix(iso.TaskQueue, "smartmaint-loadtest-") ||
		loadtest.NewIsolation("").TaskQueue == iso.TaskQueue {
		t.Fatalf("NewIsolation = %+v", iso)
	}
	for _, mode := range []string{"api", "dev"} {
		env := loadtest.Spawn{Mode: mode, DatabaseURL: "postgres://x/bench", HTTPAddr: "127.0.0.1:40002", RedisURL: "redis://r", Isolation: iso,
			IngestLimit: "1000000/s"}.Env(shell)
		got := map[string][]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			got[k] = append(got[k], v)
		}
		want := map[string]string{"PATH": "/usr/bin", "TEMPORAL_ADDRESS": iso.Address, "TEMPORAL_NAMESPACE": iso.Namespace,
			"TEMPORAL_TASK_QUEUE": iso.TaskQueue, "HTTP_ADDR": "127.0.0.1:40002", "DATABASE_URL": "postgres://x/bench", "RATE_LIMIT_INGEST": "1000000/s"}
		if mode == "dev" {
			want["TEMPORAL_DB_FILE"], want["DEV_SIMULATE"], want["DEV_SMTP_ADDR"], want["DEV_SINK_ADDR"] = "memory", "false", "off", "off"
		}
		for k, v := range want {
			if len(got[k]) != 1 || got[k][0] != v {
				t.Errorf("%s: %s = %q, want exactly %q", mode, k, got[k], v)
			}
		}
	}
	// An explicit RATE_LIMIT_INGEST in the shell is kept.
	env := loadtest.Spawn{Mode: "api", Isolation: iso, IngestLimit: "1000000/s"}.Env([]string{"RATE_LIMIT_INGEST=5/s"})
	if strings.Contains(strings.Join(env, " "), "1000000/s") {
		t.Errorf("env %q overrides the shell's RATE_LIMIT_INGEST", env)
	}
}
