package activities_test

import (
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/activities"
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

// BenchmarkTrainModelRUL measures TrainModel of kind rul, reading
// included, on plant-11's 20 shortest FD001 training engines (3,040
// cycles of 85 edge features: 258,400 readings), with the default
// parameters (300 iterations, 13 fits over 5 run-grouped folds) and with
// the end-to-end test's 40 iterations; docs/BENCHMARKS.md records the
// figures.
func BenchmarkTrainModelRUL(b *testing.B) {
	a, _, in := newEngines(b, 20)
	for _, tc := range []struct {
		name string
		p    activities.TrainParams
	}{{"default", activities.TrainParams{}}, {"iter40", activities.TrainParams{MaxIter: 40, LearningRate: 0.15}}} {
		b.Run(tc.name, func(b *testing.B) {
			in := in
			in.Model, in.Alias, in.Params = "bench-"+tc.name, registry.Challenger, tc.p
			env := activityEnv(a)
			var out activities.TrainModelOutput
			start := time.Now()
			for b.Loop() {
				v, err := env.ExecuteActivity(a.TrainModel, in)
				if err != nil {
					b.Fatal(err)
				}
				if err := v.Get(&out); err != nil {
					b.Fatal(err)
				}
			}
			per := time.Since(start).Seconds() / float64(b.N)
			b.ReportMetric(per*100000/float64(out.Readings), "s/100k_readings")
			b.ReportMetric(per*1000/float64(out.TrainRows+out.HoldoutRows), "s/1k_cycles")
		})
	}
}
