package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func TestKeysCommand(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	run := func(args ...string) (string, string, error) {
		var out, info bytes.Buffer
		err := keysCommand(ctx, db, &out, &info, args)
		return out.String(), info.String(), err
	}

	// create: the tenant is made, the key printed once and alone on stdout.
	out, info, err := run("create", "--tenant", "acme", "--name", "line-3", "--scopes", "readings:write, readings:read", "--expires", "720h")
	if err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(out)
	prefix, secret, err := apikey.Parse(key)
	if err != nil {
		t.Fatalf("stdout %q is not a key: %v", out, err)
	}
	if strings.Contains(info, secret) || !strings.Contains(info, prefix) || !strings.Contains(info, "shown only this once") {
		t.Errorf("info = %q", info)
	}
	stored, err := db.APIKeyByPrefix(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if stored.TenantID != "acme" || stored.Name != "line-3" || !slices.Equal(stored.Scopes, []apikey.Scope{apikey.ReadingsWrite, apikey.ReadingsRead}) ||
		stored.ExpiresAt == nil || time.Until(*stored.ExpiresAt) < 719*time.Hour || !apikey.Matches(secret, stored.SecretHash) {
		t.Errorf("stored key = %+v", stored)
	}
	p, err := auth.NewAuthenticator(db, slog.New(slog.DiscardHandler)).Authenticate(ctx, key)
	if err != nil || p.TenantID != "acme" || !p.Can(apikey.ReadingsRead) || p.Can(apikey.Admin) {
		t.Fatalf("authenticate the new key: %+v, %v", p, err)
	}
	if _, _, err := run("create", "--tenant", "rival", "--name", "ops", "--scopes", "admin"); err != nil {
		t.Fatal(err)
	}

	// list: every key or one tenant's, never a secret.
	out, _, err = run("list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, secret) || !strings.Contains(out, prefix) || !strings.Contains(out, "rival") || !strings.Contains(out, "readings:write,readings:read") {
		t.Errorf("list = %q", out)
	}
	out, _, _ = run("list", "--tenant", "acme")
	if strings.Contains(out, "rival") || strings.Count(out, "\n") != 2 || !strings.Contains(out, "active") {
		t.Errorf("list --tenant acme = %q", out)
	}

	// revoke, by prefix or by the whole key.
	if _, _, err := run("revoke", key); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewAuthenticator(db, slog.New(slog.DiscardHandler)).Authenticate(ctx, key); !errors.Is(err, auth.ErrInvalidKey) {
		t.Errorf("revoked key authenticates: %v", err)
	}
	if out, _, _ := run("list", "--tenant", "acme"); !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke = %q", out)
	}
	if _, _, err := run("revoke", prefix); err != nil {
		t.Errorf("revoking twice: %v", err)
	}

	// Mistakes are explained.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"rotate"}, "unknown keys subcommand"},
		{[]string{"create", "--name", "x", "--scopes", "admin"}, "--tenant"},
		{[]string{"create", "--tenant", "acme", "--scopes", "admin"}, "--name"},
		{[]string{"create", "--tenant", "acme", "--name", "x"}, "--scopes"},
		{[]string{"create", "--tenant", "acme", "--name", "x", "--scopes", "readings:delete"}, "unknown scope"},
		{[]string{"create", "--tenant", "acme", "--name", "x", "--scopes", "admin", "--expires", "-1h"}, "positive"},
		{[]string{"revoke"}, "prefix"},
		{[]string{"revoke", "nosuchkey"}, "no key"},
	} {
		if _, _, err := run(tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("keys %v: err = %v, want one mentioning %q", tt.args, err, tt.want)
		}
	}
}
