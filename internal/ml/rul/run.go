package rul

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// Files are a C-MAPSS subset's training, test and RUL files.
type Files struct {
	Train, Test, RUL string
}

// FD001 returns the shipped FD001 files under the datasets folder.
func FD001() (Files, error) {
	d, err := dataset.CMAPSSDir()
	if err != nil {
		return Files{}, err
	}
	return Files{
		Train: filepath.Join(d, "train_FD001.txt"),
		Test:  filepath.Join(d, "test_FD001.txt"),
		RUL:   filepath.Join(d, "RUL_FD001.txt"),
	}, nil
}

// Result is a training run scored on the test engines.
type Result struct {
	Model *Model `json:"-"`
	// File is the model with its metadata, ready for modelfile.Write.
	File modelfile.Model `json:"-"`
	// Info describes the training.
	Info Info `json:"info"`
	// Units are the test engines' estimates at their last cycle.
	Units []Unit `json:"units"`
	// Metrics score Units against the RUL file (nil without one).
	Metrics *Metrics `json:"metrics,omitempty"`
	// TrainSeconds is the training's wall-clock time and TrainCPUSeconds
	// the CPU time it used (0 where unknown).
	TrainSeconds    float64 `json:"train_seconds"`
	TrainCPUSeconds float64 `json:"train_cpu_seconds"`
}

// Run trains on f.Train and, when f.Test is set, estimates each test
// engine's RUL at its last cycle, scored against f.RUL when set.
func Run(ctx context.Context, f Files, o Options) (*Result, error) {
	train, err := dataset.LoadCMAPSSEngines(f.Train)
	if err != nil {
		return nil, err
	}
	start, cpu := time.Now(), cpuSeconds()
	m, err := Train(ctx, train, o)
	if err != nil {
		return nil, err
	}
	res := &Result{Model: m, Info: m.Info, TrainSeconds: time.Since(start).Seconds(), TrainCPUSeconds: cpuSeconds() - cpu}
	names := FeatureNames()
	metrics := map[string]float64{"cv_coverage": m.Info.CVCoverage, "cut_coverage": m.Info.CutCoverage, "train_seconds": res.TrainSeconds, "train_cpu_seconds": res.TrainCPUSeconds}
	if f.Test != "" {
		test, err := dataset.LoadCMAPSSEngines(f.Test)
		if err != nil {
			return nil, err
		}
		var truth []int
		if f.RUL != "" {
			if truth, err = dataset.LoadCMAPSSRUL(f.RUL); err != nil {
				return nil, err
			}
		}
		if res.Units, res.Metrics, err = Evaluate(m, test, truth); err != nil {
			return nil, err
		}
		if res.Metrics != nil {
			metrics["test_rmse"], metrics["test_phm08"], metrics["test_coverage"] = res.Metrics.RMSE, res.Metrics.PHM08, res.Metrics.Coverage
			metrics["test_coverage_uncapped"] = res.Metrics.CoverageUncapped
		}
	}
	res.File = modelfile.Model{
		Scorer: m,
		Meta: modelfile.Metadata{
			FeatureNames:       names,
			TrainingDataSHA256: trainingHash(train),
			Dataset:            "cmapss/" + filepath.Base(f.Train),
			Rows:               m.Info.Rows,
			Metrics:            metrics,
			CreatedAt:          time.Now().UTC(),
		},
	}
	return res, nil
}

// trainingHash is modelfile.DataHash of the raw training cycles (unit,
// cycle, settings, sensors), so it names the data, not the features.
func trainingHash(engines []dataset.CMAPSSEngine) string {
	names := []string{"unit", "cycle", "setting1", "setting2", "setting3"}
	for i := 1; i <= dataset.CMAPSSSensors; i++ {
		names = append(names, "s"+strconv.Itoa(i))
	}
	var X [][]float64
	for _, e := range engines {
		for _, c := range e.Cycles {
			row := append([]float64{float64(c.Unit), float64(c.Cycle)}, c.Settings[:]...)
			X = append(X, append(row, c.Sensors[:]...))
		}
	}
	return modelfile.DataHash(names, X, nil)
}

// WriteTable prints the run's figures.
func (r *Result) WriteTable(w io.Writer) error {
	m := r.Model
	fmt.Fprintf(w, "RUL on C-MAPSS: %d training engines, %d rows, cap %g, %d features\n", m.Info.Engines, m.Info.Rows, m.Config.Cap, m.NumFeatures())
	fmt.Fprintf(w, "conformal calibration (%s) on %d engine-grouped folds of the training engines: held-out coverage %.3f (nominal %.2f)\n",
		m.Info.Calibration, m.Info.Folds, m.Info.CVCoverage, m.Coverage)
	fmt.Fprintf(w, "test-like held-out coverage (each held-out engine cut at a uniform cycle, margins from the other folds):\n")
	for _, c := range m.Info.CutCV {
		fmt.Fprintf(w, "  %v\n", c)
	}
	fmt.Fprintf(w, "  marginal margin %+.2f cycles; held-out coverage under it per midpoint bin (edges %.0f): %.3f (rows %d)\n",
		m.Margin, m.Edges, m.Info.CVBinCoverageMarginal, m.Info.CVBinRows)
	fmt.Fprintf(w, "  per-bin margins %.2f\n", m.Margins)
	fmt.Fprintf(w, "training time %.1f s wall clock, %.1f s CPU\n", r.TrainSeconds, r.TrainCPUSeconds)
	if r.Metrics == nil {
		_, err := fmt.Fprintf(w, "test: %d engines estimated, no truth given\n", len(r.Units))
		return err
	}
	t := r.Metrics
	_, err := fmt.Fprintf(w, "test (%d engines, last cycle vs RUL file): RMSE %.2f  PHM08 %.1f  %.0f%% interval coverage %.3f (of min(true, cap)), %.3f (of true RUL), mean width %.1f\n",
		len(r.Units), t.RMSE, t.PHM08, 100*m.Coverage, t.Coverage, t.CoverageUncapped, t.MeanWidth)
	return err
}

// ExportFeatures writes the feature matrices that Train and Evaluate use
// to dir as CSV, for comparing other learners on identical inputs:
// train.csv (every training cycle: engine, features, target) and
// test.csv (each test engine's last cycle: engine, features, true RUL
// when truth is not nil, else empty).
func ExportFeatures(dir string, train, test []dataset.CMAPSSEngine, truth []int, cfg Config) error {
	cfg = cfg.withDefaults()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("rul: %w", err)
	}
	rows, err := TrainingRows(train, cfg)
	if err != nil {
		return err
	}
	last, err := LastFeatures(test, cfg)
	if err != nil {
		return err
	}
	if truth != nil && len(truth) != len(test) {
		return fmt.Errorf("rul: %d true values for %d engines", len(truth), len(test))
	}
	header := append(append([]string{"engine"}, FeatureNames()...), "target")
	write := func(name string, n int, row func(i int) (engine int, x []float64, target string)) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("rul: %w", err)
		}
		cw := csv.NewWriter(f)
		cw.Write(header)
		rec := make([]string, len(header))
		for i := 0; i < n; i++ {
			e, x, t := row(i)
			rec[0] = strconv.Itoa(e)
			for j, v := range x {
				rec[1+j] = strconv.FormatFloat(v, 'g', -1, 64)
			}
			rec[len(rec)-1] = t
			cw.Write(rec)
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			f.Close()
			return fmt.Errorf("rul: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("rul: %w", err)
		}
		return nil
	}
	if err := write("train.csv", len(rows.Y), func(i int) (int, []float64, string) {
		return train[rows.Engine[i]].Unit, rows.X[i], strconv.FormatFloat(rows.Y[i], 'g', -1, 64)
	}); err != nil {
		return err
	}
	return write("test.csv", len(last), func(i int) (int, []float64, string) {
		t := ""
		if truth != nil {
			t = strconv.Itoa(truth[i])
		}
		return test[i].Unit, last[i], t
	})
}

// ExportFiles is ExportFeatures over the files f (f.RUL may be empty).
func ExportFiles(dir string, f Files, cfg Config) error {
	train, err := dataset.LoadCMAPSSEngines(f.Train)
	if err != nil {
		return err
	}
	test, err := dataset.LoadCMAPSSEngines(f.Test)
	if err != nil {
		return err
	}
	var truth []int
	if f.RUL != "" {
		if truth, err = dataset.LoadCMAPSSRUL(f.RUL); err != nil {
			return err
		}
	}
	return ExportFeatures(dir, train, test, truth, cfg)
}
