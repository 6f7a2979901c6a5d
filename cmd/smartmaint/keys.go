package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/store"
)

const keysUsage = `usage:
  smartmaint keys create --tenant <id> --name <name> --scopes <scope,...> [--expires <duration>]
  smartmaint keys list [--tenant <id>]
  smartmaint keys revoke <prefix or key>

scopes: readings:write, readings:read, incidents:decide, models:write, admin (admin implies all)`

// runKeys manages API keys in the database named by DATABASE_URL.
func runKeys(args []string) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := store.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	return keysCommand(ctx, db, os.Stdout, os.Stderr, args)
}

// keysCommand runs one keys subcommand. A new key goes to out alone (so
// `KEY=$(smartmaint keys create …)` works); everything else to info.
func keysCommand(ctx context.Context, db *store.DB, out, info io.Writer, args []string) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	switch args[0] {
	case "create":
		return createKey(ctx, db, out, info, args[1:])
	case "list":
		return listKeys(ctx, db, out, args[1:])
	case "revoke":
		return revokeKey(ctx, db, info, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(info, keysUsage)
		return nil
	}
	return fmt.Errorf("unknown keys subcommand %q\n%s", args[0], keysUsage)
}

func createKey(ctx context.Context, db *store.DB, out, info io.Writer, args []string) error {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	fs.SetOutput(info)
	tenant := fs.String("tenant", "", "tenant the key acts for (created when missing)")
	name := fs.String("name", "", "what the key is for, e.g. line-3-gateway")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: no expiry)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("keys create: unexpected argument %q", fs.Arg(0))
	case *tenant == "":
		return errors.New("keys create: --tenant is required")
	case strings.TrimSpace(*name) == "":
		return errors.New("keys create: --name is required")
	case *scopes == "":
		return errors.New("keys create: --scopes is required (readings:write, readings:read, incidents:decide, models:write, admin)")
	case *expires < 0:
		return errors.New("keys create: --expires must be positive")
	}
	granted, err := apikey.ParseScopes(strings.Split(*scopes, ","))
	if err != nil {
		return fmt.Errorf("keys create: %w", err)
	}
	var expiresAt *time.Time
	if *expires > 0 {
		t := time.Now().Add(*expires).UTC()
		expiresAt = &t
	}
	if err := db.EnsureTenant(ctx, *tenant, *tenant); err != nil {
		return err
	}
	key, prefix, hash := apikey.Generate()
	k, err := db.CreateAPIKey(ctx, *tenant, strings.TrimSpace(*name), prefix, hash, granted, expiresAt)
	if err != nil {
		return err
	}
	expiry := "never"
	if k.ExpiresAt != nil {
		expiry = k.ExpiresAt.Format(time.RFC3339)
	}
	fmt.Fprintf(info, "created API key %q for tenant %s: prefix %s, scopes %s, expires %s\n",
		k.Name, k.TenantID, k.Prefix, joinScopes(k.Scopes), expiry)
	fmt.Fprintln(info, "store the key now: it is shown only this once (smartmaint keeps a hash)")
	fmt.Fprintln(out, key)
	return nil
}

func listKeys(ctx context.Context, db *store.DB, out io.Writer, args []string) error {
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	fs.SetOutput(out)
	tenant := fs.String("tenant", "", "only this tenant's keys (default: every tenant)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	keys, err := db.ListAPIKeys(ctx, *tenant)
	if err != nil {
		return err
	}
	now := time.Now()
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PREFIX\tTENANT\tNAME\tSCOPES\tSTATUS\tCREATED\tEXPIRES\tLAST USED")
	for _, k := range keys {
		status := "active"
		switch {
		case k.RevokedAt != nil:
			status = "revoked " + k.RevokedAt.UTC().Format(time.DateOnly)
		case !k.Active(now):
			status = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.Prefix, k.TenantID, k.Name, joinScopes(k.Scopes), status,
			k.CreatedAt.UTC().Format(time.DateOnly), dateOr(k.ExpiresAt, "never"), dateOr(k.LastUsedAt, "never"))
	}
	return tw.Flush()
}

func revokeKey(ctx context.Context, db *store.DB, info io.Writer, args []string) error {
	if len(args) != 1 {
		return errors.New("keys revoke: give the key's prefix (see smartmaint keys list)")
	}
	prefix := args[0]
	if p, _, err := apikey.Parse(prefix); err == nil {
		prefix = p // a whole key works too
	}
	if err := db.RevokeAPIKey(ctx, prefix); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("keys revoke: no key with prefix %q", prefix)
		}
		return err
	}
	fmt.Fprintf(info, "revoked key %s; running API replicas refuse it within 30 s (their verdict cache)\n", prefix)
	return nil
}

func joinScopes(scopes []apikey.Scope) string {
	names := make([]string, len(scopes))
	for i, s := range scopes {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

func dateOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}
