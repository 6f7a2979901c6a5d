package maintenance

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// OpenWorkOrderGroup counts the open (scheduled or in-progress) work orders
// of one tenant in one status raised by one source: "incident",
// "preventive" or "manual".
type OpenWorkOrderGroup struct {
	TenantID string
	Status   string
	Source   string
	Count    int
	// Overdue are those whose deadline has passed.
	Overdue int
}

// OpenWorkOrderGroups counts the open work orders of every tenant by status
// and source (owner role; for metrics), through the partial index on open
// work orders, so its cost does not grow with the work-order history.
func (s *Store) OpenWorkOrderGroups(ctx context.Context) ([]OpenWorkOrderGroup, error) {
	out, err := store.Collect(ctx, s.DB.Pool, scanOpenWorkOrderGroup, `
		SELECT tenant_id, status,
			CASE WHEN incident_id IS NOT NULL THEN 'incident' WHEN preventive_schedule_id IS NOT NULL THEN 'preventive' ELSE 'manual' END AS source,
			count(*)::int, (count(*) FILTER (WHERE deadline < now()))::int
		FROM work_orders
		WHERE status IN `+workorder.OpenSQL+`
		GROUP BY 1, 2, 3
		ORDER BY 1, 2, 3`)
	if err != nil {
		return nil, fmt.Errorf("store: open work orders: %w", err)
	}
	return out, nil
}

func scanOpenWorkOrderGroup(row pgx.Row) (OpenWorkOrderGroup, error) {
	var g OpenWorkOrderGroup
	err := row.Scan(&g.TenantID, &g.Status, &g.Source, &g.Count, &g.Overdue)
	return g, err
}

// OpenWorkCollector exposes the open incidents and work orders as
// Prometheus gauges, read when scraped (at most every CacheFor, with a
// short timeout), so every API replica reports the same numbers:
//
//	smartmaint_incidents_open{tenant,status,severity}
//	smartmaint_incidents_oldest_update_timestamp_seconds{tenant,status}
//	smartmaint_work_orders_open{tenant,status,source}
//	smartmaint_work_orders_overdue{tenant,source}
//
// A failed read keeps the previous values and is logged.
type OpenWorkCollector struct {
	Store *Store
	Log   *slog.Logger
	// CacheFor is how long a read is reused; 10s when zero.
	CacheFor time.Duration
	// Timeout bounds one read; 2s when zero.
	Timeout time.Duration

	mu         sync.Mutex
	at         time.Time
	incidents  []store.OpenIncidentGroup
	workOrders []OpenWorkOrderGroup
}

var (
	descIncidentsOpen = prometheus.NewDesc("smartmaint_incidents_open",
		"Open incidents (not yet resolved or closed) by tenant, status and severity, from the incident projection.",
		[]string{"tenant", "status", "severity"}, nil)
	descIncidentsOldest = prometheus.NewDesc("smartmaint_incidents_oldest_update_timestamp_seconds",
		"Least recent update among the open incidents of a tenant in a status; time() minus it is how long the stalest one has not moved.",
		[]string{"tenant", "status"}, nil)
	descWorkOrdersOpen = prometheus.NewDesc("smartmaint_work_orders_open",
		"Open (scheduled or in-progress) work orders by tenant, status and source (incident, preventive, manual).",
		[]string{"tenant", "status", "source"}, nil)
	descWorkOrdersOverdue = prometheus.NewDesc("smartmaint_work_orders_overdue",
		"Open work orders whose deadline has passed, by tenant and source (incident, preventive, manual).",
		[]string{"tenant", "source"}, nil)
)

// Describe implements prometheus.Collector.
func (c *OpenWorkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descIncidentsOpen
	ch <- descIncidentsOldest
	ch <- descWorkOrdersOpen
	ch <- descWorkOrdersOverdue
}

// Collect implements prometheus.Collector.
func (c *OpenWorkCollector) Collect(ch chan<- prometheus.Metric) {
	incidents, workOrders := c.read()
	type key struct{ tenant, status string }
	oldest := map[key]time.Time{}
	for _, g := range incidents {
		ch <- prometheus.MustNewConstMetric(descIncidentsOpen, prometheus.GaugeValue, float64(g.Count), g.TenantID, g.Status, g.Severity)
		k := key{g.TenantID, g.Status}
		if t, ok := oldest[k]; !ok || g.OldestUpdate.Before(t) {
			oldest[k] = g.OldestUpdate
		}
	}
	for k, t := range oldest {
		ch <- prometheus.MustNewConstMetric(descIncidentsOldest, prometheus.GaugeValue, float64(t.UnixMilli())/1000, k.tenant, k.status)
	}
	overdue := map[key]int{} // tenant, source
	for _, g := range workOrders {
		ch <- prometheus.MustNewConstMetric(descWorkOrdersOpen, prometheus.GaugeValue, float64(g.Count), g.TenantID, g.Status, g.Source)
		overdue[key{g.TenantID, g.Source}] += g.Overdue
	}
	for k, n := range overdue {
		ch <- prometheus.MustNewConstMetric(descWorkOrdersOverdue, prometheus.GaugeValue, float64(n), k.tenant, k.status)
	}
}

// read returns the groups, from the database when the last read is older
// than CacheFor.
func (c *OpenWorkCollector) read() ([]store.OpenIncidentGroup, []OpenWorkOrderGroup) {
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
		return c.incidents, c.workOrders
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	incidents, err := c.Store.DB.OpenIncidentGroups(ctx)
	var workOrders []OpenWorkOrderGroup
	if err == nil {
		workOrders, err = c.Store.OpenWorkOrderGroups(ctx)
	}
	if err != nil {
		if c.Log != nil {
			c.Log.Warn("open work metrics: keeping the previous values", "error", err)
		}
		return c.incidents, c.workOrders
	}
	c.at, c.incidents, c.workOrders = time.Now(), incidents, workOrders
	return incidents, workOrders
}
