package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/smartmaint/smartmaint/internal/ml/bearing"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/risk"
	"github.com/smartmaint/smartmaint/internal/ml/training"
)

// runTrain trains a model on a public dataset, prints its cross-validated
// metrics and writes the model file. See docs/ML.md.
func runTrain(args []string) error {
	var (
		ds, model, out, report, folds, run string
		cfg                                training.Config
		quiet                              bool
		read                               bearing.Config
		detect                             bearing.DetectConfig
	)
	g := gbdt.DefaultParams()
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: smartmaint train [flags]\n\nTrains a model on a dataset under shared/datasets ($SMARTMAINT_DATASETS) with\nstratified k-fold cross-validation, prints the metrics table and writes the\nmodel file. See docs/ML.md.\n\nflags:")
		fs.PrintDefaults()
	}
	fs.StringVar(&ds, "dataset", "ai4i", "dataset: ai4i (AI4I 2020 failures), bearing (run-to-failure vibration runs), azure-pdm (24 h failure risk, trained Jan-Feb 2015, tested on March) or cmapss (remaining useful life, C-MAPSS FD001; flags -cmapss-*, -rul-*)")
	fs.StringVar(&model, "model", training.ModelGBDT, "model for ai4i: gbdt (failure classifier) or iforest (anomaly detector); bearing always uses iforest")
	fs.IntVar(&cfg.Folds, "folds", 5, "folds of the stratified cross-validation")
	fs.Uint64Var(&cfg.Seed, "seed", 42, "seed of the folds and the models")
	fs.StringVar(&out, "out", "", "write the model fitted on all the data to this file (bearing: the last run's detector)")
	fs.StringVar(&report, "json", "", "write the metrics report as JSON to this file")
	fs.StringVar(&folds, "export-folds", "", "write each row's test fold (CSV row,fold) to this file, for the scikit-learn comparison")
	fs.BoolVar(&quiet, "quiet", false, "no progress bar")
	fs.Float64Var(&g.LearningRate, "learning-rate", g.LearningRate, "gbdt: shrinkage of each tree")
	fs.IntVar(&g.MaxIter, "max-iter", g.MaxIter, "gbdt: most boosting iterations")
	fs.IntVar(&g.MaxLeafNodes, "max-leaf-nodes", g.MaxLeafNodes, "gbdt: most leaves per tree")
	fs.IntVar(&g.MinSamplesLeaf, "min-samples-leaf", g.MinSamplesLeaf, "gbdt: fewest rows in a leaf")
	fs.Float64Var(&g.L2, "l2", 0, "gbdt: L2 regularisation of leaf values")
	fs.BoolVar(&g.EarlyStopping, "early-stopping", true, "gbdt: stop on a stratified 10% validation split")
	fs.StringVar(&g.ClassWeight, "class-weight", "", `gbdt: "" (unweighted) or "balanced" (raise recall of the rare failure class)`)
	fs.IntVar(&cfg.Forest.Trees, "trees", 100, "iforest: number of trees")
	fs.IntVar(&cfg.Forest.Subsample, "subsample", 256, "iforest: rows per tree")
	fs.Float64Var(&cfg.Forest.Contamination, "contamination", 0, "iforest: expected anomaly share setting the threshold (0: the paper's fixed 0.5)")
	fs.IntVar(&read.Channel, "channel", 0, "bearing: zero-based column of the bearing to watch")
	fs.Float64Var(&read.SampleRate, "sample-rate", 20480, "bearing: sampling rate in Hz")
	fs.StringVar(&run, "run", "", "bearing: only this run folder (default: every run)")
	fs.Float64Var(&detect.HealthyFraction, "healthy", 0.3, "bearing: leading share of a run trained on as healthy")
	fs.IntVar(&detect.Sustain, "sustain", 5, "bearing: consecutive snapshots above the threshold that raise the alarm")
	cmapss := cmapssFlags(fs)
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bar := newBar(quiet)
	defer bar.finish()

	switch ds {
	case "ai4i":
		cfg.Model, cfg.GBDT, cfg.Progress = model, g, bar.set("cross-validating "+model)
		d, err := training.LoadAI4I()
		if err != nil {
			return err
		}
		r, err := training.Run(ctx, d, cfg)
		if err != nil {
			return err
		}
		bar.finish()
		if err := r.WriteTable(os.Stdout); err != nil {
			return err
		}
		if err := writeFile(folds, r.WriteFolds); err != nil {
			return err
		}
		if err := writeJSON(report, r); err != nil {
			return err
		}
		return writeModel(out, r.Final)
	case "bearing":
		detect.Forest = iforest.Params{Trees: cfg.Forest.Trees, Subsample: cfg.Forest.Subsample, Seed: cfg.Seed}
		runs, err := training.BearingRuns()
		if err != nil {
			return err
		}
		var results []*training.BearingResult
		for _, dir := range runs {
			if run != "" && filepath.Base(dir) != run {
				continue
			}
			read.Progress = bar.set("reading " + filepath.Base(dir))
			res, err := training.Bearing(ctx, dir, read, detect)
			if err != nil {
				return err
			}
			results = append(results, res)
		}
		if len(results) == 0 {
			return fmt.Errorf("no bearing run named %q", run)
		}
		table := func(w io.Writer) error { return training.WriteBearingTable(w, results) }
		return bar.trained(table, results, report, out, results[len(results)-1].Model)
	case "azure-pdm":
		r, err := risk.TrainDir(ctx, "", risk.Config{Progress: bar.set("training azure-pdm failure risk")})
		if err != nil {
			return err
		}
		return bar.trained(r.WriteTable, r, report, out, r.Model)
	case "cmapss":
		return trainCMAPSS(ctx, bar, cmapss, out, report)
	default:
		return fmt.Errorf("dataset %q: want ai4i, bearing, azure-pdm or cmapss", ds)
	}
}

// bar is a progress bar on standard error, created on first use.
type bar struct {
	quiet bool
	pb    *progressbar.ProgressBar
}

func newBar(quiet bool) *bar { return &bar{quiet: quiet} }

// set returns a progress callback that (re)starts the bar with description.
func (b *bar) set(description string) func(done, total int) {
	if b.quiet {
		return nil
	}
	return func(done, total int) {
		if b.pb == nil {
			b.pb = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(description),
				progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(),
				progressbar.OptionSetElapsedTime(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
		}
		b.pb.Describe(description)
		b.pb.ChangeMax(total)
		b.pb.Set(done)
	}
}

// trained ends the bar, prints a training result's table on standard
// output and writes the result as JSON to report and its model to out
// (each skipped when its path is empty).
func (b *bar) trained(table func(io.Writer) error, result any, report, out string, m modelfile.Model) error {
	b.finish()
	if err := table(os.Stdout); err != nil {
		return err
	}
	if err := writeJSON(report, result); err != nil {
		return err
	}
	return writeModel(out, m)
}

func (b *bar) finish() {
	if b.pb != nil {
		b.pb.Finish()
		b.pb = nil
	}
}

func writeFile(path string, write func(w io.Writer) error) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeJSON(path string, v any) error {
	return writeFile(path, func(w io.Writer) error {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	})
}

func writeModel(path string, m modelfile.Model) error {
	if path == "" {
		return nil
	}
	if err := writeFile(path, func(w io.Writer) error { return modelfile.Write(w, m) }); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s model to %s\n", modelfile.KindOf(m.Scorer), path)
	return nil
}

// parseFlags parses args into fs, a command's flags that take no positional
// arguments. help reports that -h or -help printed the usage: the command
// has nothing more to do.
func parseFlags(fs *flag.FlagSet, args []string) (help bool, err error) {
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	if fs.NArg() > 0 {
		return false, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	return false, nil
}
