// Package auth turns an API key into a Principal: the tenant it acts for and
// the scopes it holds. Verified keys are cached for a short time so the hot
// path costs a map lookup, not a database round trip; revocation therefore
// takes effect within CacheTTL.
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Errors from Authenticate.
var (
	ErrNoKey      = errors.New("auth: no API key")
	ErrInvalidKey = errors.New("auth: invalid API key")
)

// Principal is who a request acts as.
type Principal struct {
	TenantID  string
	KeyPrefix string
	KeyName   string
	Scopes    []apikey.Scope
}

// Can reports whether p holds scope.
func (p Principal) Can(scope apikey.Scope) bool { return apikey.Has(p.Scopes, scope) }

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// CacheTTL is how long a verified key is trusted without asking PostgreSQL.
const CacheTTL = 30 * time.Second

// Authenticator verifies keys against the api_keys table.
type Authenticator struct {
	db  *store.DB
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	cache map[string]cached // full key → verdict
	used  map[string]time.Time
}

type cached struct {
	p       Principal
	err     error
	expires time.Time
}

// NewAuthenticator returns an Authenticator over db.
func NewAuthenticator(db *store.DB, log *slog.Logger) *Authenticator {
	return &Authenticator{db: db, log: log, now: time.Now, cache: map[string]cached{}, used: map[string]time.Time{}}
}

// Authenticate returns the principal of key.
func (a *Authenticator) Authenticate(ctx context.Context, key string) (Principal, error) {
	if key == "" {
		return Principal{}, ErrNoKey
	}
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[key]
	if ok && now.Before(c.expires) {
		if c.err == nil {
			a.used[c.p.KeyPrefix] = now
		}
		a.mu.Unlock()
		return c.p, c.err
	}
	a.mu.Unlock()

	p, err := a.verify(ctx, key, now)
	if err != nil && !errors.Is(err, ErrInvalidKey) {
		return Principal{}, err // database trouble: do not cache
	}
	a.mu.Lock()
	if len(a.cache) > 100_000 {
		clear(a.cache) // bounded memory under a flood of made-up keys
	}
	a.cache[key] = cached{p: p, err: err, expires: now.Add(CacheTTL)}
	if err == nil {
		a.used[p.KeyPrefix] = now
	}
	a.mu.Unlock()
	return p, err
}

func (a *Authenticator) verify(ctx context.Context, key string, now time.Time) (Principal, error) {
	prefix, secret, err := apikey.Parse(key)
	if err != nil {
		return Principal{}, ErrInvalidKey
	}
	k, err := a.db.APIKeyByPrefix(ctx, prefix)
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, ErrInvalidKey
	}
	if err != nil {
		return Principal{}, fmt.Errorf("auth: %w", err)
	}
	if !apikey.Matches(secret, k.SecretHash) || !k.Active(now) {
		return Principal{}, ErrInvalidKey
	}
	return Principal{TenantID: k.TenantID, KeyPrefix: k.Prefix, KeyName: k.Name, Scopes: k.Scopes}, nil
}

// Forget drops cached verdicts so a revocation takes effect at once in this
// process.
func (a *Authenticator) Forget() {
	a.mu.Lock()
	clear(a.cache)
	a.mu.Unlock()
}

// RecordUse writes the last-used times gathered since the previous call.
// Run it periodically; it is not on the request path.
func (a *Authenticator) RecordUse(ctx context.Context) error {
	a.mu.Lock()
	used := a.used
	a.used = map[string]time.Time{}
	a.mu.Unlock()
	return a.db.TouchAPIKeys(ctx, used)
}
