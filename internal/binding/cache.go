package binding

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smartmaint/smartmaint/internal/modelkind"
)

// DefaultRefresh is how often a Cache reloads the bindings when its
// interval is zero: a binding change reaches every replica's detector
// within this time (at once on the replica that made it, see Refresh).
const DefaultRefresh = 2 * time.Second

type key struct {
	tenant, assetType string
	kind              modelkind.Kind
}

// Cache serves every tenant's bindings to the detector from memory. Run
// reloads the whole table every interval (it is one row per tenant, asset
// type and kind); Refresh reloads at once, which the API calls after a
// change. Binding is a lock-free map read; Generation changes only when a
// reload found a binding added, changed or removed, so the detector
// resolves its sensors again only then.
type Cache struct {
	store *Store
	every time.Duration
	log   *slog.Logger
	gen   atomic.Uint64

	m  atomic.Pointer[map[key]*Binding]
	mu sync.Mutex // serialises Refresh

	dmu      sync.Mutex
	defaults map[key]*Binding // one pointer per default binding

	ready     chan struct{}
	readyOnce sync.Once
}

// NewCache returns an empty cache over s reloading every interval
// (DefaultRefresh when zero). Call Run, or at least Refresh, before
// Binding finds a stored binding.
func NewCache(s *Store, interval time.Duration, log *slog.Logger) *Cache {
	if interval <= 0 {
		interval = DefaultRefresh
	}
	if log == nil {
		log = slog.Default()
	}
	c := &Cache{store: s, every: interval, log: log, ready: make(chan struct{}), defaults: map[key]*Binding{}}
	empty := map[key]*Binding{}
	c.m.Store(&empty)
	return c
}

// Binding returns the binding serving assetType as kind for tenant: the
// stored one, or Default. It returns the same pointer until the binding
// changes, so the detector can tell a change by identity.
func (c *Cache) Binding(tenant, assetType string, kind modelkind.Kind) (*Binding, bool) {
	k := key{tenant, assetType, kind}
	if b, ok := (*c.m.Load())[k]; ok {
		return b, true
	}
	c.dmu.Lock()
	defer c.dmu.Unlock()
	if b, ok := c.defaults[k]; ok {
		return b, b != nil
	}
	b, _ := Default(tenant, assetType, kind)
	c.defaults[k] = b
	return b, b != nil
}

// Generation counts the reloads that changed a binding.
func (c *Cache) Generation() uint64 { return c.gen.Load() }

// Ready is closed once Run has made its first Refresh.
func (c *Cache) Ready() <-chan struct{} { return c.ready }

// Run refreshes at once and then every interval until ctx ends. A failed
// refresh is logged and keeps the bindings served.
func (c *Cache) Run(ctx context.Context) {
	if err := c.Refresh(ctx); err != nil {
		c.log.WarnContext(ctx, "load model bindings", "error", err)
	}
	c.readyOnce.Do(func() { close(c.ready) })
	tick := time.NewTicker(c.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.WarnContext(ctx, "refresh model bindings", "error", err)
		}
	}
}

// Refresh reloads every binding and swaps them in when any changed.
func (c *Cache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	all, err := c.store.All(ctx)
	if err != nil {
		return err
	}
	cur := *c.m.Load()
	next := make(map[key]*Binding, len(all))
	changed := len(all) != len(cur)
	for i := range all {
		b := &all[i]
		k := key{b.TenantID, b.AssetType, b.Kind}
		if old, ok := cur[k]; ok && old.UpdatedAt.Equal(b.UpdatedAt) && old.Model == b.Model {
			next[k] = old // keep the pointer the detector holds
			continue
		}
		next[k] = b
		changed = true
	}
	if changed {
		c.m.Store(&next)
		c.gen.Add(1)
		c.log.InfoContext(ctx, "model bindings loaded", "bindings", len(next))
	}
	return nil
}
