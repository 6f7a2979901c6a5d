// Package testenv gives tests real, throwaway infrastructure: a fresh
// PostgreSQL database per call (migrated, dropped at the end of the test) and
// an isolated key prefix on the local Redis. Nothing depends on what an
// earlier run left behind.
//
// TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres)
// names the server and an existing database to connect to for CREATE
// DATABASE; TEST_REDIS_URL (default redis://127.0.0.1:6379/0) names Redis.
package testenv

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/smartmaint/smartmaint/internal/requestid"
	"github.com/smartmaint/smartmaint/internal/store"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// AdminURL is the connection string tests use to create databases.
func AdminURL() string {
	return env("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
}

// DatabaseURL creates an empty database and returns its URL; the database is
// dropped when the test ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := pgx.ParseConfig(AdminURL())
	if err != nil {
		t.Fatalf("testenv: TEST_DATABASE_URL: %v", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("testenv: connect to PostgreSQL at %s:%d: %v (is it running?)", cfg.Host, cfg.Port, err)
	}
	defer conn.Close(ctx)
	name := "smartmaint_test_" + requestid.New()[:16]
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop %s: %v", name, err)
		}
	})
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", userinfo(cfg), cfg.Host, cfg.Port, name)
}

func userinfo(cfg *pgx.ConnConfig) string {
	if cfg.Password != "" {
		return cfg.User + ":" + cfg.Password
	}
	return cfg.User
}

// DB creates a migrated throwaway database and returns an open pool on it.
func DB(t testing.TB) (*store.DB, string) {
	t.Helper()
	url := DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := store.Migrate(ctx, url); err != nil {
		t.Fatalf("testenv: migrate: %v", err)
	}
	db, err := store.Open(ctx, url, 8)
	if err != nil {
		t.Fatalf("testenv: open: %v", err)
	}
	t.Cleanup(db.Close)
	return db, url
}

// RedisURL is the Redis tests use.
func RedisURL() string { return env("TEST_REDIS_URL", "redis://127.0.0.1:6379/0") }

// Redis returns a client on the local Redis and a key prefix unique to this
// test; keys under the prefix are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testenv: TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: redis at %s: %v (is it running?)", opts.Addr, err)
	}
	prefix := "smartmaint-test:" + requestid.New()[:12] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		c.Close()
	})
	return c, prefix
}

// Tenant creates a tenant in db and returns its id.
func Tenant(t testing.TB, db *store.DB, id string) string {
	t.Helper()
	if err := db.EnsureTenant(context.Background(), id, strings.ToUpper(id)); err != nil {
		t.Fatalf("testenv: tenant: %v", err)
	}
	return id
}
