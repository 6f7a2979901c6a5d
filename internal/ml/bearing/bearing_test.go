package bearing

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/iforest"
)

// writeRun writes a synthetic run-to-failure: n snapshots of 2048 samples on
// two channels at 20480 Hz, named like IMS files ten minutes apart. Channel
// 1 is a shaft tone in noise; from snapshot onset on, a defect adds
// impulses at 160 Hz whose amplitude grows towards the end.
func writeRun(t *testing.T, n, onset int) string {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 1))
	start := time.Date(2004, 2, 12, 10, 32, 39, 0, time.UTC)
	for s := 0; s < n; s++ {
		var b strings.Builder
		amp := 0.0
		if s >= onset {
			amp = 0.3 + 1.5*float64(s-onset)/float64(n-onset)
		}
		for i := 0; i < 2048; i++ {
			tt := float64(i) / 20480
			v := 0.2*math.Sin(2*math.Pi*33*tt) + 0.1*rng.NormFloat64()
			if amp > 0 && i%128 < 3 { // 20480/128 = 160 impulses a second
				v += amp * math.Exp(-float64(i%128))
			}
			fmt.Fprintf(&b, "%.4f\t%.4f\n", 0.1*rng.NormFloat64(), v)
		}
		name := start.Add(time.Duration(s) * 10 * time.Minute).Format(imsTime)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("notes are skipped"), 0o644)
	return dir
}

func TestDetectsSustainedDegradation(t *testing.T) {
	dir := writeRun(t, 100, 80)
	calls := 0
	run, err := LoadRun(context.Background(), dir, Config{Channel: 1, SampleRate: 20480, Progress: func(done, total int) { calls++ }})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Features) != 100 || calls != 100 || len(run.FeatureNames) != 7 {
		t.Fatalf("%d snapshots, %d progress calls, names %v", len(run.Features), calls, run.FeatureNames)
	}
	if want := time.Date(2004, 2, 12, 10, 42, 39, 0, time.UTC); !run.Times[1].Equal(want) {
		t.Errorf("second snapshot time %v, want %v", run.Times[1], want)
	}
	d, err := Detect(run, DetectConfig{Forest: iforest.Params{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if d.FirstAlarm < 80 || d.FirstAlarm > 85 {
		t.Errorf("first sustained alarm at snapshot %d (life %.2f), want just after the onset at 80", d.FirstAlarm, d.LifeFraction)
	}
	// The healthy run on the other channel never alarms.
	quiet, err := LoadRun(context.Background(), dir, Config{Channel: 0, SampleRate: 20480})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := Detect(quiet, DetectConfig{Forest: iforest.Params{Seed: 1}}); d.FirstAlarm != -1 {
		t.Errorf("healthy channel alarmed at %d", d.FirstAlarm)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("1 2\n3 x\n"), 0o644)
	if _, err := LoadRun(context.Background(), dir, Config{Channel: 1, SampleRate: 100}); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad number: %v", err)
	}
	if _, err := LoadRun(context.Background(), dir, Config{Channel: 5, SampleRate: 100}); err == nil || !strings.Contains(err.Error(), "channel 5") {
		t.Errorf("missing channel: %v", err)
	}
	if _, err := LoadRun(context.Background(), t.TempDir(), Config{SampleRate: 100}); err == nil {
		t.Error("empty run accepted")
	}
	runs, err := Runs(filepath.Join(dir, "absent"))
	if err != nil || len(runs) != 0 {
		t.Errorf("Runs of a missing folder = %v, %v", runs, err)
	}
}
