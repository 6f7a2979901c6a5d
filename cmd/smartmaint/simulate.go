package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/simulate"
)

// runSimulate replays the AI4I dataset as sensors against a running API.
func runSimulate(args []string) error {
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	d := simulate.DefaultOptions()
	var o simulate.Options
	var data string
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: smartmaint simulate [flags]\n\nReplays the AI4I 2020 dataset as milling-machine sensors with injected faults\nand sends the readings to the API. See docs/SIMULATOR.md.\n\nflags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&o.BaseURL, "url", envOr("SMARTMAINT_URL", localURL(cfg.HTTPAddr)), "API base URL ($SMARTMAINT_URL)")
	fs.StringVar(&o.APIKey, "api-key", envOr("SMARTMAINT_API_KEY", cfg.DevAPIKey), "API key sent as X-API-Key ($SMARTMAINT_API_KEY; default DEV_API_KEY, the key of smartmaint dev)")
	fs.Float64Var(&o.Speedup, "speedup", d.Speedup, "how many times faster than the machine time the records are replayed")
	fs.DurationVar(&o.Interval, "interval", d.Interval, "machine time between two dataset records")
	fs.IntVar(&o.Assets, "assets", d.Assets, "number of simulated milling machines (mill-01 …)")
	fs.IntVar(&o.Batch, "batch", d.Batch, "most readings in one request")
	fs.DurationVar(&o.Duration, "duration", 0, "stream readings for this long once the assets are registered (0: until interrupted)")
	fs.StringVar(&o.Faults, "faults", d.Faults, "faults to inject: all, none or a comma-separated list of "+strings.Join(simulate.FaultKinds, ","))
	fs.BoolVar(&o.Crew, "crew", d.Crew, "register a demo crew (two technicians) and a monthly lubrication schedule per machine, unless the tenant has technicians")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the random faults (spikes, dropouts)")
	fs.StringVar(&data, "dataset", "", "path of ai4i2020.csv (default: found under shared/datasets or $SMARTMAINT_DATASETS)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if data == "" {
		if data, err = dataset.AI4IPath(); err != nil {
			return err
		}
	}
	if o.Records, err = dataset.LoadAI4I(data); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return simulate.Run(ctx, o)
}

// localURL turns a listen address such as ":8080" into a URL to reach it.
func localURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
