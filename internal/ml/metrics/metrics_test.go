package metrics

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestConfusion(t *testing.T) {
	labels := []bool{true, true, true, false, false, false, false, true}
	pred := []bool{true, false, true, true, false, false, false, false}
	c := NewConfusion(labels, pred)
	if c != (Confusion{TP: 2, FP: 1, TN: 3, FN: 2}) {
		t.Fatalf("confusion = %v", c)
	}
	// Hand-computed: accuracy 5/8, precision 2/3, recall 2/4, F1 4/7.
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"accuracy", c.Accuracy(), 5.0 / 8},
		{"precision", c.Precision(), 2.0 / 3},
		{"recall", c.Recall(), 0.5},
		{"f1", c.F1(), 4.0 / 7},
	} {
		if math.Abs(tt.got-tt.want) > 1e-12 {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if got := AtThreshold(labels, []float64{1, 0, 1, 1, 0, 0, 0, 0}, 0.5); got != c {
		t.Errorf("AtThreshold = %v, want %v", got, c)
	}
	if z := (Confusion{TN: 4}); z.Precision() != 0 || z.Recall() != 0 || z.F1() != 0 || z.Accuracy() != 1 {
		t.Errorf("zero-division rates of %v", z)
	}
}

func TestRankingMetrics(t *testing.T) {
	tests := []struct {
		name       string
		labels     []bool
		scores     []float64
		auc, prAUC float64
	}{
		// Pairs (pos, neg): 3 of 4 ordered right. AP = ½·1 + ½·⅔.
		{"distinct", []bool{true, false, true, false}, []float64{0.8, 0.6, 0.4, 0.2}, 0.75, 0.5 + 1.0/3},
		// Ties count one half: pairs 0.5+1+0.5+1 of 4; one threshold gives P=⅔ at R=1.
		{"ties", []bool{true, false, true, false}, []float64{0.5, 0.5, 0.5, 0.1}, 0.75, 2.0 / 3},
		{"perfect", []bool{false, true, true}, []float64{0.1, 0.9, 0.8}, 1, 1},
		{"inverted", []bool{false, true}, []float64{0.9, 0.1}, 0, 0.5},
		// scikit-learn 1.2 roc_auc_score / average_precision_score on this input:
		// 0.64 and 0.6976190476190476 (computed once, copied here).
		{"sklearn", []bool{true, false, true, true, false, false, true, false, false, true},
			[]float64{0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.5, 0.4, 0.2, 0.1}, 0.64, 0.6976190476190476},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			auc, err := ROCAUC(tt.labels, tt.scores)
			if err != nil || math.Abs(auc-tt.auc) > 1e-12 {
				t.Errorf("ROCAUC = %v, %v; want %v", auc, err, tt.auc)
			}
			ap, err := PRAUC(tt.labels, tt.scores)
			if err != nil || math.Abs(ap-tt.prAUC) > 1e-12 {
				t.Errorf("PRAUC = %v, %v; want %v", ap, err, tt.prAUC)
			}
		})
	}
	if _, err := ROCAUC([]bool{true, true}, []float64{1, 2}); !errors.Is(err, ErrOneClass) {
		t.Errorf("one class: err = %v", err)
	}
	if _, err := PRAUC([]bool{true}, []float64{1, 2}); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestLogLoss(t *testing.T) {
	got := LogLoss([]bool{true, false}, []float64{0.8, 0.4})
	want := -(math.Log(0.8) + math.Log(0.6)) / 2
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("LogLoss = %v, want %v", got, want)
	}
	if got := LogLoss([]bool{true}, []float64{0}); math.IsInf(got, 0) || got < 30 {
		t.Errorf("LogLoss of a certain miss = %v, want large and finite", got)
	}
}

func checkPartition(t *testing.T, folds []Fold, n int) {
	t.Helper()
	seen := make([]int, n)
	for i, f := range folds {
		if len(f.Train)+len(f.Test) != n {
			t.Fatalf("fold %d: %d train + %d test != %d", i, len(f.Train), len(f.Test), n)
		}
		if !slices.IsSorted(f.Train) || !slices.IsSorted(f.Test) {
			t.Fatalf("fold %d not sorted", i)
		}
		for _, r := range f.Test {
			seen[r]++
		}
		in := make(map[int]bool, len(f.Test))
		for _, r := range f.Test {
			in[r] = true
		}
		for _, r := range f.Train {
			if in[r] {
				t.Fatalf("fold %d: row %d in train and test", i, r)
			}
		}
	}
	for r, c := range seen {
		if c != 1 {
			t.Fatalf("row %d in %d test sets", r, c)
		}
	}
}

func TestKFold(t *testing.T) {
	folds, err := KFold(103, 5, 42)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, folds, 103)
	for i, f := range folds {
		if len(f.Test) < 20 || len(f.Test) > 21 {
			t.Errorf("fold %d has %d test rows", i, len(f.Test))
		}
	}
	again, _ := KFold(103, 5, 42)
	other, _ := KFold(103, 5, 43)
	if !slices.Equal(again[0].Test, folds[0].Test) {
		t.Error("same seed gave different folds")
	}
	if slices.Equal(other[0].Test, folds[0].Test) {
		t.Error("different seeds gave the same folds")
	}
	if _, err := KFold(3, 5, 1); err == nil {
		t.Error("k > n accepted")
	}
}

func TestStratifiedKFold(t *testing.T) {
	labels := make([]bool, 1000)
	for i := 0; i < 34; i++ {
		labels[i*29] = true
	}
	folds, err := StratifiedKFold(labels, 5, 7)
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, folds, len(labels))
	for i, f := range folds {
		pos := 0
		for _, r := range f.Test {
			if labels[r] {
				pos++
			}
		}
		if pos < 6 || pos > 7 {
			t.Errorf("fold %d holds %d positives, want 6 or 7", i, pos)
		}
		if len(f.Test) != 200 {
			t.Errorf("fold %d holds %d rows, want 200", i, len(f.Test))
		}
	}
	back, err := FoldsFromAssignment(Assignment(folds, len(labels)), 5)
	if err != nil || !slices.Equal(back[3].Train, folds[3].Train) {
		t.Errorf("assignment round trip: %v", err)
	}
	if _, err := StratifiedKFold([]bool{true, false, false}, 2, 1); err == nil {
		t.Error("fewer positives than folds accepted")
	}
	if _, err := FoldsFromAssignment([]int{0, 0, 2}, 3); err == nil {
		t.Error("empty fold accepted")
	}
}

func TestStratifiedSplit(t *testing.T) {
	labels := make([]bool, 500)
	for i := 0; i < 50; i++ {
		labels[i*10] = true
	}
	train, test, err := StratifiedSplit(labels, 0.1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(train)+len(test) != 500 || len(test) != 50 {
		t.Fatalf("split %d/%d", len(train), len(test))
	}
	pos := 0
	for _, r := range test {
		if labels[r] {
			pos++
		}
	}
	if pos != 5 {
		t.Errorf("test positives = %d, want 5", pos)
	}
	if _, _, err := StratifiedSplit(labels, 1.5, 1); err == nil {
		t.Error("fraction 1.5 accepted")
	}
}
