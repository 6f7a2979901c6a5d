// Package kindtest trains a small model of every modelkind.Kind on a slice
// of the shipped datasets, for tests of code that serves bound models, and
// hands out held-out data to score: never the rows a model was trained on.
//
//   - Mill: an Isolation Forest on the first half of AI4I; the second half.
//   - Risk: a failure classifier on January–February 2015 of the Azure
//     subset; its March machine-hours.
//   - RUL: package rultest's model (the first 20 FD001 training engines);
//     engine 21, run to failure.
//   - Bearing: a health model learned from the first day of IMS 2nd_test;
//     the snapshots after that day.
//
// Each is trained once per test binary. A test is skipped when its dataset
// is missing.
package kindtest

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/bearing"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/risk"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/ml/rul/rultest"
)

// MillFeatures are AI4I's five process features named as the simulator's
// sensors, the features of Mill's model.
var MillFeatures = []string{"air_temp", "process_temp", "speed", "torque", "tool_wear"}

// MillData is Mill's model and the AI4I records it did not see.
type MillData struct {
	Model modelfile.Model
	Rows  [][]float64
}

// RiskData is Risk's model, the Azure machines and March's machine-hours.
type RiskData struct {
	Model    modelfile.Model
	Machines map[int]dataset.AzureMachine
	March    *risk.Table
}

// RULData is RUL's model and engine 21's feature vectors, cycle by cycle.
type RULData struct {
	Model  modelfile.Model
	Cycles [][]float64
}

// BearingData is Bearing's model and the snapshots after its baseline
// (b1_rms, b1_kurtosis, b1_crest_factor, b2_rms, …) with their times.
type BearingData struct {
	Model     modelfile.Model
	Snapshots [][]float64
	Times     []time.Time
}

// once trains one fixture per test binary.
type once[T any] struct {
	sync.Once
	v   T
	err error
}

func (o *once[T]) get(tb testing.TB, train func() (T, error)) T {
	tb.Helper()
	o.Do(func() { o.v, o.err = train() })
	if o.err != nil {
		tb.Skip(o.err)
	}
	return o.v
}

var (
	mill    once[*MillData]
	riskFix once[*RiskData]
	rulFix  once[*RULData]
	bear    once[*BearingData]
)

// Mill trains an Isolation Forest (1% contamination) on the first half of
// AI4I.
func Mill(tb testing.TB) *MillData {
	tb.Helper()
	return mill.get(tb, func() (*MillData, error) {
		recs, err := dataset.ShippedAI4I()
		if err != nil {
			return nil, err
		}
		var rows [][]float64
		for _, r := range recs {
			rows = append(rows, []float64{r.AirTempK, r.ProcessTemp, r.RPM, r.TorqueNm, r.ToolWearMin})
		}
		half := len(rows) / 2
		f, err := iforest.Train(rows[:half], iforest.Params{Contamination: 0.01, Seed: 2})
		if err != nil {
			return nil, err
		}
		return &MillData{Model: modelfile.Model{Meta: modelfile.Metadata{Kind: modelfile.KindIsolationForest, FeatureNames: MillFeatures,
			Threshold: f.Threshold(), Dataset: "ai4i2020", Rows: half}, Scorer: f}, Rows: rows[half:]}, nil
	})
}

// RiskMetadata maps the classifier's machine-model and age features to an
// asset's metadata ("model": "model3", "age": 12), as a binding's features
// do; its other features are sensors of the same names (computed at the
// edge).
func RiskMetadata() map[string]string {
	f := map[string]string{"age_years": "asset.age"}
	for _, m := range risk.MachineModels {
		f["model_"+m] = "asset.model=" + m
	}
	return f
}

// Risk trains a gradient-boosted failure classifier (40 iterations) on
// the Azure subset's machine-hours before March 2015 whose label window
// closes before March; its threshold alerts on the top 2% of training
// hours.
func Risk(tb testing.TB) *RiskData {
	tb.Helper()
	return riskFix.get(tb, func() (*RiskData, error) {
		d, err := dataset.ShippedAzurePdM()
		if err != nil {
			return nil, err
		}
		tab, err := risk.BuildTable(context.Background(), d)
		if err != nil {
			return nil, err
		}
		march := time.Date(2015, 3, 1, 0, 0, 0, 0, time.UTC)
		train := tab.Between(time.Time{}, march, march)
		p := gbdt.DefaultParams()
		p.MaxIter, p.LearningRate, p.MaxLeafNodes, p.Seed = 40, 0.2, 15, 1
		g, err := gbdt.Train(train.X, train.Y, p)
		if err != nil {
			return nil, err
		}
		scores := make([]float64, len(train.X))
		for i, x := range train.X {
			scores[i] = g.Score(x)
		}
		out := &RiskData{
			Model: modelfile.Model{Meta: modelfile.Metadata{Kind: modelfile.KindGBDT, FeatureNames: risk.FeatureNames,
				Threshold: risk.TopRateThreshold(scores, 0.02), Dataset: risk.DatasetName, Rows: train.Len()}, Scorer: g},
			Machines: map[int]dataset.AzureMachine{},
			March:    tab.Between(march, march.AddDate(0, 1, 0), time.Time{}),
		}
		for _, m := range d.Machines {
			out.Machines[m.ID] = m
		}
		return out, nil
	})
}

// RUL is rultest.SmallModel and the cycles of FD001 training engine 21,
// which it was not trained on.
func RUL(tb testing.TB) *RULData {
	tb.Helper()
	return rulFix.get(tb, func() (*RULData, error) {
		dir, err := os.MkdirTemp("", "kindtest-rul")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		_, m := rultest.SmallModel(tb, dir)
		f, err := rul.FD001()
		if err != nil {
			return nil, err
		}
		engines, err := dataset.LoadCMAPSSEngines(f.Train)
		if err != nil {
			return nil, err
		}
		b, err := rul.NewBuilder(m.Config)
		if err != nil {
			return nil, err
		}
		out := &RULData{Model: modelfile.Model{Meta: modelfile.Metadata{Kind: modelfile.KindRUL, FeatureNames: rul.FeatureNames()}, Scorer: m}}
		for _, c := range engines[20].Cycles {
			out.Cycles = append(out.Cycles, slices.Clone(b.Update(&c.Sensors)))
		}
		return out, nil
	})
}

// Bearing learns a health model of IMS 2nd_test's four bearings from the
// run's first day (bearing.HealthConfig defaults).
func Bearing(tb testing.TB) *BearingData {
	tb.Helper()
	return bear.get(tb, func() (*BearingData, error) {
		rows, err := dataset.ShippedIMSFeatures()
		if err != nil {
			return nil, err
		}
		const n = 4
		var times []time.Time
		var snaps [][]bearing.Indicators
		for _, r := range rows {
			if r.Test != "2nd_test" || r.Bearing < 1 || r.Bearing > n {
				continue
			}
			if len(times) == 0 || !times[len(times)-1].Equal(r.Time) {
				times = append(times, r.Time)
				snaps = append(snaps, make([]bearing.Indicators, n))
			}
			snaps[len(snaps)-1][r.Bearing-1] = bearing.Indicators{RMS: r.RMS, Kurtosis: r.Kurtosis, CrestFactor: r.CrestFactor}
		}
		mon, err := bearing.NewMonitor(n, bearing.HealthConfig{})
		if err != nil {
			return nil, err
		}
		status := make([]bearing.Status, n)
		i := 0
		for ; i < len(snaps) && mon.Model() == nil; i++ {
			if err := mon.Update(times[i], snaps[i], status); err != nil {
				return nil, err
			}
		}
		h := mon.Model()
		if h == nil {
			return nil, fmt.Errorf("kindtest: no bearing baseline learned from %d snapshots", len(snaps))
		}
		out := &BearingData{Model: modelfile.Model{Meta: modelfile.Metadata{Kind: bearing.KindHealth, FeatureNames: h.FeatureNames(), Rows: h.Snapshots}, Scorer: h}}
		for ; i < len(snaps); i++ {
			var x []float64
			for _, s := range snaps[i] {
				x = append(x, s.RMS, s.Kurtosis, s.CrestFactor)
			}
			out.Snapshots = append(out.Snapshots, x)
			out.Times = append(out.Times, times[i])
		}
		return out, nil
	})
}
