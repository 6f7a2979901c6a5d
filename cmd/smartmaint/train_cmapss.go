package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
)

// cmapssOptions are the flags of `smartmaint train --dataset cmapss`.
type cmapssOptions struct {
	files    rul.Files
	opts     rul.Options
	export   string
	iter     int
	rate     float64
	leaves   int
	minLeaf  int
	coverage float64
	cv       bool
}

func cmapssFlags(fs *flag.FlagSet) *cmapssOptions {
	c := &cmapssOptions{}
	p := rul.DefaultParams()
	d := rul.DefaultConfig()
	fs.StringVar(&c.files.Train, "cmapss-train", "", "cmapss: training file (default: the shipped train_FD001.txt)")
	fs.StringVar(&c.files.Test, "cmapss-test", "", "cmapss: test file (default: the shipped test_FD001.txt)")
	fs.StringVar(&c.files.RUL, "cmapss-rul", "", "cmapss: RUL file of the test engines (default: the shipped RUL_FD001.txt)")
	fs.StringVar(&c.export, "export-features", "", "cmapss: write the train.csv and test.csv feature matrices to this folder, for the scikit-learn comparison")
	fs.Float64Var(&c.opts.Config.Cap, "cap", d.Cap, "cmapss: cap of the piecewise-linear RUL target")
	fs.IntVar(&c.opts.Config.Short, "short-window", d.Short, "cmapss: short rolling window in cycles")
	fs.IntVar(&c.opts.Config.Long, "long-window", d.Long, "cmapss: long rolling window in cycles")
	fs.IntVar(&c.opts.Config.Baseline, "baseline", d.Baseline, "cmapss: first cycles averaged as an engine's baseline")
	fs.Float64Var(&c.coverage, "coverage", 0.8, "cmapss: nominal coverage of the intervals")
	fs.IntVar(&c.opts.Folds, "calibration-folds", 5, "cmapss: engine-grouped folds calibrating the intervals")
	fs.IntVar(&c.iter, "rul-max-iter", p.MaxIter, "cmapss: boosting iterations")
	fs.Float64Var(&c.rate, "rul-learning-rate", p.LearningRate, "cmapss: shrinkage of each tree")
	fs.IntVar(&c.leaves, "rul-max-leaf-nodes", p.MaxLeafNodes, "cmapss: most leaves per tree")
	fs.IntVar(&c.minLeaf, "rul-min-samples-leaf", p.MinSamplesLeaf, "cmapss: fewest rows in a leaf")
	fs.BoolVar(&c.cv, "rul-cv", false, "cmapss: only cross-validate the point model's parameters on 5 engine-grouped folds of the training engines (RMSE of the capped target over every held-out cycle) and print it")
	return c
}

// trainCMAPSS trains the RUL model, prints its test figures and writes the
// model file, the JSON report and the exported features when asked.
func trainCMAPSS(ctx context.Context, b *bar, c *cmapssOptions, out, report string) error {
	def, err := rul.FD001()
	if err != nil {
		return err
	}
	f := c.files
	if f.Train == "" {
		f.Train = def.Train
	}
	if f.Test == "" {
		f.Test, f.RUL = def.Test, def.RUL
		if c.files.RUL != "" {
			f.RUL = c.files.RUL
		}
	}
	o := c.opts
	o.Params = rul.DefaultParams()
	o.Params.MaxIter, o.Params.LearningRate, o.Params.MaxLeafNodes, o.Params.MinSamplesLeaf = c.iter, c.rate, c.leaves, c.minLeaf
	o.Coverage, o.Seed = c.coverage, 42
	o.Progress = b.set("training cmapss RUL")
	if c.cv {
		train, err := dataset.LoadCMAPSSEngines(f.Train)
		if err != nil {
			return err
		}
		rows, err := rul.TrainingRows(train, o.Config)
		if err != nil {
			return err
		}
		r, err := rul.CrossValidate(ctx, rows, o.Config.Cap, o.Params, 5, o.Seed)
		if err != nil {
			return err
		}
		fmt.Printf("engine-grouped 5-fold CV, learning rate %g, %d iterations, %d leaves, min %d a leaf: RMSE %.3f (folds %.2f), %.1f s\n",
			c.rate, c.iter, c.leaves, c.minLeaf, r.RMSE, r.FoldRMSE, r.Seconds)
		return writeJSON(report, r)
	}
	if c.export != "" {
		if err := rul.ExportFiles(c.export, f, o.Config); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s/train.csv and %s/test.csv\n", c.export, c.export)
	}
	r, err := rul.Run(ctx, f, o)
	if err != nil {
		return err
	}
	return b.trained(r.WriteTable, r, report, out, r.File)
}
