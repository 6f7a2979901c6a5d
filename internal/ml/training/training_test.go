package training

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/ml/bearing"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

func ai4i(t *testing.T) *Data {
	t.Helper()
	d, err := LoadAI4I()
	if err != nil {
		t.Skipf("AI4I 2020 not available: %v", err)
	}
	if len(d.X) != 10000 || len(d.FeatureNames) != 8 {
		t.Fatalf("%d rows, %d features", len(d.X), len(d.FeatureNames))
	}
	return d
}

// TestGBDTOnAI4I is the acceptance check: a failure classifier on the
// process features and Type only, stratified 5-fold, reporting F1, recall
// and ROC AUC for the failure class.
func TestGBDTOnAI4I(t *testing.T) {
	d := ai4i(t)
	var last, total, calls int
	r, err := Run(context.Background(), d, Config{
		Model: ModelGBDT, Folds: 5, Seed: 42, GBDT: gbdt.DefaultParams(),
		Progress: func(done, tot int) {
			if done < last {
				t.Errorf("progress went back from %d to %d", last, done)
			}
			last, total = done, tot
			calls++
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != total || total != 600 || calls < 12 {
		t.Errorf("progress ended at %d of %d after %d calls", last, total, calls)
	}
	if len(r.Folds) != 5 || r.Mean.TestRows != 2000 {
		t.Fatalf("folds %+v", r.Folds)
	}
	m := r.Mean
	t.Logf("AI4I GBDT: ROC AUC %.4f, F1 %.4f, recall %.4f", m.ROCAUC, m.F1, m.Recall)
	if m.ROCAUC < 0.96 || m.F1 < 0.65 || m.Recall < 0.55 {
		t.Errorf("AI4I GBDT: ROC AUC %.4f F1 %.4f recall %.4f, want >= 0.96, 0.65, 0.55", m.ROCAUC, m.F1, m.Recall)
	}
	c := m.Confusion
	if c.TP+c.FN != 339 || c.Total() != 10000 {
		t.Errorf("pooled confusion %v: want every row held out once, 339 failures", c)
	}
	// Every row is in exactly one test fold.
	seen := make([]int, 5)
	for _, f := range r.Assignment {
		seen[f]++
	}
	for k, n := range seen {
		if n != 2000 {
			t.Errorf("fold %d holds %d rows", k, n)
		}
	}
	// The final model carries its metrics and survives a round trip.
	b, err := modelfile.Marshal(r.Final)
	if err != nil {
		t.Fatal(err)
	}
	back, err := modelfile.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if back.Meta.Metrics["cv_roc_auc"] != m.ROCAUC || back.Meta.Rows != 10000 || back.Meta.Kind != modelfile.KindGBDT {
		t.Errorf("metadata %+v", back.Meta)
	}
	for _, x := range d.X[:100] {
		if back.Scorer.Score(x) != r.Final.Scorer.Score(x) {
			t.Fatal("final model scores differently after a round trip")
		}
	}
	var table bytes.Buffer
	if err := r.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ROC AUC", "recall", "mean", "± std", fmt.Sprintf("%.4f", m.ROCAUC), "TP "} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

func TestIForestOnAI4I(t *testing.T) {
	d := ai4i(t)
	r, err := Run(context.Background(), d, Config{Model: ModelIForest, Seed: 42, Forest: iforest.Params{Contamination: 0.0339}})
	if err != nil {
		t.Fatal(err)
	}
	if r.Mean.ROCAUC < 0.70 {
		t.Errorf("Isolation Forest ROC AUC %.4f on failures, want >= 0.70", r.Mean.ROCAUC)
	}
	if r.Threshold <= 0.5 || r.Final.Meta.Threshold != r.Threshold {
		t.Errorf("threshold %v from contamination, metadata %v", r.Threshold, r.Final.Meta.Threshold)
	}
}

func TestFoldsFileAndErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	d := &Data{Name: "toy", FeatureNames: []string{"x"}}
	for i := 0; i < 200; i++ {
		x := rng.NormFloat64()
		d.X = append(d.X, []float64{x})
		d.Y = append(d.Y, x > 1)
	}
	r, err := Run(context.Background(), d, Config{Model: ModelIForest, Folds: 4, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.WriteFolds(&buf); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 201 || lines[0] != "row,fold" || !strings.HasPrefix(lines[1], "0,") {
		t.Errorf("folds file starts %q, %d lines", lines[:2], len(lines))
	}
	if _, err := Run(context.Background(), d, Config{Model: "svm"}); err == nil {
		t.Error("unknown model accepted")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, d, Config{Model: ModelIForest}); err == nil {
		t.Error("cancelled context ignored")
	}
}

// TestBearing runs the detector through the training entry point on a
// small synthetic run whose noise level steps up two thirds of the way in.
func TestBearing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run1")
	os.Mkdir(dir, 0o755)
	rng := rand.New(rand.NewPCG(2, 2))
	start := time.Date(2004, 2, 12, 0, 0, 0, 0, time.UTC)
	for s := 0; s < 60; s++ {
		var b strings.Builder
		sd := 0.1
		if s >= 40 {
			sd = 0.4
		}
		for i := 0; i < 512; i++ {
			fmt.Fprintf(&b, "%.5f\n", sd*rng.NormFloat64()+0.05*math.Sin(float64(i)))
		}
		name := start.Add(time.Duration(s) * time.Hour).Format("2006.01.02.15.04.05")
		os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644)
	}
	res, err := Bearing(context.Background(), dir, bearing.Config{SampleRate: 20480}, bearing.DetectConfig{Forest: iforest.Params{Seed: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if res.FirstAlarm != 40 || res.HoursBeforeEnd != 19 || res.Run != "run1" {
		t.Errorf("result %+v, want the alarm at snapshot 40, 19 hours before the end", res)
	}
	if _, err := modelfile.Marshal(res.Model); err != nil {
		t.Errorf("bearing model does not marshal: %v", err)
	}
	var buf bytes.Buffer // 40 of 59 intervals: 67.8% of the recorded life
	WriteBearingTable(&buf, []*BearingResult{res})
	if !strings.Contains(buf.String(), "67.8%") || !strings.Contains(buf.String(), "run1") {
		t.Errorf("table:\n%s", buf.String())
	}
}
