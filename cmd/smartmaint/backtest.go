package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/smartmaint/smartmaint/internal/backtest"
	"github.com/smartmaint/smartmaint/internal/dataset"
)

// backtestDatasets are the layouts `smartmaint backtest` reads.
var backtestDatasets = []string{backtest.DatasetCMAPSS, backtest.LayoutIMSFeatures, backtest.LayoutIMSRaw, "azure-pdm"}

// backtestFlags are the flags of `smartmaint backtest`.
type backtestFlags struct {
	dataset, file, dir, model, rul, json, charts, test, from, to string
	quiet                                                        bool
}

// runBacktest replays a dataset through the detectors and models the
// ingest path uses and reports what would have happened. See docs/ML.md.
func runBacktest(args []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return backtestCommand(ctx, args, os.Stdout, os.Stderr)
}

// backtestCommand is runBacktest writing the summary to stdout and
// progress and usage to stderr.
func backtestCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f backtestFlags
	fs := flag.NewFlagSet("backtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `usage: smartmaint backtest -dataset cmapss|ims-features|ims-raw|azure-pdm [flags]

Replays recorded data through the detectors and models the ingest path uses
and reports what would have happened: first sustained alarm, lead time before
the failure, false alarms, RUL error. Reads the shipped data under
shared/datasets ($SMARTMAINT_DATASETS) unless -file or -dir names other data in
the same layout. See docs/ML.md.

flags:`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.dataset, "dataset", "", "layout of the data: "+strings.Join(backtestDatasets, ", "))
	fs.StringVar(&f.file, "file", "", "cmapss: a test file (default test_FD001.txt); ims-features: a feature CSV (default ims-bearing/features.csv)")
	fs.StringVar(&f.dir, "dir", "", "ims-raw: a run folder of snapshot files (default ims-bearing/2nd_test); azure-pdm: a folder of PdM_*.csv (default azure-pdm)")
	fs.StringVar(&f.model, "model", "", "cmapss, azure-pdm: a model file (default: train one on the shipped training data)")
	fs.StringVar(&f.rul, "rul", "", "cmapss: the RUL file of -file's engines (the truth; default RUL_FD001.txt with the default -file, none otherwise)")
	fs.StringVar(&f.test, "test", "", "ims-features: only this run of the CSV (default: every run)")
	fs.StringVar(&f.from, "from", "", "azure-pdm: first day replayed, YYYY-MM-DD or RFC 3339 (default 2015-03-01)")
	fs.StringVar(&f.to, "to", "", "azure-pdm: end of the replay, exclusive (default a month after -from)")
	fs.StringVar(&f.json, "json", "", "write the report as JSON to this file")
	fs.StringVar(&f.charts, "charts", "", "write the charts as PNG files (name.png) to this folder")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress on stderr")
	if help, err := parseFlags(fs, args); help || err != nil {
		return err
	}
	rep, err := f.run(ctx, stderr)
	if err != nil {
		return err
	}
	if err := rep.Summary(stdout); err != nil {
		return err
	}
	if err := writeJSON(f.json, rep); err != nil {
		return err
	}
	return writeCharts(f.charts, rep.Charts())
}

// run checks the flags against the dataset and runs its backtest.
func (f backtestFlags) run(ctx context.Context, stderr io.Writer) (backtest.Report, error) {
	only := func(allowed ...string) error {
		set := map[string]string{"file": f.file, "dir": f.dir, "model": f.model, "rul": f.rul, "test": f.test, "from": f.from, "to": f.to}
		for _, name := range []string{"file", "dir", "model", "rul", "test", "from", "to"} {
			if set[name] != "" && !strings.Contains(" "+strings.Join(allowed, " ")+" ", " "+name+" ") {
				return fmt.Errorf("-%s does not apply to -dataset %s (it takes %s)", name, f.dataset, flagList(allowed))
			}
		}
		return nil
	}
	progress := newProgress(stderr, f.quiet, "backtest "+f.dataset)
	defer progress.done()
	switch f.dataset {
	case backtest.DatasetCMAPSS:
		if err := only("file", "model", "rul"); err != nil {
			return nil, err
		}
		if err := exists(f.file, false, f.model, false, f.rul, false); err != nil {
			return nil, err
		}
		rep, err := backtest.CMAPSS(ctx, backtest.CMAPSSOptions{Test: f.file, RUL: f.rul, Model: f.model, Progress: progress.report})
		return layoutError(rep, err, f.file, "the C-MAPSS layout (26 space-separated columns: unit, cycle, 3 settings, 21 sensors)")
	case backtest.LayoutIMSFeatures:
		if err := only("file", "test"); err != nil {
			return nil, err
		}
		if f.file == "" {
			var err error
			if f.file, err = dataset.IMSFeaturesPath(); err != nil {
				return nil, err
			}
		}
		if err := exists(f.file, false); err != nil {
			return nil, err
		}
		rep, err := backtest.IMS(ctx, backtest.IMSOptions{Layout: backtest.LayoutIMSFeatures, File: f.file, Test: f.test, Progress: progress.report})
		return layoutError(rep, err, f.file, "the IMS feature CSV layout (dataset.ReadIMSFeatures)")
	case backtest.LayoutIMSRaw:
		if err := only("dir"); err != nil {
			return nil, err
		}
		if f.dir == "" {
			d, err := dataset.IMSDir()
			if err != nil {
				return nil, err
			}
			f.dir = filepath.Join(d, "2nd_test")
		}
		if err := exists(f.dir, true); err != nil {
			return nil, err
		}
		rep, err := backtest.IMS(ctx, backtest.IMSOptions{Layout: backtest.LayoutIMSRaw, Dir: f.dir, Progress: progress.report})
		return layoutError(rep, err, f.dir, "the IMS raw layout (one file per snapshot named YYYY.MM.DD.hh.mm.ss, a column per channel)")
	case "azure-pdm":
		if err := only("dir", "model", "from", "to"); err != nil {
			return nil, err
		}
		if err := exists(f.dir, true, f.model, false); err != nil {
			return nil, err
		}
		o := backtest.AzureOptions{Dir: f.dir, Model: f.model, Progress: progress.report}
		var err error
		if o.Start, err = parseDay("from", f.from); err != nil {
			return nil, err
		}
		if o.End, err = parseDay("to", f.to); err != nil {
			return nil, err
		}
		rep, err := backtest.AzurePdM(ctx, o)
		return layoutError(rep, err, f.dir, "the Azure PdM layout (PdM_telemetry*.csv, PdM_failures.csv, PdM_errors.csv, PdM_maint.csv, PdM_machines.csv)")
	case "":
		return nil, fmt.Errorf("-dataset is required: %s", strings.Join(backtestDatasets, ", "))
	default:
		return nil, fmt.Errorf("unknown dataset %q: want %s", f.dataset, strings.Join(backtestDatasets, ", "))
	}
}

// layoutError returns rep, or err with the data it ran on and the layout
// that data must be in.
func layoutError[R backtest.Report](rep R, err error, path, layout string) (backtest.Report, error) {
	if err == nil {
		return rep, nil
	}
	if errors.Is(err, context.Canceled) || path == "" {
		return nil, err
	}
	return nil, fmt.Errorf("%w\n(backtest of %s, which must be in %s)", err, path, layout)
}

func flagList(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "-" + n
	}
	return strings.Join(out, ", ")
}

// exists checks pairs of (path, want a folder); empty paths pass.
func exists(pairs ...any) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		path, dir := pairs[i].(string), pairs[i+1].(bool)
		if path == "" {
			continue
		}
		st, err := os.Stat(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("%s: no such file or folder", path)
		case err != nil:
			return err
		case dir && !st.IsDir():
			return fmt.Errorf("%s is a file; this dataset reads a folder (-dir)", path)
		case !dir && st.IsDir():
			return fmt.Errorf("%s is a folder; this flag takes a file", path)
		}
	}
	return nil
}

// parseDay parses a YYYY-MM-DD day or an RFC 3339 time; "" is zero.
func parseDay(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("-%s %q: want YYYY-MM-DD or RFC 3339", name, s)
	}
	return t.UTC(), nil
}

// writeCharts writes every chart as dir/name.png.
func writeCharts(dir string, charts []*backtest.Chart) error {
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range charts {
		if err := writeFile(filepath.Join(dir, c.Name+".png"), c.WritePNG); err != nil {
			return fmt.Errorf("chart %s: %w", c.Name, err)
		}
	}
	return nil
}

// progress shows a backtest's progress on stderr: a line redrawn in place
// on a terminal, a line every 10% otherwise.
type progress struct {
	w        io.Writer
	label    string
	tty      bool
	quiet    bool
	last     time.Time
	lastTen  int
	redrawn  bool
	finished bool
}

func newProgress(w io.Writer, quiet bool, label string) *progress {
	p := &progress{w: w, label: label, quiet: quiet, lastTen: -1}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

// report is a backtest.Progress.
func (p *progress) report(done, total int) {
	if p.quiet || total <= 0 {
		return
	}
	pct := 100 * done / total
	if p.tty {
		if done < total && time.Since(p.last) < 100*time.Millisecond {
			return
		}
		p.last = time.Now()
		fmt.Fprintf(p.w, "\r%s: %3d%% (%d/%d)", p.label, pct, done, total)
		p.redrawn = true
		return
	}
	if ten := pct / 10; ten != p.lastTen {
		p.lastTen = ten
		fmt.Fprintf(p.w, "%s: %d%% (%d/%d)\n", p.label, pct, done, total)
	}
}

// done ends the terminal's progress line.
func (p *progress) done() {
	if p.redrawn && !p.finished {
		fmt.Fprintln(p.w)
		p.finished = true
	}
}
