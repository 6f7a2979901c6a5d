// Package rultest trains a small remaining-useful-life model for tests of
// code that reads RUL model files.
package rultest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
)

// SmallModel trains a quick model (30 iterations, learning rate 0.2, 7
// leaves, 3 folds, seed 1) on the first 20 FD001 training engines, writes
// it as the model file rul.model in dir and returns the file's path and
// the model. The test fails when FD001 cannot be read.
func SmallModel(t testing.TB, dir string) (string, *rul.Model) {
	t.Helper()
	f, err := rul.FD001()
	if err != nil {
		t.Fatal(err)
	}
	train, err := dataset.LoadCMAPSSEngines(f.Train)
	if err != nil {
		t.Fatal(err)
	}
	p := rul.DefaultParams()
	p.MaxIter, p.LearningRate, p.MaxLeafNodes = 30, 0.2, 7
	m, err := rul.Train(context.Background(), train[:20], rul.Options{Params: p, Folds: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := modelfile.Marshal(modelfile.Model{Meta: modelfile.Metadata{FeatureNames: rul.FeatureNames()}, Scorer: m})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rul.model")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, m
}
