package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/devsink"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workers"
	"github.com/smartmaint/smartmaint/workflows"
)

// Dev provides the embedded stack of `smartmaint dev`: a Temporal dev server
// with its Web UI, the database created and migrated, an in-process Redis
// when REDIS_URL is unset, a demo tenant with a known API key, and a local
// mail sink and webhook receiver (internal/devsink) that the demo tenant's
// notification channels deliver to.
func Dev() fx.Option {
	return fx.Options(
		fx.Module("dev",
			fx.Supply(&DevMarker{}),
			fx.Provide(newDevServer, migrateOnStart, newDevSink),
			fx.Invoke(bootstrapDev, ensureDemoChannels),
		),
		// At the root, so the API's and the worker's notifier both get it.
		fx.Decorate(devNotifier),
	)
}

// newDevSink starts the mail sink (unless SMTP_ADDR names a real relay or
// DEV_SMTP_ADDR is off) and the webhook receiver (unless DEV_SINK_ADDR is
// off), with a fresh webhook secret each start.
func newDevSink(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*devsink.Sink, error) {
	o := devsink.Options{Dir: cfg.DevSinkDir, Keep: cfg.DevSinkKeep, Log: log.With("component", "devsink")}
	if cfg.SMTPAddr == "" && cfg.DevSMTPAddr != "off" {
		o.SMTPAddr = cfg.DevSMTPAddr
	}
	if cfg.DevSinkAddr != "off" {
		o.HTTPAddr = cfg.DevSinkAddr
		o.WebhookSecret = rand.Text()
	}
	s, err := devsink.Start(o)
	if err != nil {
		return nil, fmt.Errorf("%w (set DEV_SMTP_ADDR and DEV_SINK_ADDR to free ports, or off)", err)
	}
	lc.Append(fx.StopHook(s.Close))
	return s, nil
}

// devNotifier sends email to the dev mail sink when no relay is configured
// and links messages to the dev API when PUBLIC_URL is unset.
func devNotifier(n *notify.Notifier, cfg config.Config, sink *devsink.Sink) *notify.Notifier {
	out := *n
	out.Senders = maps.Clone(n.Senders)
	if e, ok := n.Senders["email"].(*notify.Email); ok && e.Config.Addr == "" && sink.SMTPAddr() != "" {
		mail := *e
		mail.Config.Addr = sink.SMTPAddr()
		out.Senders["email"] = &mail
	}
	if out.PublicURL == "" {
		out.PublicURL = "http://" + loopback(cfg.HTTPAddr)
	}
	return &out
}

// The demo tenant's channels to the dev sink.
const (
	DemoMailChannel    = "dev mail sink"
	DemoWebhookChannel = "dev webhook receiver"
	// DemoMailRecipients is where the demo email channel sends.
	DemoMailRecipients = "maintenance@demo.localhost"
)

// ensureDemoChannels gives the demo tenant an email channel to the mail
// sink and a webhook channel to the receiver, found by name: a restart
// updates them (the receiver's port and secret may have changed) and never
// adds a second copy; the channel of a side turned off is disabled, not
// left failing against a closed port.
func ensureDemoChannels(lc fx.Lifecycle, cfg config.Config, db *store.DB, sink *devsink.Sink) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		have, err := db.ListChannels(ctx, cfg.DevTenant, false)
		if err != nil {
			return err
		}
		mail := store.Channel{Name: DemoMailChannel, Kind: "email", Target: DemoMailRecipients, Enabled: true, MinSeverity: "info"}
		hook := store.Channel{Name: DemoWebhookChannel, Kind: "webhook", Target: sink.WebhookURL(), Secret: sink.WebhookSecret(), Enabled: true, MinSeverity: "info"}
		for _, side := range []struct {
			on bool
			c  store.Channel
		}{{sink.SMTPAddr() != "", mail}, {sink.WebhookURL() != "", hook}} {
			if side.on {
				err = ensureChannel(ctx, db, cfg.DevTenant, have, side.c)
			} else {
				err = disableChannel(ctx, db, cfg.DevTenant, have, side.c.Name)
			}
			if err != nil {
				return fmt.Errorf("demo channel %q: %w", side.c.Name, err)
			}
		}
		return nil
	}))
}

// ensureChannel creates want on tenant, or updates the channel of that name
// among have (secret included).
func ensureChannel(ctx context.Context, db *store.DB, tenant string, have []store.Channel, want store.Channel) error {
	i := slices.IndexFunc(have, func(h store.Channel) bool { return h.Name == want.Name })
	if i < 0 {
		_, err := db.CreateChannel(ctx, tenant, want)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
		// Created meanwhile by another start: update that one.
		if have, err = db.ListChannels(ctx, tenant, false); err != nil {
			return err
		}
		if i = slices.IndexFunc(have, func(h store.Channel) bool { return h.Name == want.Name }); i < 0 {
			return errors.New("name taken but not found")
		}
	}
	want.ID = have[i].ID
	secret := want.Secret
	_, err := db.UpdateChannel(ctx, tenant, want, &secret)
	return err
}

// disableChannel disables the enabled channel named name among have.
func disableChannel(ctx context.Context, db *store.DB, tenant string, have []store.Channel, name string) error {
	i := slices.IndexFunc(have, func(h store.Channel) bool { return h.Name == name && h.Enabled })
	if i < 0 {
		return nil
	}
	c := have[i]
	c.Enabled = false
	_, err := db.UpdateChannel(ctx, tenant, c, nil)
	return err
}

func newDevServer(lc fx.Lifecycle, cfg config.Config, log *slog.Logger) (*devserver.Server, error) {
	host, port, err := splitHostPort(cfg.TemporalAddress)
	if err != nil {
		return nil, err
	}
	namespaces := []string{"default"}
	if cfg.TemporalNamespace != "default" {
		namespaces = append(namespaces, cfg.TemporalNamespace)
	}
	s, err := devserver.Start(devserver.Options{
		IP:         host,
		Port:       port,
		UIPort:     cfg.TemporalUIPort,
		DBFile:     cfg.TemporalDBPath(),
		Namespaces: namespaces,
		Logger:     log.With("component", "temporal-server"),
		LogLevel:   slog.LevelWarn,
	})
	if err != nil {
		return nil, fmt.Errorf("start embedded temporal server (is another one running on %s?): %w", cfg.TemporalAddress, err)
	}
	lc.Append(fx.StopHook(s.Stop))
	return s, nil
}

func migrateOnStart(cfg config.Config, log *slog.Logger) (SchemaReady, error) {
	return SchemaReady{}, Migrate(context.Background(), cfg, log)
}

// Migrate creates the database when missing, applies migrations and makes
// sure the readings partitions around now exist.
func Migrate(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	if err := store.EnsureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	if err := store.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	created, err := db.EnsurePartitions(ctx, now.Add(-cfg.ReadingsRetention), now.Add(cfg.PartitionLookahead))
	if err != nil {
		return err
	}
	log.Info("database schema is current", "timescale", db.Timescale, "partitions_created", len(created))
	return nil
}

// EnsureDevKey registers key (all scopes) for tenant unless it exists.
func EnsureDevKey(ctx context.Context, db *store.DB, tenant, key string) error {
	if err := db.EnsureTenant(ctx, tenant, strings.ToUpper(tenant[:1])+tenant[1:]+" (dev)"); err != nil {
		return err
	}
	prefix, secret, err := apikey.Parse(key)
	if err != nil {
		return fmt.Errorf("DEV_API_KEY: %w", err)
	}
	if _, err := db.APIKeyByPrefix(ctx, prefix); err == nil {
		return nil
	}
	_, err = db.CreateAPIKey(ctx, tenant, "dev", prefix, apikey.Hash(secret), []apikey.Scope{apikey.Admin}, nil)
	if err != nil {
		return fmt.Errorf("register dev api key: %w", err)
	}
	return nil
}

func bootstrapDev(lc fx.Lifecycle, cfg config.Config, db *store.DB) {
	lc.Append(fx.StartHook(func(ctx context.Context) error {
		if err := EnsureDevKey(ctx, db, cfg.DevTenant, cfg.DevAPIKey); err != nil {
			return err
		}
		return EnsureDemoUsers(ctx, cfg, db, cfg.DevTenant)
	}))
}

// DevSimulator replays the DEV_FLEETS against the dev API when
// DEV_SIMULATE is true, so incidents arrive within a minute of `make run`
// and the engines' and bearing rig's RUL and health findings within a few.
// It also registers a demo crew with preventive schedules (on a tenant
// without technicians) and then runs the preventive maintenance schedule
// once, so the first preventive work order is there at once too.
func DevSimulator() fx.Option {
	return fx.Invoke(func(lc fx.Lifecycle, cfg config.Config, log *slog.Logger, c client.Client, db *store.DB) {
		if !cfg.DevSimulate {
			return
		}
		runInBackground(lc, func(ctx context.Context) {
			err := simulate.Run(ctx, devSimulatorOptions(cfg, log, func(ctx context.Context) {
				linkDemoTechnicianLogged(ctx, cfg, db, log)
				runPreventiveNow(ctx, cfg, c, log)
			}))
			if err != nil && ctx.Err() == nil {
				log.Error("simulator stopped", "error", err)
			}
		})
	})
}

// devSimulatorOptions are the dev simulator's settings from cfg.
func devSimulatorOptions(cfg config.Config, log *slog.Logger, afterSetup func(context.Context)) simulate.Options {
	return simulate.Options{
		BaseURL: "http://" + loopback(cfg.HTTPAddr), APIKey: cfg.DevAPIKey, Logger: log, Crew: true, AfterSetup: afterSetup,
		Fleets:   cfg.DevFleets,
		Engines:  simulate.EngineOptions{Units: cfg.DevEngineUnits, Lead: cfg.DevEngineLead, Stagger: cfg.DevEngineStagger, Tick: cfg.DevEngineTick},
		Bearings: simulate.BearingOptions{Start: cfg.DevBearingStart, Tick: cfg.DevBearingTick},
	}
}

// runPreventiveNow triggers the preventive maintenance schedule once.
func runPreventiveNow(ctx context.Context, cfg config.Config, c client.Client, log *slog.Logger) {
	id := workers.ScheduleID(cfg.TemporalTaskQueue, workflows.PreventiveMaintenanceScheduleID)
	// ALLOW_ALL: the run at worker start may still be going; this one must
	// not be skipped, it is the one that sees the crew's schedules.
	if err := c.ScheduleClient().GetHandle(ctx, id).Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL}); err != nil {
		log.Warn("run the preventive maintenance schedule", "schedule", id, "error", err)
	}
}

// loopback turns a listen address such as ":8080" into one to dial.
func loopback(addr string) string {
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr
	}
	return addr
}

// DevBanner prints where everything is once the whole stack has started;
// pass it last so its start hook runs after the others.
func DevBanner() fx.Option {
	return fx.Invoke(func(lc fx.Lifecycle, cfg config.Config, dev *devserver.Server, sink *devsink.Sink) {
		lc.Append(fx.StartHook(func() {
			api := loopback(cfg.HTTPAddr)
			sim := "off (DEV_SIMULATE=false)"
			if cfg.DevSimulate {
				sim = "replaying " + cfg.DevFleets + " (docs/SIMULATOR.md)"
			}
			fmt.Printf(`
smartmaint dev is running
  API          http://%s   (X-API-Key: %s, tenant %q)
  Temporal UI  %s
  Temporal     %s
  Operator UI  http://%s/ui/   (sign in with the key above)
  Users        %s
  API docs     http://%s/api/v1/docs
  Metrics      %s
  Simulator    %s
%sPress Ctrl-C to stop.

`, api, cfg.DevAPIKey, cfg.DevTenant, dev.UIURL(), dev.Address(), api, usersBanner(cfg), api, metricsBanner(cfg), sim, sinkBanner(cfg, sink))
		}))
	})
}

// sinkBanner is the banner's lines about the mail sink and receiver.
func sinkBanner(cfg config.Config, sink *devsink.Sink) string {
	var b strings.Builder
	if a := sink.SMTPAddr(); a != "" {
		fmt.Fprintf(&b, "  Mail sink    smtp://%s   (channel %q → %s)\n", a, DemoMailChannel, DemoMailRecipients)
	} else if cfg.SMTPAddr != "" {
		fmt.Fprintf(&b, "  Mail         via SMTP_ADDR %s (no dev mail sink)\n", cfg.SMTPAddr)
	}
	if u := sink.URL(); u != "" {
		fmt.Fprintf(&b, "  Webhooks     %s   (channel %q, signature checked)\n", sink.WebhookURL(), DemoWebhookChannel)
		fmt.Fprintf(&b, "  Sent mail    %s/   or: smartmaint dev mail   (kept in %s)\n", u, cfg.DevSinkDir)
	} else if sink.SMTPAddr() != "" {
		fmt.Fprintf(&b, "  Sent mail    smartmaint dev mail   (kept in %s)\n", cfg.DevSinkDir)
	}
	return b.String()
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("TEMPORAL_ADDRESS %q is not host:port: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("TEMPORAL_ADDRESS %q has no numeric port", addr)
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	return host, port, nil
}

// metricsBanner says where the admin listener serves /metrics.
func metricsBanner(cfg config.Config) string {
	if cfg.AdminAddr == "off" {
		return "off (ADMIN_ADDR=off)"
	}
	return "http://" + loopback(cfg.AdminAddr) + "/metrics   (admin listener, ADMIN_ADDR)"
}
