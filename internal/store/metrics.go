package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// IncidentCollector exposes the open incidents of the projection table as
// Prometheus gauges, read when scraped (at most every CacheFor, with a
// short timeout), so every API replica reports the same numbers:
//
//	smartmaint_incidents_open{tenant,status,severity}
//	smartmaint_incidents_oldest_update_timestamp_seconds{tenant,status}
//
// A failed read keeps the previous values and is logged.
type IncidentCollector struct {
	DB  *DB
	Log *slog.Logger
	// CacheFor is how long a read is reused; 10s when zero.
	CacheFor time.Duration
	// Timeout bounds one read; 2s when zero.
	Timeout time.Duration

	mu     sync.Mutex
	at     time.Time
	cached []OpenIncidentGroup
}

var (
	descIncidentsOpen = prometheus.NewDesc("smartmaint_incidents_open",
		"Open incidents (not yet resolved or closed) by tenant, status and severity, from the incident projection.",
		[]string{"tenant", "status", "severity"}, nil)
	descIncidentsOldest = prometheus.NewDesc("smartmaint_incidents_oldest_update_timestamp_seconds",
		"Least recent update among the open incidents of a tenant in a status; time() minus it is how long the stalest one has not moved.",
		[]string{"tenant", "status"}, nil)
)

// Describe implements prometheus.Collector.
func (c *IncidentCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descIncidentsOpen
	ch <- descIncidentsOldest
}

// Collect implements prometheus.Collector.
func (c *IncidentCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ tenant, status string }
	oldest := map[key]time.Time{}
	for _, g := range c.groups() {
		ch <- prometheus.MustNewConstMetric(descIncidentsOpen, prometheus.GaugeValue, float64(g.Count), g.TenantID, g.Status, g.Severity)
		k := key{g.TenantID, g.Status}
		if t, ok := oldest[k]; !ok || g.OldestUpdate.Before(t) {
			oldest[k] = g.OldestUpdate
		}
	}
	for k, t := range oldest {
		ch <- prometheus.MustNewConstMetric(descIncidentsOldest, prometheus.GaugeValue, float64(t.UnixMilli())/1000, k.tenant, k.status)
	}
}

func (c *IncidentCollector) groups() []OpenIncidentGroup {
	c.mu.Lock()
	defer c.mu.Unlock()
	cacheFor, timeout := c.CacheFor, c.Timeout
	if cacheFor <= 0 {
		cacheFor = 10 * time.Second
	}
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	if !c.at.IsZero() && time.Since(c.at) < cacheFor {
		return c.cached
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	groups, err := c.DB.OpenIncidentGroups(ctx)
	if err != nil {
		if c.Log != nil {
			c.Log.Warn("incident metrics: keeping the previous values", "error", err)
		}
		return c.cached
	}
	c.at, c.cached = time.Now(), groups
	return groups
}
