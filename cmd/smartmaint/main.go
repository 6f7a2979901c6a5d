// Command smartmaint is the predictive-maintenance platform in one binary.
//
//	smartmaint dev        the whole stack in one process (Temporal dev server + UI, API, worker)
//	smartmaint dev mail   what the dev stack's mail sink and webhook receiver got
//	smartmaint api        the HTTP API
//	smartmaint worker     the Temporal worker
//	smartmaint migrate    create the database if missing and apply migrations
//	smartmaint loadtest   drive the ingest API and report throughput and latency
//	smartmaint backtest   replay a dataset through the detectors and models
//	smartmaint models     upload, list, promote and roll back registry models (import|list|promote|rollback)
//
// Settings come from environment variables; see docs/CONFIG.md.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/internal/app"
	"github.com/smartmaint/smartmaint/internal/config"
)

type command struct {
	name, summary string
	run           func(args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"dev", "run the whole stack in one process on embedded defaults (dev mail: what its mail sink and webhook receiver got)", runDev},
		{"api", "run the HTTP API", runAPI},
		{"worker", "run the Temporal worker", runWorker},
		{"migrate", "create the database if missing and apply migrations", runMigrate},
		{"keys", "create, list and revoke API keys (create|list|revoke)", runKeys},
		{"healthcheck", "exit 0 when a running API answers /health/ready with 200 (container healthcheck)", runHealthcheck},
		{"loadtest", "drive the ingest API and report throughput and latency", runLoadtest},
		{"soak", "hold a mixed load on a local API for minutes; report drift, errors and durability", runSoak},
		{"simulate", "replay the AI4I dataset as sensors with injected faults against the API", runSimulate},
		{"train", "train a model on a dataset with cross-validation and write the model file", runTrain},
		{"models", "upload, list, promote and roll back registry models through the API (import|list|promote|rollback)", runModels},
		{"backtest", "replay a dataset through the detectors and models; alarms, lead times, RUL error", runBacktest},
		{"histories", "export workflow histories as JSON for the replay tests", runHistories},
	}
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage()
		os.Exit(2)
	}
	for _, c := range commands {
		if c.name == os.Args[1] {
			if err := c.run(os.Args[2:]); err != nil {
				fmt.Fprintf(os.Stderr, "smartmaint %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "smartmaint: unknown command %q\n\n", os.Args[1])
	usage()
	os.Exit(2)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: smartmaint <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(os.Stderr, "\nSettings come from environment variables; see docs/CONFIG.md.")
}

// runFx runs an fx application until SIGINT or SIGTERM.
func runFx(opts ...fx.Option) error {
	a := fx.New(append(opts, fx.StartTimeout(2*time.Minute), fx.StopTimeout(30*time.Second))...)
	if err := a.Err(); err != nil {
		return err
	}
	a.Run()
	return nil
}

func loadConfig() (config.Config, error) {
	return config.Load()
}

func runDev(args []string) error {
	if len(args) > 0 && args[0] == "mail" {
		return runDevMail(args[1:])
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	return runFx(app.Core(cfg), app.Dev(), app.API(), app.Worker(), app.DevSimulator(), app.DevBanner())
}

func runAPI(args []string) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	return runFx(app.Core(cfg), app.WithoutMigrations(), app.API())
}

func runWorker(args []string) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	return runFx(app.Core(cfg), app.WithoutMigrations(), app.Worker())
}

func runMigrate(args []string) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return app.Migrate(ctx, cfg, app.NewLogger(cfg))
}
