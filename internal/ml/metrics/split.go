package metrics

import (
	"fmt"
	"math/rand/v2"
	"sort"
)

// Fold is one train/test partition of row indexes, both in increasing
// order.
type Fold struct {
	Train, Test []int
}

// newRand is the generator every split uses: PCG, whose output for a seed
// is specified and so stable across Go releases.
func newRand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, 0x5a17_3a1d_7e57_0001))
}

// KFold shuffles rows 0..n-1 with seed and deals them into k folds whose
// sizes differ by at most one.
func KFold(n, k int, seed uint64) ([]Fold, error) {
	if k < 2 || k > n {
		return nil, fmt.Errorf("metrics: k-fold needs 2 <= k <= n, got k=%d n=%d", k, n)
	}
	perm := newRand(seed).Perm(n)
	assign := make([]int, n)
	for pos, row := range perm {
		assign[row] = pos * k / n
	}
	return FoldsFromAssignment(assign, k)
}

// StratifiedKFold deals the rows of each class into k folds separately, so
// every fold holds the class ratio of the whole. Each class is shuffled with
// seed and dealt round-robin after the previous class left off.
func StratifiedKFold(labels []bool, k int, seed uint64) ([]Fold, error) {
	pos, neg := split(labels)
	if k < 2 || len(pos) < k || len(neg) < k {
		return nil, fmt.Errorf("metrics: stratified k-fold needs 2 <= k <= rows of each class, got k=%d with %d positive and %d negative", k, len(pos), len(neg))
	}
	r := newRand(seed)
	assign := make([]int, len(labels))
	next := 0
	for _, class := range [][]int{pos, neg} {
		r.Shuffle(len(class), func(i, j int) { class[i], class[j] = class[j], class[i] })
		for _, row := range class {
			assign[row] = next
			next = (next + 1) % k
		}
	}
	return FoldsFromAssignment(assign, k)
}

// StratifiedSplit holds out about testFraction of the rows of each class
// (at least one of each) and returns the two index sets in increasing
// order.
func StratifiedSplit(labels []bool, testFraction float64, seed uint64) (train, test []int, err error) {
	if testFraction <= 0 || testFraction >= 1 {
		return nil, nil, fmt.Errorf("metrics: test fraction %v outside (0, 1)", testFraction)
	}
	pos, neg := split(labels)
	r := newRand(seed)
	for _, class := range [][]int{pos, neg} {
		if len(class) < 2 {
			return nil, nil, fmt.Errorf("metrics: stratified split needs two rows of each class, got %d positive and %d negative", len(pos), len(neg))
		}
		r.Shuffle(len(class), func(i, j int) { class[i], class[j] = class[j], class[i] })
		nt := int(float64(len(class))*testFraction + 0.5)
		nt = max(1, min(nt, len(class)-1))
		test = append(test, class[:nt]...)
		train = append(train, class[nt:]...)
	}
	sort.Ints(train)
	sort.Ints(test)
	return train, test, nil
}

// FoldsFromAssignment builds k folds from each row's fold number, as
// written by Assignment; every fold must be non-empty.
func FoldsFromAssignment(assign []int, k int) ([]Fold, error) {
	folds := make([]Fold, k)
	for row, f := range assign {
		if f < 0 || f >= k {
			return nil, fmt.Errorf("metrics: row %d assigned to fold %d outside 0..%d", row, f, k-1)
		}
		for i := range folds {
			if i == f {
				folds[i].Test = append(folds[i].Test, row)
			} else {
				folds[i].Train = append(folds[i].Train, row)
			}
		}
	}
	for i, f := range folds {
		if len(f.Test) == 0 {
			return nil, fmt.Errorf("metrics: fold %d is empty", i)
		}
	}
	return folds, nil
}

// Assignment returns, for n rows, the fold whose test set holds each row
// (-1 for a row in no test set).
func Assignment(folds []Fold, n int) []int {
	a := make([]int, n)
	for i := range a {
		a[i] = -1
	}
	for f, fold := range folds {
		for _, row := range fold.Test {
			a[row] = f
		}
	}
	return a
}

func split(labels []bool) (pos, neg []int) {
	for i, y := range labels {
		if y {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	return pos, neg
}
