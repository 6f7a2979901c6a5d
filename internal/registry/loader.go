package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smartmaint/smartmaint/internal/registry/artifact"
)

// Loaded is a model a Loader serves. It is never modified once published.
type Loaded[T any] struct {
	Model    T
	Version  Version
	LoadedAt time.Time
}

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	// Alias is the alias to serve; Champion when empty.
	Alias string
	// Kind restricts the Loader to versions of one kind, the one its decode
	// function reads; empty loads every kind.
	Kind string
	// Interval is how often the aliases are polled, the fallback for missed
	// notifications; 10s when zero.
	Interval time.Duration
	// RetryFailed is how long a version that failed to load is left alone
	// before the next attempt; one minute when zero.
	RetryFailed time.Duration
	// Logger defaults to the registry's.
	Logger *slog.Logger
}

type modelKey struct{ tenant, name string }

type failure struct {
	version int
	at      time.Time
}

// Loader keeps the version holding an alias of every model of every tenant
// decoded in memory. Get is a lock-free atomic load. Run reloads when a
// promotion is announced on Redis and polls the aliases as a fallback.
// A version whose artifact cannot be fetched, verified or decoded never
// replaces the one being served: the failure is logged and counted in
// smartmaint_model_load_failures_total.
type Loader[T any] struct {
	reg    *Registry
	decode func([]byte) (T, error)
	alias  string
	kind   string
	every  time.Duration
	retry  time.Duration
	log    *slog.Logger

	// models is replaced, never modified: readers need no lock.
	models atomic.Pointer[map[modelKey]*Loaded[T]]

	mu     sync.Mutex // serialises Refresh; guards failed
	failed map[modelKey]failure

	ready     chan struct{}
	readyOnce sync.Once
}

// NewLoader returns a Loader of reg's models decoded by decode. Call Run
// (or at least Refresh) before Get finds anything.
func NewLoader[T any](reg *Registry, decode func([]byte) (T, error), opts LoaderOptions) *Loader[T] {
	l := &Loader[T]{
		reg: reg, decode: decode, alias: opts.Alias, kind: opts.Kind, every: opts.Interval, retry: opts.RetryFailed, log: opts.Logger,
		failed: map[modelKey]failure{}, ready: make(chan struct{}),
	}
	if l.alias == "" {
		l.alias = Champion
	}
	if l.every <= 0 {
		l.every = 10 * time.Second
	}
	if l.retry <= 0 {
		l.retry = time.Minute
	}
	if l.log == nil {
		l.log = reg.log
	}
	l.log = l.log.With("alias", l.alias)
	empty := map[modelKey]*Loaded[T]{}
	l.models.Store(&empty)
	return l
}

// Get returns the model name of tenant that the Loader serves, if any.
func (l *Loader[T]) Get(tenant, name string) (*Loaded[T], bool) {
	m, ok := (*l.models.Load())[modelKey{tenant, name}]
	return m, ok
}

// Ready is closed once Run has subscribed to notifications and made its
// first Refresh.
func (l *Loader[T]) Ready() <-chan struct{} { return l.ready }

// Run serves until ctx ends: it subscribes to the registry's channel (when
// the registry has Redis), refreshes, then refreshes again on every
// notification for its alias and every Interval.
func (l *Loader[T]) Run(ctx context.Context) error {
	var notes <-chan *redis.Message
	if rdb := l.reg.redis; rdb != nil {
		ps := rdb.Subscribe(ctx, l.reg.channel)
		defer ps.Close()
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if _, err := ps.Receive(sctx); err != nil {
			l.log.WarnContext(ctx, "subscribe to model changes; polling until Redis answers", "channel", l.reg.channel, "interval", l.every, "error", err)
		}
		cancel()
		notes = ps.Channel()
	}
	if err := l.Refresh(ctx); err != nil {
		l.log.WarnContext(ctx, "load models", "error", err)
	}
	l.readyOnce.Do(func() { close(l.ready) })
	tick := time.NewTicker(l.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case msg := <-notes:
			if !l.concerns(msg) {
				continue
			}
			drain(notes) // one refresh answers a burst of promotions
		}
		if err := l.Refresh(ctx); err != nil && ctx.Err() == nil {
			l.log.WarnContext(ctx, "refresh models", "error", err)
		}
	}
}

// concerns reports whether a notification may change what l serves.
func (l *Loader[T]) concerns(msg *redis.Message) bool {
	var c Change
	if err := json.Unmarshal([]byte(msg.Payload), &c); err != nil {
		return true // unknown sender: refreshing is cheap and safe
	}
	return c.Alias == l.alias
}

func drain(ch <-chan *redis.Message) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// Refresh reads which versions hold the alias and loads those that differ
// from what is served, swapping each in atomically. Models whose alias was
// removed are dropped. The error joins the load failures; the models that
// failed keep their previous version.
func (l *Loader[T]) Refresh(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	targets, err := l.reg.aliased(ctx, l.alias, l.kind)
	if err != nil {
		return err
	}
	cur := *l.models.Load()
	next := make(map[modelKey]*Loaded[T], len(targets))
	wanted := make(map[modelKey]bool, len(targets))
	changed := false
	var errs []error
	for _, v := range targets {
		k := modelKey{v.TenantID, v.Name}
		wanted[k] = true
		old, had := cur[k]
		keep := func() {
			if had {
				next[k] = old
			}
		}
		if had && old.Version.Version == v.Version {
			keep()
			continue
		}
		if f, ok := l.failed[k]; ok && f.version == v.Version && time.Since(f.at) < l.retry {
			keep()
			continue
		}
		m, err := l.load(ctx, v)
		if err != nil {
			errs = append(errs, err)
			l.failed[k] = failure{version: v.Version, at: time.Now()}
			keep()
			continue
		}
		delete(l.failed, k)
		next[k] = m
		changed = true
		loadedVersion.WithLabelValues(v.TenantID, v.Name, l.alias).Set(float64(v.Version))
		modelLoads.WithLabelValues(v.TenantID, v.Name).Inc()
		from := 0
		if had {
			from = old.Version.Version
		}
		l.log.InfoContext(ctx, "model loaded", "tenant", v.TenantID, "model", v.Name, "version", v.Version, "from", from, "kind", v.Kind)
	}
	for k, old := range cur {
		if _, ok := next[k]; !ok {
			changed = true
			loadedVersion.DeleteLabelValues(k.tenant, k.name, l.alias)
			l.log.InfoContext(ctx, "model unloaded: alias removed", "tenant", k.tenant, "model", k.name, "version", old.Version.Version)
		}
	}
	for k := range l.failed {
		if !wanted[k] {
			delete(l.failed, k)
		}
	}
	if changed {
		l.models.Store(&next)
	}
	return errors.Join(errs...)
}

// load fetches, verifies and decodes v, counting and logging failures.
func (l *Loader[T]) load(ctx context.Context, v Version) (*Loaded[T], error) {
	fail := func(reason string, err error) (*Loaded[T], error) {
		modelLoadFailures.WithLabelValues(v.TenantID, v.Name, reason).Inc()
		l.log.WarnContext(ctx, "model version not loaded; the previous version keeps serving",
			"tenant", v.TenantID, "model", v.Name, "version", v.Version, "reason", reason, "error", err)
		return nil, fmt.Errorf("registry: load %s/%s version %d: %w", v.TenantID, v.Name, v.Version, err)
	}
	data, err := artifact.Load(ctx, l.reg.artifacts, v.Artifact)
	switch {
	case errors.Is(err, artifact.ErrChecksum):
		return fail("checksum", err)
	case errors.Is(err, artifact.ErrNotFound):
		return fail("missing", err)
	case err != nil:
		return fail("fetch", err)
	}
	m, err := l.safeDecode(data)
	if err != nil {
		return fail("decode", err)
	}
	return &Loaded[T]{Model: m, Version: v, LoadedAt: time.Now()}, nil
}

// safeDecode turns a panic in decode into an error: a malformed artifact
// must not take the process down.
func (l *Loader[T]) safeDecode(data []byte) (m T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decode panicked: %v", p)
		}
	}()
	m, err = l.decode(data)
	if err != nil {
		err = fmt.Errorf("decode %d-byte artifact: %w", len(data), err)
	}
	return m, err
}
