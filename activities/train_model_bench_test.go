package activities_test

import (
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// BenchmarkTrainModel measures TrainModel, reading included, on 100,000
// stored readings (20,000 snapshots of five sensors, AI4I twice over, of
// plant-9's two mills) for each kind it trains; docs/BENCHMARKS.md records
// the figures.
func BenchmarkTrainModel(b *testing.B) {
	const snapshots = 20000
	a, h := newPlant(b, snapshots)
	for _, kind := range []modelkind.Kind{modelkind.Anomaly, modelkind.FailureRisk} {
		b.Run(string(kind), func(b *testing.B) {
			in := trainInput(h, "bench-"+string(kind), kind, registry.Challenger)
			env := activityEnv(a)
			var readings int
			start := time.Now()
			for b.Loop() {
				v, err := env.ExecuteActivity(a.TrainModel, in)
				if err != nil {
					b.Fatal(err)
				}
				var out struct{ Readings int }
				if err := v.Get(&out); err != nil {
					b.Fatal(err)
				}
				readings = out.Readings
			}
			if readings > 0 {
				b.ReportMetric(time.Since(start).Seconds()/float64(b.N)*100000/float64(readings), "s/100k_readings")
			}
		})
	}
}
