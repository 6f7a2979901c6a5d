package drift

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
)

// psiFloor stands in for an empty bin's share, so that ln(a/e) stays
// finite (the value Evidently and most PSI write-ups use).
const psiFloor = 1e-4

// PSIResult is a Population Stability Index and the bins behind it.
type PSIResult struct {
	// Value is Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ) over the bins, with eᵢ and aᵢ the
	// reference and current shares of bin i. Common reading: below 0.1
	// stable, 0.1–0.2 worth watching, above 0.2 shifted.
	Value float64 `json:"value"`
	// Edges are the upper bounds of all bins but the last: bin i holds
	// values in (Edges[i−1], Edges[i]].
	Edges []float64 `json:"edges"`
	// Expected and Actual are the reference and current shares per bin.
	Expected []float64 `json:"expected"`
	Actual   []float64 `json:"actual"`
}

// PSI compares current with reference over bins quantile bins of the
// reference (so each holds about 1/bins of it; fewer when the reference has
// repeated values). Empty bins count as a share of 1e-4.
func PSI(reference, current []float64, bins int) (PSIResult, error) {
	if len(reference) == 0 || len(current) == 0 {
		return PSIResult{}, errors.New("drift: PSI needs two non-empty samples")
	}
	if bins < 2 {
		return PSIResult{}, fmt.Errorf("drift: PSI needs at least 2 bins, got %d", bins)
	}
	ref := slices.Clone(reference)
	slices.Sort(ref)
	if math.IsNaN(ref[len(ref)-1]) || math.IsNaN(ref[0]) {
		return PSIResult{}, errors.New("drift: PSI reference holds NaN")
	}
	var edges []float64
	for k := 1; k < bins; k++ {
		e := quantile(ref, float64(k)/float64(bins))
		if len(edges) == 0 || e > edges[len(edges)-1] {
			edges = append(edges, e)
		}
	}
	if len(edges) > 0 && edges[len(edges)-1] >= ref[len(ref)-1] {
		edges = edges[:len(edges)-1] // an edge at the maximum leaves the last bin empty
	}
	r := PSIResult{Edges: edges, Expected: shares(ref, edges), Actual: shares(current, edges)}
	for i, e := range r.Expected {
		a := r.Actual[i]
		r.Value += (a - e) * math.Log(a/e)
	}
	return r, nil
}

// shares returns the floored share of values in each bin.
func shares(values []float64, edges []float64) []float64 {
	counts := make([]float64, len(edges)+1)
	for _, v := range values {
		counts[sort.SearchFloat64s(edges, v)]++
	}
	for i := range counts {
		counts[i] = max(counts[i]/float64(len(values)), psiFloor)
	}
	return counts
}

// quantile of sorted values with linear interpolation (numpy's default).
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(pos)
	if lo >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}
