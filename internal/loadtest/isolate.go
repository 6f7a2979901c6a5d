package loadtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
)

// DefaultNamespace is the Temporal namespace of what the loadtest spawns:
// never the one a dev stack or a deployment runs in.
const DefaultNamespace = "smartmaint-loadtest"

// Isolation is the Temporal server, namespace and task queue a spawned API
// (or dev stack) uses, so that its anomalies never start workflows that a
// running dev stack's worker would pick up and write into its database.
type Isolation struct {
	// Address is the Temporal frontend the spawned process talks to.
	Address   string
	Namespace string
	TaskQueue string
}

// NewIsolation is DefaultNamespace and a task queue of its own
// ("smartmaint-loadtest-<random>") on the server at address.
func NewIsolation(address string) Isolation {
	return Isolation{Address: address, Namespace: DefaultNamespace, TaskQueue: "smartmaint-loadtest-" + strings.ToLower(rand.Text()[:8])}
}

// Env is iso as the environment variables of a smartmaint process.
func (iso Isolation) Env() []string {
	return []string{"TEMPORAL_ADDRESS=" + iso.Address, "TEMPORAL_NAMESPACE=" + iso.Namespace, "TEMPORAL_TASK_QUEUE=" + iso.TaskQueue}
}

// SpawnEnv is environ (usually os.Environ()) with set applied: each
// KEY=value of set replaces any KEY in environ, so what the spawned process
// sees is set's value and never, say, a TEMPORAL_TASK_QUEUE inherited from
// a shell that runs a dev stack.
func SpawnEnv(environ []string, set ...string) []string {
	keys := make([]string, len(set))
	for i, kv := range set {
		keys[i], _, _ = strings.Cut(kv, "=")
	}
	out := slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return slices.Contains(keys, k)
	})
	return append(out, set...)
}

// ErrNotIsolated is wrapped by Preflight's refusals.
var ErrNotIsolated = errors.New("loadtest: the spawned API would share Temporal with another stack")

// Preflight refuses an isolation that is not one: the namespace or task
// queue of a regular stack (any of reserved, typically the defaults and
// TEMPORAL_NAMESPACE/TEMPORAL_TASK_QUEUE), or a task queue that workers on
// the server at iso.Address already poll (DescribeTaskQueue lists
// pollers): they would run the loadtest's incident workflows and write
// them into their own database. A server that does not answer within
// timeout, or lacks the namespace, has nobody polling.
func Preflight(ctx context.Context, iso Isolation, reserved []string, timeout time.Duration) error {
	if err := CheckNames(iso, reserved); err != nil {
		return err
	}
	return CheckPollers(ctx, iso, timeout)
}

// CheckNames is Preflight's check of the names alone, for a process that
// gets a Temporal server of its own.
func CheckNames(iso Isolation, reserved []string) error {
	if iso.Namespace == "" || iso.TaskQueue == "" {
		return fmt.Errorf("%w: empty namespace or task queue", ErrNotIsolated)
	}
	for _, r := range reserved {
		if iso.Namespace == r || iso.TaskQueue == r {
			return fmt.Errorf("%w: namespace %q / task queue %q reuse %q, which a dev stack or deployment uses; pick others (-temporal-namespace, -task-queue)",
				ErrNotIsolated, iso.Namespace, iso.TaskQueue, r)
		}
	}
	return nil
}

// CheckPollers is Preflight's check of the server: it fails when workers
// poll iso.TaskQueue in iso.Namespace on iso.Address.
func CheckPollers(ctx context.Context, iso Isolation, timeout time.Duration) error {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.DialContext(dctx, client.Options{HostPort: iso.Address, Namespace: iso.Namespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return nil // no server there: nothing to collide with
	}
	defer c.Close()
	var pollers []string
	for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		resp, err := c.DescribeTaskQueue(dctx, iso.TaskQueue, typ)
		var nsNotFound *serviceerror.NamespaceNotFound
		if errors.As(err, &nsNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("loadtest: describe task queue %q in namespace %q on %s: %w", iso.TaskQueue, iso.Namespace, iso.Address, err)
		}
		for _, p := range resp.GetPollers() {
			id := p.GetIdentity()
			if id == "" {
				id = "(no identity)"
			}
			pollers = append(pollers, id)
		}
	}
	if len(pollers) == 0 {
		return nil
	}
	slices.Sort(pollers)
	pollers = slices.Compact(pollers)
	return fmt.Errorf("%w: task queue %q in namespace %q on %s is polled by %s; stop them or pick another -task-queue",
		ErrNotIsolated, iso.TaskQueue, iso.Namespace, iso.Address, strings.Join(pollers, ", "))
}

// Spawn is the smartmaint process a loadtest starts.
type Spawn struct {
	// Mode is "api" (the API alone) or "dev" (API, worker and an embedded
	// Temporal server in one process).
	Mode        string
	DatabaseURL string
	HTTPAddr    string
	// AdminAddr is its ADMIN_ADDR (/metrics); empty keeps environ's.
	AdminAddr string
	RedisURL  string
	// Isolation is its Temporal server, namespace and task queue.
	Isolation Isolation
	// IngestLimit is RATE_LIMIT_INGEST unless environ sets it.
	IngestLimit string
}

// Env is the spawned process's environment: environ with the database,
// addresses and Isolation replaced. A dev-mode process also keeps its
// Temporal history in memory (not in the dev stack's TEMPORAL_DB_FILE) and
// runs no simulator, mail sink or webhook receiver.
func (s Spawn) Env(environ []string) []string {
	set := []string{"DATABASE_URL=" + s.DatabaseURL, "HTTP_ADDR=" + s.HTTPAddr, "REDIS_URL=" + s.RedisURL, "LOG_LEVEL=warn"}
	set = append(set, s.Isolation.Env()...)
	if s.AdminAddr != "" {
		set = append(set, "ADMIN_ADDR="+s.AdminAddr)
	}
	if s.IngestLimit != "" && !slices.ContainsFunc(environ, func(kv string) bool { return strings.HasPrefix(kv, "RATE_LIMIT_INGEST=") }) {
		// The per-key ingest budget protects tenants from each other; a
		// capacity measurement raises it so that every request still pays
		// the limiter's Redis round trip but none is turned away with 429.
		set = append(set, "RATE_LIMIT_INGEST="+s.IngestLimit)
	}
	if s.Mode == "dev" {
		set = append(set, "TEMPORAL_UI_PORT=0", "TEMPORAL_DB_FILE=memory", "DEV_SIMULATE=false", "DEV_SMTP_ADDR=off", "DEV_SINK_ADDR=off")
	}
	return SpawnEnv(environ, set...)
}
