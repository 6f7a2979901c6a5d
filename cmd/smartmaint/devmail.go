package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/devsink"
)

// runDevMail prints what the dev stack's mail sink and webhook receiver
// kept in DEV_SINK_DIR, newest first; the dev stack need not be running.
func runDevMail(args []string) error {
	fs := flag.NewFlagSet("dev mail", flag.ExitOnError)
	n := fs.Int("n", 10, "show the newest n messages (0: all kept)")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("dev mail takes no arguments, got %q", fs.Args())
	}
	if *n < 0 {
		return fmt.Errorf("-n must not be negative, got %d", *n)
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	entries, err := devsink.ReadDir(cfg.DevSinkDir)
	if err != nil {
		return err
	}
	if *n > 0 && len(entries) > *n {
		entries = entries[len(entries)-*n:]
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	fmt.Printf("%d message(s) in %s\n\n", len(entries), cfg.DevSinkDir)
	return devsink.WriteText(os.Stdout, entries)
}
