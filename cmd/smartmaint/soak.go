package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"time"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/loadtest"
)

// runSoak holds a mixed load on an API on this machine (loopback only) for
// a long stretch and reports throughput, latency, errors and the API's
// memory per minute, then checks that every acknowledged reading was
// committed. It fails on any lost reading or unexpected answer.
func runSoak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	rates := loadtest.DefaultSoakRates()
	var (
		apiURL   = fs.String("url", "", "API base URL on loopback (default: spawn `smartmaint api` on a fresh database)")
		duration = fs.Duration("duration", 10*time.Minute, "how long to hold the load")
		interval = fs.Duration("interval", time.Minute, "length of one report row")
		single   = fs.Int("single", rates[loadtest.KindSingle], "single-reading POSTs per second")
		batches  = fs.Int("batches", rates[loadtest.KindBatch], "batch POSTs per second")
		size     = fs.Int("batch-size", 100, "readings per batch")
		queries  = fs.Int("queries", rates[loadtest.KindQuery], "reading queries per second")
		invalid  = fs.Int("invalid", rates[loadtest.KindInvalid], "invalid requests per second")
		dups     = fs.Int("duplicates", rates[loadtest.KindDuplicate], "Idempotency-Key requests per second (each key is sent twice)")
		workers  = fs.Int("workers", 256, "concurrent requests at most")
		assets   = fs.Int("assets", 20, "assets to spread readings over")
		sensors  = fs.Int("sensors", 5, "sensors per asset")
		tenant   = fs.String("tenant", "soak", "tenant to create and measure")
		dbName   = fs.String("db-name", "smartmaint_soak", "database name for a spawned API (dropped and recreated)")
		jsonOut  = fs.String("json", "", "also write the report as JSON to this file")
		iso      = isolationFlags(fs)
	)
	fs.Parse(args)
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	if *apiURL != "" {
		if err := requireLoopback(*apiURL); err != nil {
			return err
		}
	}
	base, _, db, stop, err := openTarget(ctx, cfg, *apiURL, *dbName, "api", iso())
	if err != nil {
		return err
	}
	defer stop()
	*apiURL = base
	key, err := setupAndWarm(ctx, loadtest.Options{BaseURL: *apiURL, DB: db, Tenant: *tenant, Assets: *assets, SensorsPerAsset: *sensors}, 5*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("soak: %s against %s, per second: %d single, %d batches of %d, %d queries, %d invalid, %d duplicated\n\n%s\n",
		*duration, *apiURL, *single, *batches, *size, *queries, *invalid, *dups, loadtest.SoakHeader)
	rep, err := loadtest.Soak(ctx, loadtest.SoakOptions{
		BaseURL: *apiURL, DB: db, Tenant: *tenant, Key: key, Assets: *assets, SensorsPerAsset: *sensors,
		Duration: *duration, Interval: *interval, BatchSize: *size, Workers: *workers, Progress: os.Stdout,
		Rates: map[string]int{loadtest.KindSingle: *single, loadtest.KindBatch: *batches, loadtest.KindQuery: *queries,
			loadtest.KindInvalid: *invalid, loadtest.KindDuplicate: *dups},
	})
	if err != nil {
		return err
	}
	fmt.Println()
	fmt.Print(rep.String())
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonOut, b, 0o644); err != nil {
			return err
		}
	}
	switch {
	case rep.Lost > 0:
		return fmt.Errorf("%d acknowledged readings are missing", rep.Lost)
	case rep.Extra > 0:
		return fmt.Errorf("%d readings were stored twice or without an acknowledgement", rep.Extra)
	case rep.Errors > 0:
		return fmt.Errorf("%d unexpected answers: %v", rep.Errors, rep.ErrorKinds)
	}
	return nil
}

// requireLoopback refuses to load anything but this machine.
func requireLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url %s is not on loopback; soak only loads this machine", raw)
}
