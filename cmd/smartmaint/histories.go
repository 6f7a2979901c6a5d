package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/replay"
)

// runHistories exports workflow histories from the Temporal server at
// TEMPORAL_ADDRESS as JSON files for the replay tests (docs/DEVELOPMENT.md).
func runHistories(args []string) error {
	fs := flag.NewFlagSet("histories", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: smartmaint histories -dir DIR [flags]\n\nWrites the histories of the workflows on TEMPORAL_ADDRESS (namespace\nTEMPORAL_NAMESPACE) as JSON files that worker.WorkflowReplayer reads; the\nreplay tests replay workflows/testdata/histories. See docs/DEVELOPMENT.md.\n\nflags:")
		fs.PrintDefaults()
	}
	dir := fs.String("dir", "workflows/testdata/histories", "folder to write the histories to")
	query := fs.String("query", "", "visibility query, for example \"WorkflowType = 'Incident'\" (default: every workflow)")
	perType := fs.Int("per-type", 5, "histories kept per workflow type, longest first")
	prefix := fs.String("prefix", "", "prefix of every file name, for example the version that recorded them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		return fmt.Errorf("connect to temporal at %s: %w", cfg.TemporalAddress, err)
	}
	defer c.Close()
	files, err := replay.Export(ctx, c, *dir, replay.Options{Query: *query, PerType: *perType, Prefix: *prefix})
	if err != nil {
		return err
	}
	for _, f := range files {
		fmt.Println(f)
	}
	fmt.Fprintf(os.Stderr, "%d histories written to %s\n", len(files), *dir)
	return nil
}
