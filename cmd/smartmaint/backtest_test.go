package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/ml/rul/rultest"
)

// cmapssFixture copies the first three engines of the shipped FD001 test
// file and their RUL truth into dir, and writes a quick RUL model trained
// on 20 training engines: data in the C-MAPSS layout that is not the
// shipped file.
func cmapssFixture(t *testing.T, dir string) (test, truth, model string) {
	t.Helper()
	f, err := rul.FD001()
	if err != nil {
		t.Fatal(err)
	}
	copyLines := func(from, to string, keep func(i int, line string) bool) {
		in, err := os.Open(from)
		if err != nil {
			t.Fatal(err)
		}
		defer in.Close()
		var out bytes.Buffer
		sc := bufio.NewScanner(in)
		for i := 0; sc.Scan(); i++ {
			if keep(i, sc.Text()) {
				out.WriteString(sc.Text() + "\n")
			}
		}
		if err := os.WriteFile(to, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	test, truth = filepath.Join(dir, "engines.txt"), filepath.Join(dir, "rul.txt")
	copyLines(f.Test, test, func(_ int, line string) bool {
		unit, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		return unit == "1" || unit == "2" || unit == "3"
	})
	copyLines(f.RUL, truth, func(i int, _ string) bool { return i < 3 })
	model, _ = rultest.SmallModel(t, dir)
	return test, truth, model
}

// TestBacktestCommand runs `smartmaint backtest` on small inputs of every
// layout and checks the summary, the JSON contract's fields (docs/ML.md)
// and that every chart is a PNG.
func TestBacktestCommand(t *testing.T) {
	dir := t.TempDir()
	test, truth, model := cmapssFixture(t, dir)
	for _, tc := range []struct {
		name    string
		args    []string
		summary string
		fields  []string
		charts  int
	}{
		{"cmapss", []string{"-dataset", "cmapss", "-file", test, "-rul", truth, "-model", model}, "3 units",
			[]string{"dataset", "rmse", "phm08", "coverage", "units"}, 3},
		{"ims-features", []string{"-dataset", "ims-features"}, "2nd_test",
			[]string{"dataset", "config", "bearings"}, 8},
		{"ims-raw", []string{"-dataset", "ims-raw"}, "2nd_test",
			[]string{"dataset", "config", "bearings"}, 4},
		{"azure-pdm", []string{"-dataset", "azure-pdm", "-from", "2015-03-01", "-to", "2015-03-03"}, "960 machine-hours",
			[]string{"dataset", "start", "end", "model", "threshold", "machine_hours", "alerts", "true_alerts", "false_alerts",
				"false_alerts_per_1000_machine_hours", "failures", "failures_caught", "recall", "lead_time_hours", "failure_events", "alert_events"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			jsonPath, charts := filepath.Join(out, "report.json"), filepath.Join(out, "charts")
			var stdout, stderr bytes.Buffer
			args := append(tc.args, "-json", jsonPath, "-charts", charts)
			if err := backtestCommand(context.Background(), args, &stdout, &stderr); err != nil {
				t.Fatalf("%v\nstderr: %s", err, stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.summary) {
				t.Errorf("summary lacks %q:\n%s", tc.summary, stdout.String())
			}
			if tc.name != "ims-features" && !strings.Contains(stderr.String(), "100%") {
				t.Errorf("no progress on stderr: %q", stderr.String())
			}
			raw, err := os.ReadFile(jsonPath)
			if err != nil {
				t.Fatal(err)
			}
			var doc map[string]any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.fields {
				if _, ok := doc[k]; !ok {
					t.Errorf("report has no %q", k)
				}
			}
			if doc["dataset"] != tc.name {
				t.Errorf("dataset = %v, want %s", doc["dataset"], tc.name)
			}
			pngs, _ := filepath.Glob(filepath.Join(charts, "*.png"))
			if len(pngs) < tc.charts {
				t.Errorf("%d charts, want at least %d", len(pngs), tc.charts)
			}
			for _, p := range pngs {
				f, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				_, err = png.Decode(f)
				f.Close()
				if err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
		})
	}
	t.Run("errors", func(t *testing.T) { backtestErrors(t, model) })
}

// backtestErrors: unknown dataset, missing file, a flag of another layout
// and a file in the wrong layout each say what is wrong.
func backtestErrors(t *testing.T, model string) {
	dir := t.TempDir()
	notCMAPSS := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notCMAPSS, []byte("hello world\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "-dataset is required"},
		{[]string{"-dataset", "ai4i"}, `unknown dataset "ai4i"`},
		{[]string{"-dataset", "cmapss", "-file", filepath.Join(dir, "missing.txt")}, "no such file"},
		{[]string{"-dataset", "ims-raw", "-file", notCMAPSS}, "-file does not apply to -dataset ims-raw"},
		{[]string{"-dataset", "ims-raw", "-dir", notCMAPSS}, "is a file"},
		{[]string{"-dataset", "cmapss", "-file", notCMAPSS, "-model", model}, "C-MAPSS layout"},
		{[]string{"-dataset", "ims-features", "-file", notCMAPSS}, "IMS feature CSV layout"},
		{[]string{"-dataset", "azure-pdm", "-from", "March"}, "want YYYY-MM-DD"},
	} {
		var stdout, stderr bytes.Buffer
		err := backtestCommand(context.Background(), append(tc.args, "-quiet"), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
}
