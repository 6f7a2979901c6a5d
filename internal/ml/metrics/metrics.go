// Package metrics scores binary classifiers and anomaly detectors: the
// confusion matrix and the rates derived from it, ROC AUC and PR AUC, and
// the k-fold and stratified splits they are measured on.
//
// Label true is the positive class (a failure, an anomaly). Rates whose
// denominator is zero are 0, as scikit-learn reports them with
// zero_division=0.
package metrics

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrOneClass is returned by the ranking metrics when the labels hold only
// one class, where the metric is undefined.
var ErrOneClass = errors.New("metrics: labels hold only one class")

// Confusion is a binary confusion matrix.
type Confusion struct {
	TP, FP, TN, FN int
}

// NewConfusion counts predictions against labels; both slices have the same
// length.
func NewConfusion(labels, predicted []bool) Confusion {
	var c Confusion
	for i, y := range labels {
		switch {
		case y && predicted[i]:
			c.TP++
		case y:
			c.FN++
		case predicted[i]:
			c.FP++
		default:
			c.TN++
		}
	}
	return c
}

// AtThreshold counts the predictions score >= threshold against labels.
func AtThreshold(labels []bool, scores []float64, threshold float64) Confusion {
	var c Confusion
	for i, y := range labels {
		p := scores[i] >= threshold
		switch {
		case y && p:
			c.TP++
		case y:
			c.FN++
		case p:
			c.FP++
		default:
			c.TN++
		}
	}
	return c
}

// Total is the number of predictions counted.
func (c Confusion) Total() int { return c.TP + c.FP + c.TN + c.FN }

// Accuracy is the share of correct predictions.
func (c Confusion) Accuracy() float64 { return ratio(c.TP+c.TN, c.Total()) }

// Precision is TP / (TP + FP).
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP / (TP + FN), the share of positives found.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall, 2TP / (2TP + FP + FN).
func (c Confusion) F1() float64 { return ratio(2*c.TP, 2*c.TP+c.FP+c.FN) }

// String renders the matrix on one line.
func (c Confusion) String() string {
	return fmt.Sprintf("TP=%d FP=%d TN=%d FN=%d", c.TP, c.FP, c.TN, c.FN)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ranked returns the indexes of scores ordered by decreasing score, and the
// number of positives; it fails when a class is missing.
func ranked(labels []bool, scores []float64) ([]int, int, error) {
	if len(labels) != len(scores) {
		return nil, 0, fmt.Errorf("metrics: %d labels but %d scores", len(labels), len(scores))
	}
	pos := 0
	for _, y := range labels {
		if y {
			pos++
		}
	}
	if pos == 0 || pos == len(labels) {
		return nil, 0, ErrOneClass
	}
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return scores[idx[a]] > scores[idx[b]] })
	return idx, pos, nil
}

// ROCAUC is the area under the ROC curve: the probability that a random
// positive scores above a random negative, ties counting one half.
func ROCAUC(labels []bool, scores []float64) (float64, error) {
	idx, pos, err := ranked(labels, scores)
	if err != nil {
		return 0, err
	}
	neg := len(labels) - pos
	// Walk tie groups from the top; each group adds a trapezoid.
	var area float64
	tp, fp := 0, 0
	for i := 0; i < len(idx); {
		j := i
		gtp, gfp := 0, 0
		for ; j < len(idx) && scores[idx[j]] == scores[idx[i]]; j++ {
			if labels[idx[j]] {
				gtp++
			} else {
				gfp++
			}
		}
		area += float64(gfp) * (float64(tp) + float64(gtp)/2)
		tp += gtp
		fp += gfp
		i = j
	}
	return area / (float64(pos) * float64(neg)), nil
}

// PRAUC is the area under the precision-recall curve computed as average
// precision, Σ (Rₙ − Rₙ₋₁) Pₙ over the distinct score thresholds — the
// step-wise estimate scikit-learn's average_precision_score uses, which
// unlike the trapezoid does not overstate the area.
func PRAUC(labels []bool, scores []float64) (float64, error) {
	idx, pos, err := ranked(labels, scores)
	if err != nil {
		return 0, err
	}
	var ap float64
	tp, fp := 0, 0
	prevRecall := 0.0
	for i := 0; i < len(idx); {
		j := i
		for ; j < len(idx) && scores[idx[j]] == scores[idx[i]]; j++ {
			if labels[idx[j]] {
				tp++
			} else {
				fp++
			}
		}
		recall := float64(tp) / float64(pos)
		precision := float64(tp) / float64(tp+fp)
		ap += (recall - prevRecall) * precision
		prevRecall = recall
		i = j
	}
	return ap, nil
}

// LogLoss is the mean binary cross-entropy of probabilities p against
// labels, each probability clipped to [1e-15, 1-1e-15].
func LogLoss(labels []bool, p []float64) float64 {
	if len(labels) == 0 {
		return 0
	}
	var s float64
	for i, y := range labels {
		s += logLoss(y, p[i])
	}
	return s / float64(len(labels))
}

func logLoss(y bool, p float64) float64 {
	p = min(max(p, 1e-15), 1-1e-15)
	if y {
		return -math.Log(p)
	}
	return -math.Log(1 - p)
}
