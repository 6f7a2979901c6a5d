package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/singleflight"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Catalog caches every tenant's sensors for validation on the hot path.
// Entries are dropped when PostgreSQL announces a sensor change (LISTEN
// smartmaint_sensors, sent by a trigger) so every replica sees new sensors
// within milliseconds; a miss also reloads the tenant, at most once a second.
type Catalog struct {
	db      *store.DB
	log     *slog.Logger
	group   singleflight.Group
	mu      sync.RWMutex
	tenants map[string]*tenantSensors
	// gen counts invalidations so a load that raced one is not cached.
	gen uint64
	// minReload bounds how often a miss may reload one tenant.
	minReload time.Duration
}

type sensorRef struct{ asset, sensor string }

type tenantSensors struct {
	byRef    map[sensorRef]*store.Sensor
	loadedAt time.Time
}

// NewCatalog returns an empty cache over db.
func NewCatalog(db *store.DB, log *slog.Logger) *Catalog {
	return &Catalog{db: db, log: log, tenants: map[string]*tenantSensors{}, minReload: time.Second}
}

// Lookup returns the sensor, or nil when the tenant has no such sensor.
func (c *Catalog) Lookup(ctx context.Context, tenant, asset, sensor string) (*store.Sensor, error) {
	ref := sensorRef{asset, sensor}
	c.mu.RLock()
	ts := c.tenants[tenant]
	c.mu.RUnlock()
	if ts != nil {
		if s := ts.byRef[ref]; s != nil {
			return s, nil
		}
		if time.Since(ts.loadedAt) < c.minReload {
			return nil, nil
		}
	}
	ts, err := c.load(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return ts.byRef[ref], nil
}

func (c *Catalog) load(ctx context.Context, tenant string) (*tenantSensors, error) {
	v, err, _ := c.group.Do(tenant, func() (any, error) {
		c.mu.RLock()
		gen := c.gen
		c.mu.RUnlock()
		sensors, err := c.db.SensorsOfTenant(ctx, tenant)
		if err != nil {
			return nil, err
		}
		ts := &tenantSensors{byRef: make(map[sensorRef]*store.Sensor, len(sensors)), loadedAt: time.Now()}
		for i := range sensors {
			s := &sensors[i]
			ts.byRef[sensorRef{s.AssetID, s.ID}] = s
		}
		c.mu.Lock()
		if c.gen == gen {
			c.tenants[tenant] = ts
		}
		c.mu.Unlock()
		return ts, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: load sensors of %q: %w", tenant, err)
	}
	return v.(*tenantSensors), nil
}

// Invalidate drops the cached sensors of tenant, or of all tenants for "".
func (c *Catalog) Invalidate(tenant string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if tenant == "" {
		clear(c.tenants)
		return
	}
	delete(c.tenants, tenant)
}

// Listen follows sensor changes until ctx ends, reconnecting after failures
// (and dropping the whole cache then, since notifications may have been
// missed).
func (c *Catalog) Listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		c.log.Warn("sensor change listener lost its connection; retrying", "error", err)
		c.Invalidate("")
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (c *Catalog) listenOnce(ctx context.Context) error {
	conn, err := c.db.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN smartmaint_sensors"); err != nil {
		return err
	}
	// Changes made before LISTEN took effect are not announced to us.
	c.Invalidate("")
	defer func() {
		// Leave the pooled connection clean whatever happened.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *"); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, pgx.ErrTxClosed) {
				return nil
			}
			return err
		}
		c.Invalidate(n.Payload)
	}
}
