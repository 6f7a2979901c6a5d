package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// Size of the benchmark plant.
const (
	benchAssets  = 50
	benchSensors = 3
	benchDays    = 30
)

// benchWindow is the 30 days the benchmark reports on.
var benchWindow = report.Window{From: t0, To: t0.Add(benchDays * day)}

// benchPlant fills a database with 50 assets of 3 sensors each over 30
// days: the hourly rollup of every sensor (108,000 rows), 6 hours of raw
// readings before each asset's forecast, 20 anomalies, 10 incidents (one
// with a forecast) and 8 work orders per asset, and a model with 6
// versions.
func benchPlant(b *testing.B) *store.DB {
	b.Helper()
	db, _ := testenv.DB(b)
	f := newFixture(b, db, "acme")
	forecastAt := t0.Add(20*day + 30*time.Minute)
	for a := range benchAssets {
		asset := fmt.Sprintf("mill-%02d", a)
		f.asset(asset, t0.Add(-day))
		for s := range benchSensors {
			sensor := f.sensor(asset, fmt.Sprintf("s%d", s), "u", ptr(80.0), ptr(90.0))
			// One rollup row an hour, values around 50 with a daily cycle.
			f.exec(`
				INSERT INTO readings_hourly (tenant_id, sensor_key, bucket, n, sum, sum_sq, min, max)
				SELECT 'acme', $1, b, 60, 60 * v, 60 * v * v, v - 3, v + 3
				FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 hour', interval '1 hour') AS b,
					LATERAL (SELECT 50 + 10 * sin(extract(epoch FROM b) / 86400 * 2 * pi()) AS v) x`,
				sensor.Key, benchWindow.From, benchWindow.To)
			if s == 0 {
				f.exec(`
					INSERT INTO readings (tenant_id, sensor_key, ts, value)
					SELECT 'acme', $1, ts, 50 + extract(epoch FROM ts - $2) / 3600 + (extract(minute FROM ts)::int % 3) * 0.1
					FROM generate_series($2::timestamptz - interval '6 hours', $2::timestamptz, interval '1 minute') AS ts`,
					sensor.Key, forecastAt)
			}
		}
		for i := range 20 {
			f.anomaly(asset, fmt.Sprintf("s%d", i%benchSensors), t0.Add(time.Duration(i)*36*time.Hour), 85, []string{"warning", "minor", "major", "critical"}[i%4])
		}
		for i := range 8 {
			opened := t0.Add(time.Duration(i)*3*day + time.Hour)
			inc := uuid.NewString()
			wo := f.workOrder(workOrder{asset: asset, incident: inc, status: "done", created: opened.Add(time.Hour),
				started: ptr(opened.Add(2 * time.Hour)), completed: ptr(opened.Add(5 * time.Hour)), deadline: ptr(opened.Add(4 * time.Hour))})
			in := incidentRow{asset: asset, status: "resolved", resolution: "resolved", opened: opened, closed: ptr(opened.Add(6 * time.Hour)), workOrder: wo}
			if i == 6 {
				in.opened, in.closed = forecastAt.Add(-time.Hour), ptr(forecastAt.Add(6*time.Hour))
				in.summary = map[string]any{"forecast": map[string]any{"sensor_id": "s0", "limit": 90, "method": "damped-holt"}}
				in.log = []store.LogEntry{{Seq: 1, At: forecastAt, Actor: "system", Event: "forecast"}}
			}
			f.incidentWithID(inc, in)
		}
		f.incident(incidentRow{asset: asset, status: "closed", resolution: "rejected", opened: t0.Add(25 * day), closed: ptr(t0.Add(25 * day))})
		f.incident(incidentRow{asset: asset, status: "closed", resolution: "false_positive", opened: t0.Add(26 * day), closed: ptr(t0.Add(26 * day))})
	}
	for v := 1; v <= 6; v++ {
		f.modelVersion("iforest-mill", v, t0.Add(time.Duration(v)*5*day), map[string]float64{"roc_auc_failures": 0.8 + 0.01*float64(v), "anomaly_rate": 0.03})
		f.aliasMove("iforest-mill", "champion", v-1, v, t0.Add(time.Duration(v)*5*day+time.Hour))
	}
	return db
}

// BenchmarkCompute is the KPI computation of a 50-asset, 30-day report.
func BenchmarkCompute(b *testing.B) {
	db := benchPlant(b)
	ctx := context.Background()
	for b.Loop() {
		r, err := report.Compute(ctx, db, "acme", report.Query{Window: benchWindow})
		if err != nil {
			b.Fatal(err)
		}
		if len(r.Assets) != benchAssets || r.Totals.Failures != benchAssets*8 {
			b.Fatalf("%d assets, %d failures", len(r.Assets), r.Totals.Failures)
		}
	}
}

// BenchmarkAssetChart is one asset's chart over 30 days: loading its data
// (3 sensors' hourly rollup, anomalies, a forecast fitted again) and
// rendering it as PNG and as SVG.
func BenchmarkAssetChart(b *testing.B) {
	db := benchPlant(b)
	ctx := context.Background()
	d, err := report.LoadAssetData(ctx, db, "acme", "mill-00", benchWindow)
	if err != nil {
		b.Fatal(err)
	}
	if len(d.Sensors) != benchSensors || len(d.Sensors[0].Forecasts) != 1 || len(d.Sensors[0].Buckets) != benchDays*24 {
		b.Fatalf("asset data: %d sensors, %d forecasts", len(d.Sensors), len(d.Sensors[0].Forecasts))
	}
	b.Run("load", func(b *testing.B) {
		for b.Loop() {
			if _, err := report.LoadAssetData(ctx, db, "acme", "mill-00", benchWindow); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, f := range report.Formats {
		b.Run(string(f), func(b *testing.B) {
			var size int
			for b.Loop() {
				out, err := report.AssetChart(d).Render(f)
				if err != nil {
					b.Fatal(err)
				}
				size = len(out)
			}
			b.ReportMetric(float64(size), "bytes")
		})
	}
}

// BenchmarkReport is a whole 50-asset, 30-day report as the workflow's
// activities make it, one after another on one goroutine: KPIs computed
// and stored, the summary charts and the 50 asset charts rendered in both
// formats and stored.
func BenchmarkReport(b *testing.B) {
	db := benchPlant(b)
	ctx := context.Background()
	st := &report.Store{DB: db}
	for b.Loop() {
		id := uuid.NewString()
		if _, err := st.Create(ctx, report.Meta{ID: id, TenantID: "acme", WorkflowID: "w", Trigger: report.TriggerAPI, RequestedBy: "bench", Window: benchWindow}); err != nil {
			b.Fatal(err)
		}
		r, err := report.Compute(ctx, db, "acme", report.Query{Window: benchWindow})
		if err != nil {
			b.Fatal(err)
		}
		if err := st.SaveDocument(ctx, "acme", id, r); err != nil {
			b.Fatal(err)
		}
		charts := report.SummaryCharts(r)
		for _, a := range r.Assets {
			d, err := report.LoadAssetData(ctx, db, "acme", a.AssetID, benchWindow)
			if err != nil {
				b.Fatal(err)
			}
			charts = append(charts, report.AssetChart(d))
		}
		for _, c := range charts {
			out, err := c.RenderAll()
			if err != nil {
				b.Fatal(err)
			}
			if err := st.SaveCharts(ctx, "acme", id, out); err != nil {
				b.Fatal(err)
			}
		}
	}
}
