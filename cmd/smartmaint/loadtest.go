package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/loadtest"
	"github.com/smartmaint/smartmaint/internal/store"
)

// runLoadtest drives POST /api/v1/readings with vegeta and checks that every
// acknowledged reading was committed. With -spawn it starts `smartmaint api`
// itself on a fresh database (the usual way, see `make bench`).
func runLoadtest(args []string) error {
	fs := flag.NewFlagSet("loadtest", flag.ExitOnError)
	var (
		url       = fs.String("url", "", "API base URL (default: spawn one, see -spawn)")
		adminURL  = fs.String("admin-url", "http://127.0.0.1:9090", "with -url: its admin listener (ADMIN_ADDR), whose /metrics -anomalies reads")
		spawn     = fs.Bool("spawn", true, "start `smartmaint api` as a child process on a fresh database when -url is empty")
		mode      = fs.String("mode", "both", "single (one reading a request), batch, or both")
		rate      = fs.Int("rate", 10000, "single mode: requests per second (0 = as fast as possible)")
		batch     = fs.Int("batch", 1000, "batch mode: readings per request")
		duration  = fs.Duration("duration", 20*time.Second, "length of each attack")
		workers   = fs.Int("workers", 256, "concurrent requests (batch mode uses 8)")
		copyFor   = fs.Duration("copy-duration", 10*time.Second, "length of the raw COPY measurement (0 skips it)")
		assets    = fs.Int("assets", 20, "assets to spread readings over")
		sensors   = fs.Int("sensors", 5, "sensors per asset")
		tenant    = fs.String("tenant", "loadtest", "tenant to create and measure")
		benchName = fs.String("db-name", "smartmaint_bench", "database name for a spawned API (dropped and recreated)")
		spawnMode = fs.String("spawn-mode", "api", "what -spawn starts: api (the API alone) or dev (API, worker and Temporal in one process)")
		driver    = fs.String("driver", defaultDriver(), "single mode's generator: wrk (light, closed loop; the default when installed) or vegeta (open loop at -rate)")
		conns     = fs.Int("connections", 64, "single mode with wrk: concurrent connections")
		anomalies = fs.Float64("anomalies", 0, "share of readings past the alarm limit (loads the incident path; use with -spawn-mode dev)")
		iso       = isolationFlags(fs)
	)
	fs.Parse(args)
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	if *url == "" && !*spawn {
		return fmt.Errorf("-url is empty and -spawn=false")
	}
	base, admin, db, stop, err := openTarget(ctx, cfg, *url, *benchName, *spawnMode, iso())
	if err != nil {
		return err
	}
	defer stop()
	*url = base
	if admin != "" {
		*adminURL = admin
	}
	o := loadtest.Options{BaseURL: *url, DB: db, Tenant: *tenant, Duration: *duration, Assets: *assets, SensorsPerAsset: *sensors, AnomalyRate: *anomalies}
	key, err := setupAndWarm(ctx, o, 2*time.Second)
	if err != nil {
		return err
	}

	var reports []loadtest.Report
	if *mode == "single" || *mode == "both" {
		s := o
		s.BatchSize, s.Rate, s.Workers = 1, *rate, *workers
		var r loadtest.Report
		switch *driver {
		case "wrk":
			s.Workers = *conns
			r, err = loadtest.RunWrk(ctx, s, key, fmt.Sprintf("single-reading POSTs, wrk closed loop over %d connections", *conns))
		case "vegeta":
			r, err = loadtest.Run(ctx, s, key, fmt.Sprintf("single-reading POSTs at %d req/s target, %d workers (vegeta)", *rate, *workers))
		default:
			err = fmt.Errorf("-driver must be wrk or vegeta, not %q", *driver)
		}
		if err != nil {
			return err
		}
		fmt.Println(r)
		reports = append(reports, r)
	}
	var batched float64
	if *mode == "batch" || *mode == "both" {
		b := o
		b.BatchSize, b.Rate, b.Workers = *batch, 0, 8
		r, err := loadtest.Run(ctx, b, key, fmt.Sprintf("batched POSTs of %d readings, 8 concurrent, as fast as possible", *batch))
		if err != nil {
			return err
		}
		fmt.Println(r)
		reports = append(reports, r)
		batched = r.ReadingsPerS
	}
	if *copyFor > 0 {
		raw, err := loadtest.RawCopy(ctx, db, *tenant, 10_000, *copyFor)
		if err != nil {
			return err
		}
		fmt.Printf("raw pgx COPY (10,000 rows a transaction, one connection): %.0f rows/s\n", raw)
		if batched > 0 {
			fmt.Printf("batched API ingest is %.0f%% of the raw COPY rate (target ≥ 50%%)\n", 100*batched/raw)
		}
	}
	if *anomalies > 0 {
		if err := reportIncidentPath(*adminURL + "/metrics"); err != nil {
			return err
		}
	}
	for _, r := range reports {
		if r.LostReadings > 0 {
			return fmt.Errorf("%s: %d acknowledged readings are missing from the database", r.Name, r.LostReadings)
		}
	}
	return nil
}

// isolationFlags adds -temporal-namespace and -task-queue to fs and returns
// the isolation they describe (on TEMPORAL_ADDRESS; a dev-mode spawn moves
// it to a server of its own).
func isolationFlags(fs *flag.FlagSet) func() loadtest.Isolation {
	def := loadtest.NewIsolation("")
	ns := fs.String("temporal-namespace", def.Namespace, "Temporal namespace of the spawned API (never the dev stack's)")
	queue := fs.String("task-queue", def.TaskQueue, "Temporal task queue of the spawned API (default: a fresh one; it must have no pollers)")
	return func() loadtest.Isolation { return loadtest.Isolation{Namespace: *ns, TaskQueue: *queue} }
}

// reservedNames are the namespace and task queue names a spawned API must
// not use: the defaults and whatever this environment's stack uses.
func reservedNames(cfg config.Config) []string {
	return []string{"default", "smartmaint", cfg.TemporalNamespace, cfg.TemporalTaskQueue}
}

// openTarget returns the API to load, the admin listener of the one it
// spawned (empty when url is set) and the database behind it: url with
// DATABASE_URL's database when url is set, otherwise `smartmaint <mode>`
// spawned on a fresh database dbName with the Temporal namespace and task
// queue of iso, after checking that nothing else polls them. stop closes
// the database and stops what was spawned.
func openTarget(ctx context.Context, cfg config.Config, url, dbName, mode string, iso loadtest.Isolation) (base, admin string, db *store.DB, stop func(), err error) {
	dbURL, stopAPI := cfg.DatabaseURL, func() {}
	if url == "" {
		if mode != "api" && mode != "dev" {
			return "", "", nil, nil, fmt.Errorf("-spawn-mode must be api or dev, not %q", mode)
		}
		if err := loadtest.CheckNames(iso, reservedNames(cfg)); err != nil {
			return "", "", nil, nil, err
		}
		if mode == "dev" {
			// An embedded Temporal server of its own, on a free port.
			if iso.Address, err = freeAddr(); err != nil {
				return "", "", nil, nil, err
			}
		} else {
			// The API alone talks to TEMPORAL_ADDRESS, perhaps a running
			// dev stack's server: refuse when workers there poll the queue.
			iso.Address = cfg.TemporalAddress
			if err := loadtest.CheckPollers(ctx, iso, 5*time.Second); err != nil {
				return "", "", nil, nil, err
			}
		}
		if dbURL, err = freshDatabase(ctx, cfg.DatabaseURL, dbName); err != nil {
			return "", "", nil, nil, err
		}
		if url, admin, stopAPI, err = spawnAPI(ctx, dbURL, mode, iso); err != nil {
			return "", "", nil, nil, err
		}
		fmt.Fprintf(os.Stderr, "loadtest: spawned `smartmaint %s` on Temporal %s, namespace %s, task queue %s\n", mode, iso.Address, iso.Namespace, iso.TaskQueue)
	}
	if db, err = store.Open(ctx, dbURL, 4); err != nil {
		stopAPI()
		return "", "", nil, nil, err
	}
	return url, admin, db, func() { db.Close(); stopAPI() }, nil
}

// setupAndWarm creates o's tenant, assets, sensors and API key
// (loadtest.Setup), then sends single readings at 500/s for warmFor so the
// API's caches and connections are warm before anything is measured.
func setupAndWarm(ctx context.Context, o loadtest.Options, warmFor time.Duration) (key string, err error) {
	if key, err = loadtest.Setup(ctx, o); err != nil {
		return "", err
	}
	warm := o
	warm.BatchSize, warm.Rate, warm.Workers, warm.Duration = 1, 500, 8, warmFor
	if _, err := loadtest.Run(ctx, warm, key, "warm-up"); err != nil {
		return "", err
	}
	return key, nil
}

// freshDatabase drops and recreates name on the server of baseURL and
// returns its URL.
func freshDatabase(ctx context.Context, baseURL, name string) (string, error) {
	i := strings.LastIndex(baseURL, "/")
	q := strings.Index(baseURL[i:], "?")
	suffix := ""
	if q >= 0 {
		suffix = baseURL[i+q:]
	}
	url := baseURL[:i+1] + name + suffix
	admin := baseURL[:i+1] + "postgres" + suffix
	if err := store.DropDatabase(ctx, admin, name); err != nil {
		return "", err
	}
	if err := store.EnsureDatabase(ctx, url); err != nil {
		return "", err
	}
	return url, store.Migrate(ctx, url)
}

// reportIncidentPath prints how fast anomalies reached their incident
// workflows and how many workflows were started.
func reportIncidentPath(metricsURL string) error {
	vals, hists, err := loadtest.Scrape(metricsURL, "smartmaint_incident_signal_latency_seconds", "smartmaint_incident_workflow_starts_total",
		"smartmaint_anomalies_total", "smartmaint_anomalies_swept_total")
	if err != nil {
		return err
	}
	h := hists["smartmaint_incident_signal_latency_seconds"]
	fmt.Printf("anomaly → SignalWithStart: %.0f anomalies in %.0f signals (%.0f re-sent by the sweeper), p50 %.1f ms, p99 %.1f ms (from histogram buckets); incident workflows started: %.0f\n",
		vals["smartmaint_anomalies_total"], h.Count, vals["smartmaint_anomalies_swept_total"], 1000*h.Quantile(0.5), 1000*h.Quantile(0.99), vals["smartmaint_incident_workflow_starts_total"])
	return nil
}

// spawnAPI runs this binary's `api` (or `dev`) command on free ports with
// iso's Temporal settings and waits until it serves /health; it returns
// the API's and the admin listener's base URLs.
func spawnAPI(ctx context.Context, dbURL, mode string, iso loadtest.Isolation) (base, admin string, stop func(), err error) {
	addr, err := freeAddr()
	if err != nil {
		return "", "", nil, err
	}
	adminAddr, err := freeAddr()
	if err != nil {
		return "", "", nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(self, mode)
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	cmd.Env = loadtest.Spawn{Mode: mode, DatabaseURL: dbURL, HTTPAddr: addr, AdminAddr: adminAddr, RedisURL: redisURL, Isolation: iso,
		IngestLimit: loadtestIngestLimit}.Env(os.Environ())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	stop = func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
		}
	}
	base = "http://" + addr
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := loadtest.WaitReady(wctx, base+"/health"); err != nil {
		stop()
		return "", "", nil, err
	}
	return base, "http://" + adminAddr, stop, nil
}

// freeAddr returns a loopback address with a free port.
// loadtestIngestLimit is the spawned API's per-key ingest budget unless
// RATE_LIMIT_INGEST is set.
const loadtestIngestLimit = "1000000/s"

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// defaultDriver prefers wrk when it is installed: on two cores the
// generator's own CPU is part of what is measured.
func defaultDriver() string {
	if _, err := exec.LookPath("wrk"); err == nil {
		return "wrk"
	}
	return "vegeta"
}
