// Package bearing detects the onset of wear in run-to-failure vibration
// recordings such as the NASA/IMS bearing data: each snapshot (a short
// recording taken every few minutes) becomes a feature vector (package
// vibration), an Isolation Forest learns the early, healthy part of the
// run, and the first alarm is the first time the anomaly score stays above
// the healthy threshold for several snapshots in a row.
//
// A run is a folder of snapshot files, one per recording, named so that
// they sort in time order (IMS names them by timestamp,
// 2004.02.12.10.32.39); each line holds one sample per channel separated by
// whitespace. See docs/ML.md for the expected layout under the datasets
// folder.
package bearing

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/vibration"
)

// Config says how to read a run.
type Config struct {
	// Channel is the zero-based column holding the bearing to watch.
	Channel int `json:"channel"`
	// SampleRate is the sampling frequency in hertz (IMS: 20480).
	SampleRate float64 `json:"sample_rate_hz"`
	// Bands are the spectral bands; vibration.DefaultBands when empty.
	Bands []vibration.Band `json:"bands,omitempty"`
	// Progress, when set, is called after each snapshot read.
	Progress func(done, total int) `json:"-"`
}

// Run is a run's snapshots as features.
type Run struct {
	Dir      string
	Names    []string    // snapshot file names, in time order
	Times    []time.Time // parsed from IMS-style names; zero when not
	Features [][]float64
	// FeatureNames label the columns of Features.
	FeatureNames []string
}

// imsTime is the layout of IMS snapshot names.
const imsTime = "2006.01.02.15.04.05"

// LoadRun reads every snapshot file in dir (ignoring dot files and
// *.md/*.txt notes) and extracts its features. All snapshots must have the
// same number of samples.
func LoadRun(ctx context.Context, dir string, cfg Config) (*Run, error) {
	if !(cfg.SampleRate > 0) {
		return nil, fmt.Errorf("bearing: sample rate %v", cfg.SampleRate)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bearing: %w", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".md") || strings.HasSuffix(n, ".txt") {
			continue
		}
		names = append(names, n)
	}
	slices.Sort(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("bearing: no snapshot files in %s", dir)
	}
	bands := cfg.Bands
	if len(bands) == 0 {
		bands = vibration.DefaultBands(cfg.SampleRate)
	}
	r := &Run{Dir: dir, Names: names, Times: make([]time.Time, len(names))}
	var ex *vibration.Extractor
	for i, n := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sig, err := readChannel(filepath.Join(dir, n), cfg.Channel)
		if err != nil {
			return nil, err
		}
		if ex == nil {
			if ex, err = vibration.NewExtractor(len(sig), cfg.SampleRate, bands); err != nil {
				return nil, fmt.Errorf("bearing: %s: %w", n, err)
			}
			r.FeatureNames = ex.Names()
		}
		f, err := ex.Extract(nil, sig)
		if err != nil {
			return nil, fmt.Errorf("bearing: %s: %w", n, err)
		}
		// Band powers span orders of magnitude; compare them on a log scale.
		for j := 3; j < len(f); j++ {
			f[j] = math.Log10(f[j] + 1e-12)
		}
		r.Features = append(r.Features, f)
		if t, err := time.Parse(imsTime, n); err == nil {
			r.Times[i] = t
		}
		if cfg.Progress != nil {
			cfg.Progress(i+1, len(names))
		}
	}
	return r, nil
}

// readChannel reads one whitespace-separated column of a snapshot file.
func readChannel(path string, channel int) ([]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bearing: %w", err)
	}
	defer f.Close()
	var out []float64
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if channel < 0 || channel >= len(fields) {
			return nil, fmt.Errorf("bearing: %s line %d: no channel %d in %d columns", path, line, channel, len(fields))
		}
		v, err := strconv.ParseFloat(fields[channel], 64)
		if err != nil {
			return nil, fmt.Errorf("bearing: %s line %d: %w", path, line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("bearing: %s: %w", path, err)
	}
	return out, nil
}

// Runs lists the run folders under dir (for example
// $SMARTMAINT_DATASETS/bearing), in name order. A missing dir is no error:
// the list is empty.
func Runs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bearing: %w", err)
	}
	var runs []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			runs = append(runs, filepath.Join(dir, e.Name()))
		}
	}
	return runs, nil
}

// DetectConfig tunes the degradation detector.
type DetectConfig struct {
	// HealthyFraction is the leading share of the run taken as healthy and
	// used for training (default 0.3).
	HealthyFraction float64 `json:"healthy_fraction"`
	// Quantile of the healthy scores that sets the alarm threshold
	// (default 0.99).
	Quantile float64 `json:"quantile"`
	// Sustain is how many consecutive snapshots must exceed the threshold
	// (default 5).
	Sustain int `json:"sustain"`
	// Forest configures the Isolation Forest.
	Forest iforest.Params `json:"forest"`
}

func (c DetectConfig) withDefaults() DetectConfig {
	c.HealthyFraction = cmp.Or(c.HealthyFraction, 0.3)
	c.Quantile = cmp.Or(c.Quantile, 0.99)
	c.Sustain = cmp.Or(c.Sustain, 5)
	return c
}

// Detection is the outcome of Detect.
type Detection struct {
	Forest    *iforest.Forest
	Scores    []float64 // anomaly score per snapshot
	Threshold float64
	Healthy   int // snapshots trained on
	// FirstAlarm is the index of the first snapshot of the first sustained
	// exceedance, -1 when there is none.
	FirstAlarm int
	// LifeFraction is FirstAlarm's position in the run, in [0, 1]: the
	// share of the recorded life elapsed when the alarm fires.
	LifeFraction float64
}

// Detect trains on the healthy start of the run and finds the first
// sustained alarm after it.
func Detect(r *Run, cfg DetectConfig) (*Detection, error) {
	cfg = cfg.withDefaults()
	n := len(r.Features)
	healthy := int(float64(n) * cfg.HealthyFraction)
	if healthy < 8 || healthy >= n {
		return nil, fmt.Errorf("bearing: %d snapshots give %d healthy ones; need at least 8 and some after them", n, healthy)
	}
	f, err := iforest.Train(r.Features[:healthy], cfg.Forest)
	if err != nil {
		return nil, fmt.Errorf("bearing: %w", err)
	}
	d := &Detection{Forest: f, Scores: make([]float64, n), Healthy: healthy, FirstAlarm: -1}
	for i, x := range r.Features {
		d.Scores[i] = f.Score(x)
	}
	d.Threshold = iforest.Quantile(d.Scores[:healthy], cfg.Quantile)
	f.SetThreshold(d.Threshold)
	streak := 0
	for i := healthy; i < n; i++ {
		if d.Scores[i] > d.Threshold {
			streak++
		} else {
			streak = 0
		}
		if streak == cfg.Sustain {
			d.FirstAlarm = i - cfg.Sustain + 1
			d.LifeFraction = float64(d.FirstAlarm) / float64(n-1)
			break
		}
	}
	return d, nil
}
