// Package config loads smartmaint's settings from environment variables.
//
// Every setting has a default that works for the embedded stack (`smartmaint
// dev`): a local PostgreSQL on 127.0.0.1:5432, an in-process Redis when
// REDIS_URL is unset, and a Temporal dev server started by the process. The
// full list with defaults is in docs/CONFIG.md; a test keeps the two in step.
package config

import (
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Config holds every setting of the smartmaint binary.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string. In dev mode the database
	// is created when it does not exist.
	DatabaseURL string `env:"DATABASE_URL" envDefault:"postgres://postgres@127.0.0.1:5432/smartmaint?sslmode=disable"`
	// DatabaseMaxConns caps the pgx pool size.
	DatabaseMaxConns int32 `env:"DATABASE_MAX_CONNS" envDefault:"16"`

	// RedisURL is the Redis connection string. Empty in dev mode means an
	// in-process Redis (miniredis); the api and worker commands require it.
	RedisURL string `env:"REDIS_URL"`

	// TemporalAddress is the Temporal frontend host:port.
	TemporalAddress string `env:"TEMPORAL_ADDRESS" envDefault:"127.0.0.1:7233"`
	// TemporalNamespace is the Temporal namespace workflows run in.
	TemporalNamespace string `env:"TEMPORAL_NAMESPACE" envDefault:"default"`
	// TemporalTaskQueue is the task queue the worker polls.
	TemporalTaskQueue string `env:"TEMPORAL_TASK_QUEUE" envDefault:"smartmaint"`
	// TemporalUIPort is the Web UI port of the embedded dev server (dev only).
	TemporalUIPort int `env:"TEMPORAL_UI_PORT" envDefault:"8233"`
	// TemporalDBFile keeps the embedded dev server's history in a SQLite
	// file, so workflows survive a restart of `smartmaint dev`; "memory"
	// keeps it in memory only (dev only).
	TemporalDBFile string `env:"TEMPORAL_DB_FILE" envDefault:"var/temporal.db"`

	// HTTPAddr is the API listen address.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080"`
	// AdminAddr is the admin listener: /metrics, /health and /health/ready
	// for Prometheus and probes, never for tenants; "off" runs none. Keep it
	// on loopback or a port no load balancer forwards.
	AdminAddr string `env:"ADMIN_ADDR" envDefault:"127.0.0.1:9090"`
	// MetricsToken, when set, is the bearer token /metrics on the admin
	// listener requires.
	MetricsToken string `env:"METRICS_TOKEN"`
	// MaxBodyBytes limits request bodies (10k readings fit comfortably).
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES" envDefault:"8388608"`
	// MaxReadingsPerRequest limits the readings in one ingest request.
	MaxReadingsPerRequest int `env:"MAX_READINGS_PER_REQUEST" envDefault:"10000"`

	// RateLimitIngest is each API key's budget for POST /api/v1/readings:
	// <rate>/<s|m|h>[:<burst>] (the burst defaults to the rate), or off.
	RateLimitIngest string `env:"RATE_LIMIT_INGEST" envDefault:"20000/s"`
	// RateLimitRead is each API key's budget for GET requests.
	RateLimitRead string `env:"RATE_LIMIT_READ" envDefault:"50/s:100"`
	// RateLimitWrite is each API key's budget for the other changes.
	RateLimitWrite string `env:"RATE_LIMIT_WRITE" envDefault:"20/s:40"`
	// RateLimitExpensive is each API key's budget for model retrain and
	// promote and work-order re-planning.
	RateLimitExpensive string `env:"RATE_LIMIT_EXPENSIVE" envDefault:"10/m"`
	// IdempotencyTTL is how long the response to a POST with an
	// Idempotency-Key is replayed.
	IdempotencyTTL time.Duration `env:"IDEMPOTENCY_TTL" envDefault:"10m"`

	// IngestMaxBatchRows caps the rows of one group-commit COPY.
	IngestMaxBatchRows int `env:"INGEST_MAX_BATCH_ROWS" envDefault:"20000"`
	// IngestFlushers is the number of flusher goroutines: batches of 2,000
	// rows or more commit concurrently, smaller ones take turns.
	IngestFlushers int `env:"INGEST_FLUSHERS" envDefault:"2"`
	// IngestQueueRequests bounds the requests waiting for a commit; when full,
	// new requests wait until their deadline and then get 503.
	IngestQueueRequests int `env:"INGEST_QUEUE_REQUESTS" envDefault:"4096"`
	// IngestCommitTimeout bounds one COPY transaction.
	IngestCommitTimeout time.Duration `env:"INGEST_COMMIT_TIMEOUT" envDefault:"10s"`
	// MaxClockSkew is how far in the future a reading's timestamp may be.
	MaxClockSkew time.Duration `env:"MAX_CLOCK_SKEW" envDefault:"5m"`

	// ReadingsRetention is how long raw readings are kept; older partitions are
	// dropped and older readings are rejected at ingest.
	ReadingsRetention time.Duration `env:"READINGS_RETENTION" envDefault:"720h"`
	// RollupRetention is how long hourly rollups are kept.
	RollupRetention time.Duration `env:"ROLLUP_RETENTION" envDefault:"8760h"`
	// PartitionLookahead is how far ahead daily partitions are created.
	PartitionLookahead time.Duration `env:"PARTITION_LOOKAHEAD" envDefault:"168h"`
	// StorageMaintenanceInterval is how often the storage maintenance schedule runs.
	StorageMaintenanceInterval time.Duration `env:"STORAGE_MAINTENANCE_INTERVAL" envDefault:"1h"`

	// PreventiveInterval is how often the preventive maintenance schedule
	// raises work orders for due preventive schedules.
	PreventiveInterval time.Duration `env:"PREVENTIVE_INTERVAL" envDefault:"1h"`
	// PreventiveLead is how long before a preventive service falls due its
	// work order is raised, so it can be planned.
	PreventiveLead time.Duration `env:"PREVENTIVE_LEAD" envDefault:"72h"`

	// ModelStore is where model artifacts live: "folder" (ModelDir) or "s3".
	ModelStore string `env:"MODEL_STORE" envDefault:"folder"`
	// ModelDir is the artifact folder when ModelStore is "folder".
	ModelDir string `env:"MODEL_DIR" envDefault:"var/models"`
	// S3Bucket holds the artifacts when ModelStore is "s3"; credentials come
	// from the standard AWS variables (AWS_ACCESS_KEY_ID, …) or roles.
	S3Bucket string `env:"S3_BUCKET"`
	// S3Prefix is the folder inside the bucket.
	S3Prefix string `env:"S3_PREFIX" envDefault:"models"`
	// S3Endpoint is an S3-compatible server's URL; empty means AWS.
	S3Endpoint string `env:"S3_ENDPOINT"`
	// S3Region is the bucket's region.
	S3Region string `env:"S3_REGION" envDefault:"us-east-1"`
	// S3ForcePathStyle addresses the bucket as endpoint/bucket (most
	// self-hosted servers need it).
	S3ForcePathStyle bool `env:"S3_FORCE_PATH_STYLE" envDefault:"false"`
	// ModelReloadInterval is how often workers and the API poll the model
	// aliases, the fallback when a Redis notification is missed.
	ModelReloadInterval time.Duration `env:"MODEL_RELOAD_INTERVAL" envDefault:"10s"`
	// ModelMaxUploadBytes limits a model file uploaded through
	// POST /api/v1/models/{name}/versions (64 MiB); other bodies keep
	// MaxBodyBytes.
	ModelMaxUploadBytes int64 `env:"MODEL_MAX_UPLOAD_BYTES" envDefault:"67108864"`

	// DetectSnapshotWindow is how far apart the readings of one asset's
	// feature vector may be for the anomaly model to score it.
	DetectSnapshotWindow time.Duration `env:"DETECT_SNAPSHOT_WINDOW" envDefault:"30s"`
	// DriftCheckInterval is how often the drift check schedule runs.
	DriftCheckInterval time.Duration `env:"DRIFT_CHECK_INTERVAL" envDefault:"1h"`
	// DriftWindow is the recent window of readings compared with a model's
	// training reference.
	DriftWindow time.Duration `env:"DRIFT_WINDOW" envDefault:"24h"`
	// DriftPSIThreshold is the PSI from which a feature has drifted.
	DriftPSIThreshold float64 `env:"DRIFT_PSI_THRESHOLD" envDefault:"0.2"`
	// DriftKSPValue is the KS p-value below which a feature has drifted.
	DriftKSPValue float64 `env:"DRIFT_KS_PVALUE" envDefault:"0.01"`
	// DriftMinFeatures is how many features must drift for a model's inputs
	// to have drifted.
	DriftMinFeatures int `env:"DRIFT_MIN_FEATURES" envDefault:"2"`
	// DriftMinSamples is the fewest recent values a feature needs to be
	// tested.
	DriftMinSamples int `env:"DRIFT_MIN_SAMPLES" envDefault:"100"`
	// RetrainWindow is the recent window of readings a challenger is
	// trained and evaluated on.
	RetrainWindow time.Duration `env:"RETRAIN_WINDOW" envDefault:"24h"`
	// RetrainMinRows and RetrainMaxRows bound the snapshots of one
	// retraining (the newest are kept).
	RetrainMinRows int `env:"RETRAIN_MIN_ROWS" envDefault:"500"`
	RetrainMaxRows int `env:"RETRAIN_MAX_ROWS" envDefault:"20000"`
	// RetrainMinImprovement is how much better a challenger's holdout score
	// must be than the champion's to be promoted.
	RetrainMinImprovement float64 `env:"RETRAIN_MIN_IMPROVEMENT" envDefault:"0.01"`
	// RetrainApprovalTimeout is how long a promotion that needs approval
	// waits before the champion is kept.
	RetrainApprovalTimeout time.Duration `env:"RETRAIN_APPROVAL_TIMEOUT" envDefault:"24h"`

	// ReportInterval is how often the report schedule makes every tenant's
	// report of the interval just ended (168h: weekly, Monday to Monday
	// UTC); 0 turns scheduled reports off.
	ReportInterval time.Duration `env:"REPORT_INTERVAL" envDefault:"168h"`

	// SMTPAddr is the mail relay (host:port) for email notifications; empty
	// disables email channels.
	SMTPAddr string `env:"SMTP_ADDR"`
	// SMTPFrom is the sender, optionally with a name.
	SMTPFrom string `env:"SMTP_FROM" envDefault:"smartmaint <smartmaint@localhost>"`
	// SMTPUsername and SMTPPassword enable AUTH (only over TLS or loopback).
	SMTPUsername string `env:"SMTP_USERNAME"`
	SMTPPassword string `env:"SMTP_PASSWORD"`
	// SMTPTLS is how the relay is secured: "implicit" (SMTPS, TLS from the
	// first byte), "starttls" (upgrade whenever the relay offers it) or
	// "auto" (implicit on port 465, starttls otherwise).
	SMTPTLS string `env:"SMTP_TLS" envDefault:"auto"`
	// NotifyDenyNetworks are the CIDRs webhook and Slack notifications
	// never reach, checked on the address actually dialled; "off" denies
	// nothing. The default keeps tenants' webhooks away from link-local
	// (cloud metadata), unspecified and multicast addresses.
	NotifyDenyNetworks string `env:"NOTIFY_DENY_NETWORKS" envDefault:"169.254.0.0/16,fe80::/10,0.0.0.0/8,::/128,224.0.0.0/4,ff00::/8"`

	// PublicURL is where people reach the API and the operator page (e.g.
	// https://smartmaint.plant.example); notifications link to the incident
	// and work order under it. Empty: messages carry no links, except in dev,
	// which links to its own API.
	PublicURL string `env:"PUBLIC_URL"`

	// PprofAddr serves net/http/pprof on this address when set (keep it on
	// loopback).
	PprofAddr string `env:"PPROF_ADDR"`

	// ChaosActivityErrors makes the worker fail activity attempts on purpose,
	// with a probability per activity type: "Notify=0.3,ScheduleWorkOrder=0.2"
	// ("*" for every type). For resilience tests only; empty is off.
	ChaosActivityErrors string `env:"CHAOS_ACTIVITY_ERRORS"`
	// ChaosActivityDelay makes the worker hold activity results back, per
	// activity type: "Notify=5s,*=100ms". Empty is off.
	ChaosActivityDelay string `env:"CHAOS_ACTIVITY_DELAY"`

	// UserLockoutAttempts wrong passwords within UserLockoutWindow lock a
	// user out for UserLockoutDuration (internal/account).
	UserLockoutAttempts int `env:"USER_LOCKOUT_ATTEMPTS" envDefault:"5"`
	// UserLockoutWindow is the window the failed attempts are counted in.
	UserLockoutWindow time.Duration `env:"USER_LOCKOUT_WINDOW" envDefault:"15m"`
	// UserLockoutDuration is how long a locked-out user stays locked.
	UserLockoutDuration time.Duration `env:"USER_LOCKOUT_DURATION" envDefault:"15m"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `env:"LOG_LEVEL" envDefault:"info"`

	// DevAPIKey is registered for the tenant DevTenant by `smartmaint dev` so
	// that the simulator and curl work out of the box. Never used outside dev.
	DevAPIKey string `env:"DEV_API_KEY" envDefault:"sm_devlocal_0123456789abcdef0123456789abcdef"`
	// DevAdminPassword, DevOperatorPassword and DevTechnicianPassword are
	// the passwords of the demo users `smartmaint dev` creates for DevTenant
	// when missing (admin@, operator@ and technician@demo.localhost). Never
	// used outside dev.
	DevAdminPassword      string `env:"DEV_ADMIN_PASSWORD" envDefault:"smartmaint-admin-dev"`
	DevOperatorPassword   string `env:"DEV_OPERATOR_PASSWORD" envDefault:"smartmaint-operator-dev"`
	DevTechnicianPassword string `env:"DEV_TECHNICIAN_PASSWORD" envDefault:"smartmaint-technician-dev"`
	// DevSimulate makes `smartmaint dev` replay the DevFleets against its
	// own API (see docs/SIMULATOR.md).
	DevSimulate bool `env:"DEV_SIMULATE" envDefault:"true"`
	// DevFleets are the fleets the dev simulator replays, a comma-separated
	// list of milling-machine (AI4I 2020), turbofan-engine (C-MAPSS FD001
	// test engines) and bearing-rig (IMS set No. 2); see docs/SIMULATOR.md.
	DevFleets string `env:"DEV_FLEETS" envDefault:"milling-machine,turbofan-engine,bearing-rig"`
	// DevEngineUnits are the C-MAPSS FD001 test engines replayed as
	// turbofan-engine assets, in order.
	DevEngineUnits []int `env:"DEV_ENGINE_UNITS" envSeparator:"," envDefault:"31,34,68,81,49"`
	// DevEngineLead is how many cycles before the end of its test record
	// the first engine starts; each next one starts DevEngineStagger
	// cycles earlier.
	DevEngineLead int `env:"DEV_ENGINE_LEAD" envDefault:"60"`
	// DevEngineStagger is how many cycles earlier than the one before
	// each next engine starts.
	DevEngineStagger int `env:"DEV_ENGINE_STAGGER" envDefault:"40"`
	// DevEngineTick is the real time of one engine cycle.
	DevEngineTick time.Duration `env:"DEV_ENGINE_TICK" envDefault:"1s"`
	// DevBearingStart is the IMS set No. 2 snapshot (0 to 983) the bearing
	// rig starts at.
	DevBearingStart int `env:"DEV_BEARING_START" envDefault:"480"`
	// DevBearingTick is the real time of one bearing snapshot (10 minutes
	// of the rig's time).
	DevBearingTick time.Duration `env:"DEV_BEARING_TICK" envDefault:"1s"`
	// DevRULThreshold is the remaining life in cycles under which the
	// lower bound of the turbofan engines' RUL model raises a finding (the
	// binding's threshold the dev stack sets).
	DevRULThreshold float64 `env:"DEV_RUL_THRESHOLD" envDefault:"30"`
	// DevTenant is the tenant `smartmaint dev` creates.
	DevTenant string `env:"DEV_TENANT" envDefault:"demo"`
	// DevSMTPAddr is where `smartmaint dev` runs its local mail sink (an
	// SMTP server on loopback) when SMTP_ADDR is unset; "off" runs none.
	DevSMTPAddr string `env:"DEV_SMTP_ADDR" envDefault:"127.0.0.1:1025"`
	// DevSinkAddr is the dev sink's HTTP address: its webhook receiver and
	// the page listing what the mail sink and receiver got; "off" runs
	// neither.
	DevSinkAddr string `env:"DEV_SINK_ADDR" envDefault:"127.0.0.1:8025"`
	// DevSinkDir keeps the dev sink's messages on disk (the newest
	// DevSinkKeep), so `smartmaint dev mail` and restarts see them.
	DevSinkDir string `env:"DEV_SINK_DIR" envDefault:"var/dev/outbox"`
	// DevSinkKeep is how many messages the dev sink keeps.
	DevSinkKeep int `env:"DEV_SINK_KEEP" envDefault:"200"`
}

// Load reads the configuration from the environment.
func Load() (Config, error) {
	var c Config
	if err := env.Parse(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w%s", err, variablesIn(err))
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// variablesIn names the environment variables behind the fields an env
// parse error mentions, since the library reports Go field names.
func variablesIn(err error) string {
	typ := reflect.TypeFor[Config]()
	var names []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		if strings.Contains(err.Error(), `"`+f.Name+`"`) {
			names = append(names, f.Tag.Get("env"))
		}
	}
	if len(names) == 0 {
		return ""
	}
	return " (check " + strings.Join(names, ", ") + ")"
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	switch {
	case c.DatabaseURL == "":
		return fmt.Errorf("config: DATABASE_URL is empty")
	case c.UserLockoutAttempts < 1 || c.UserLockoutWindow <= 0 || c.UserLockoutDuration <= 0:
		return fmt.Errorf("config: USER_LOCKOUT_ATTEMPTS must be at least 1 and USER_LOCKOUT_WINDOW, USER_LOCKOUT_DURATION positive, got %d, %s, %s",
			c.UserLockoutAttempts, c.UserLockoutWindow, c.UserLockoutDuration)
	case c.IngestFlushers < 1:
		return fmt.Errorf("config: INGEST_FLUSHERS must be at least 1, got %d", c.IngestFlushers)
	case c.IngestMaxBatchRows < 1:
		return fmt.Errorf("config: INGEST_MAX_BATCH_ROWS must be at least 1, got %d", c.IngestMaxBatchRows)
	case c.MaxReadingsPerRequest < 1:
		return fmt.Errorf("config: MAX_READINGS_PER_REQUEST must be at least 1, got %d", c.MaxReadingsPerRequest)
	case c.ReadingsRetention < 24*time.Hour:
		return fmt.Errorf("config: READINGS_RETENTION must be at least 24h, got %s", c.ReadingsRetention)
	case c.PartitionLookahead < 24*time.Hour:
		return fmt.Errorf("config: PARTITION_LOOKAHEAD must be at least 24h, got %s", c.PartitionLookahead)
	case c.ModelStore != "folder" && c.ModelStore != "s3":
		return fmt.Errorf("config: MODEL_STORE must be folder or s3, got %q", c.ModelStore)
	case c.ModelStore == "folder" && c.ModelDir == "":
		return fmt.Errorf("config: MODEL_DIR is empty")
	case c.ModelStore == "s3" && c.S3Bucket == "":
		return fmt.Errorf("config: MODEL_STORE=s3 needs S3_BUCKET")
	case c.IdempotencyTTL < time.Minute:
		return fmt.Errorf("config: IDEMPOTENCY_TTL must be at least 1m, got %s", c.IdempotencyTTL)
	case c.ModelMaxUploadBytes < 1:
		return fmt.Errorf("config: MODEL_MAX_UPLOAD_BYTES must be at least 1, got %d", c.ModelMaxUploadBytes)
	case c.ModelReloadInterval < time.Second:
		return fmt.Errorf("config: MODEL_RELOAD_INTERVAL must be at least 1s, got %s", c.ModelReloadInterval)
	case c.DetectSnapshotWindow <= 0:
		return fmt.Errorf("config: DETECT_SNAPSHOT_WINDOW must be positive, got %s", c.DetectSnapshotWindow)
	case c.PreventiveInterval < time.Minute:
		return fmt.Errorf("config: PREVENTIVE_INTERVAL must be at least 1m, got %s", c.PreventiveInterval)
	case c.PreventiveLead < 0:
		return fmt.Errorf("config: PREVENTIVE_LEAD must not be negative, got %s", c.PreventiveLead)
	case c.DriftCheckInterval < time.Minute:
		return fmt.Errorf("config: DRIFT_CHECK_INTERVAL must be at least 1m, got %s", c.DriftCheckInterval)
	case c.DriftWindow < time.Minute || c.RetrainWindow < time.Minute:
		return fmt.Errorf("config: DRIFT_WINDOW and RETRAIN_WINDOW must be at least 1m, got %s and %s", c.DriftWindow, c.RetrainWindow)
	case c.DriftPSIThreshold <= 0:
		return fmt.Errorf("config: DRIFT_PSI_THRESHOLD must be positive, got %g", c.DriftPSIThreshold)
	case c.DriftKSPValue <= 0 || c.DriftKSPValue >= 1:
		return fmt.Errorf("config: DRIFT_KS_PVALUE must be between 0 and 1, got %g", c.DriftKSPValue)
	case c.DriftMinFeatures < 1 || c.DriftMinSamples < 2:
		return fmt.Errorf("config: DRIFT_MIN_FEATURES must be at least 1 and DRIFT_MIN_SAMPLES at least 2, got %d and %d", c.DriftMinFeatures, c.DriftMinSamples)
	case c.RetrainMinRows < 10 || c.RetrainMaxRows < c.RetrainMinRows:
		return fmt.Errorf("config: RETRAIN_MIN_ROWS must be at least 10 and RETRAIN_MAX_ROWS at least RETRAIN_MIN_ROWS, got %d and %d", c.RetrainMinRows, c.RetrainMaxRows)
	case c.RetrainMinImprovement < 0:
		return fmt.Errorf("config: RETRAIN_MIN_IMPROVEMENT must not be negative, got %g", c.RetrainMinImprovement)
	case c.ReportInterval != 0 && c.ReportInterval < time.Hour:
		return fmt.Errorf("config: REPORT_INTERVAL must be 0 (off) or at least 1h, got %s", c.ReportInterval)
	case c.DevRULThreshold <= 0:
		return fmt.Errorf("config: DEV_RUL_THRESHOLD must be positive, got %g", c.DevRULThreshold)
	case c.DevSinkKeep < 1:
		return fmt.Errorf("config: DEV_SINK_KEEP must be at least 1, got %d", c.DevSinkKeep)
	case c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://"):
		return fmt.Errorf("config: PUBLIC_URL must start with http:// or https://, got %q", c.PublicURL)
	case c.RetrainApprovalTimeout <= 0:
		return fmt.Errorf("config: RETRAIN_APPROVAL_TIMEOUT must be positive, got %s", c.RetrainApprovalTimeout)
	}
	if _, err := c.DeniedNetworks(); err != nil {
		return err
	}
	if _, err := c.SMTPImplicitTLS(); err != nil {
		return err
	}
	return nil
}

// SMTPImplicitTLS reports whether SMTPTLS asks for implicit TLS with the
// relay at SMTPAddr.
func (c Config) SMTPImplicitTLS() (bool, error) {
	switch c.SMTPTLS {
	case "implicit":
		return true, nil
	case "starttls":
		return false, nil
	case "auto":
		_, port, _ := net.SplitHostPort(c.SMTPAddr)
		return port == "465", nil
	}
	return false, fmt.Errorf("config: SMTP_TLS must be auto, implicit or starttls, got %q", c.SMTPTLS)
}

// TemporalDBPath is the embedded dev server's SQLite file, "" for a
// server that keeps its history in memory (TEMPORAL_DB_FILE=memory).
func (c Config) TemporalDBPath() string {
	if c.TemporalDBFile == "memory" {
		return ""
	}
	return c.TemporalDBFile
}

// DeniedNetworks parses NotifyDenyNetworks: comma-separated CIDRs, or
// "off" for none (an empty, non-nil slice).
func (c Config) DeniedNetworks() ([]netip.Prefix, error) {
	out := []netip.Prefix{}
	if strings.TrimSpace(c.NotifyDenyNetworks) == "off" {
		return out, nil
	}
	for _, f := range strings.Split(c.NotifyDenyNetworks, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("config: NOTIFY_DENY_NETWORKS: %q is not a CIDR such as 10.0.0.0/8 or fd00::/8 (or use off)", f)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
