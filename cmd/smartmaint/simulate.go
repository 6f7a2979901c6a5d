package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/simulate"
)

// runSimulate replays the datasets as sensors against a running API.
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
		fmt.Fprintln(fs.Output(), "usage: smartmaint simulate [flags]\n\nReplays the AI4I 2020 dataset as milling-machine sensors with injected faults,\nand with --fleets C-MAPSS turbofan engines and the IMS bearing rig, and sends\nthe readings to the API. See docs/SIMULATOR.md.\n\nflags:")
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
	fs.StringVar(&o.Fleets, "fleets", simulate.MillingFleet, "fleets to replay: all or a comma-separated list of "+strings.Join(simulate.Fleets, ","))
	e, bo := simulate.DefaultEngineOptions(), simulate.DefaultBearingOptions()
	fs.Func("engine-units", "turbofan-engine: C-MAPSS FD001 test engines to replay (default "+joinInts(e.Units)+")", func(v string) error {
		var err error
		o.Engines.Units, err = parseInts(v)
		return err
	})
	fs.IntVar(&o.Engines.Lead, "engine-lead", e.Lead, "turbofan-engine: cycles before the end of its record the first engine starts")
	fs.IntVar(&o.Engines.Stagger, "engine-stagger", e.Stagger, "turbofan-engine: each next engine starts this many cycles earlier")
	fs.DurationVar(&o.Engines.Tick, "engine-tick", e.Tick, "turbofan-engine: real time of one cycle")
	fs.IntVar(&o.Bearings.Start, "bearing-start", bo.Start, "bearing-rig: IMS set No. 2 snapshot to start at (0-983)")
	fs.DurationVar(&o.Bearings.Tick, "bearing-tick", bo.Tick, "bearing-rig: real time of one snapshot")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the random faults (spikes, dropouts)")
	fs.StringVar(&data, "dataset", "", "path of ai4i2020.csv (default: found under shared/datasets or $SMARTMAINT_DATASETS)")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	if data != "" {
		if o.Records, err = dataset.LoadAI4I(data); err != nil {
			return err
		}
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

// parseInts reads a comma-separated list of integers.
func parseInts(v string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, fmt.Errorf("%q is not a list of integers", v)
		}
		out = append(out, n)
	}
	return out, nil
}

// joinInts writes a comma-separated list of integers.
func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}
