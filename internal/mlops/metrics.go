package mlops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DriftCollector exposes the latest stored drift check of every model as
// Prometheus gauges, read from the database when scraped (at most every
// CacheFor), so every API replica reports the same values whichever worker
// ran the check:
//
//	smartmaint_drift_psi{tenant,model,feature}
//	smartmaint_drift_ks_pvalue{tenant,model,feature}
//	smartmaint_drift_feature_drifted{tenant,model,feature}  1 or 0
//	smartmaint_drift_detected{tenant,model}                 1 or 0
//	smartmaint_drift_checked_timestamp_seconds{tenant,model}
//	smartmaint_model_rollbacks_total{tenant,model,reason}   automatic rollbacks (alias history)
type DriftCollector struct {
	Store *Store
	Log   *slog.Logger
	// CacheFor is how long a read is reused; 15s when zero.
	CacheFor time.Duration

	mu        sync.Mutex
	at        time.Time
	cached    []DriftCheck
	rollbacks []RollbackCount
}

var (
	descPSI      = prometheus.NewDesc("smartmaint_drift_psi", "Population stability index of a model feature's recent values against its training reference, at the latest drift check.", []string{"tenant", "model", "feature"}, nil)
	descKS       = prometheus.NewDesc("smartmaint_drift_ks_pvalue", "Two-sample Kolmogorov-Smirnov p-value of a model feature's recent values against its training reference, at the latest drift check.", []string{"tenant", "model", "feature"}, nil)
	descFeature  = prometheus.NewDesc("smartmaint_drift_feature_drifted", "1 when the feature drifted at the latest drift check.", []string{"tenant", "model", "feature"}, nil)
	descDetected = prometheus.NewDesc("smartmaint_drift_detected", "1 when the latest drift check found the model's inputs drifted.", []string{"tenant", "model"}, nil)
	descChecked  = prometheus.NewDesc("smartmaint_drift_checked_timestamp_seconds", "When the latest drift check of the model ran.", []string{"tenant", "model"}, nil)
	descRollback = prometheus.NewDesc("smartmaint_model_rollbacks_total", "Champions rolled back automatically by the watch of their promotion, from the alias history, by tenant, model and reason (alarm_rate_high, alarm_rate_low, other).", []string{"tenant", "model", "reason"}, nil)
)

// Describe implements prometheus.Collector.
func (c *DriftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPSI, descKS, descFeature, descDetected, descChecked, descRollback} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *DriftCollector) Collect(ch chan<- prometheus.Metric) {
	checks, rollbacks := c.latest()
	for _, r := range rollbacks {
		ch <- prometheus.MustNewConstMetric(descRollback, prometheus.CounterValue, float64(r.N), r.TenantID, r.Name, r.Reason)
	}
	for _, d := range checks {
		ch <- prometheus.MustNewConstMetric(descDetected, prometheus.GaugeValue, bool01(d.Drifted), d.TenantID, d.Name)
		ch <- prometheus.MustNewConstMetric(descChecked, prometheus.GaugeValue, float64(d.CheckedAt.UnixMilli())/1000, d.TenantID, d.Name)
		for _, f := range d.Features {
			if f.Skipped != "" {
				continue
			}
			ch <- prometheus.MustNewConstMetric(descPSI, prometheus.GaugeValue, f.PSI, d.TenantID, d.Name, f.Name)
			ch <- prometheus.MustNewConstMetric(descKS, prometheus.GaugeValue, f.KSPValue, d.TenantID, d.Name, f.Name)
			ch <- prometheus.MustNewConstMetric(descFeature, prometheus.GaugeValue, bool01(f.Drifted), d.TenantID, d.Name, f.Name)
		}
	}
}

func (c *DriftCollector) latest() ([]DriftCheck, []RollbackCount) {
	c.mu.Lock()
	defer c.mu.Unlock()
	every := c.CacheFor
	if every <= 0 {
		every = 15 * time.Second
	}
	if time.Since(c.at) < every {
		return c.cached, c.rollbacks
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	checks, err := c.Store.LatestDrift(ctx)
	var rollbacks []RollbackCount
	if err == nil {
		rollbacks, err = c.Store.AutomaticRollbacks(ctx)
	}
	if err != nil {
		if c.Log != nil {
			c.Log.Warn("drift metrics: keeping the previous values", "error", err)
		}
		return c.cached, c.rollbacks
	}
	c.at, c.cached, c.rollbacks = time.Now(), checks, rollbacks
	return checks, rollbacks
}

func bool01(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
