package mlops

import (
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/smartmaint/smartmaint/internal/ml/drift"
	"github.com/smartmaint/smartmaint/internal/store"
)

// DriftPolicy decides when a model's inputs have drifted: a feature
// drifts when its PSI reaches PSIThreshold or its two-sample KS p-value
// falls below KSPValue, and the model's data drifts when at least
// MinFeatures features do. Features with fewer than MinSamples recent
// values are left out.
type DriftPolicy struct {
	PSIThreshold float64 `json:"psi_threshold"`
	KSPValue     float64 `json:"ks_pvalue"`
	MinFeatures  int     `json:"min_features"`
	MinSamples   int     `json:"min_samples"`
	PSIBins      int     `json:"psi_bins"`
}

// DefaultDriftPolicy is PSI ≥ 0.2 or KS p < 0.01 on at least two features,
// with at least 100 recent values per feature, PSI over 10 bins.
func DefaultDriftPolicy() DriftPolicy {
	return DriftPolicy{PSIThreshold: 0.2, KSPValue: 0.01, MinFeatures: 2, MinSamples: 100, PSIBins: 10}
}

// FeatureDrift is one feature's statistics against the reference.
type FeatureDrift struct {
	Name       string  `json:"name"`
	NReference int     `json:"n_reference"`
	NCurrent   int     `json:"n_current"`
	KSD        float64 `json:"ks_d"`
	KSPValue   float64 `json:"ks_pvalue"`
	PSI        float64 `json:"psi"`
	Drifted    bool    `json:"drifted"`
	// Skipped says why the feature was not tested (too few values).
	Skipped string `json:"skipped,omitempty"`
}

// DriftResult is the verdict over a model's features.
type DriftResult struct {
	Status          string         `json:"status"`
	Drifted         bool           `json:"drifted"`
	DriftedFeatures int            `json:"drifted_features"`
	Features        []FeatureDrift `json:"features"`
}

// CheckDrift compares current values with the reference, feature by
// feature in the order of names.
func (p DriftPolicy) CheckDrift(names []string, ref Reference, current map[string][]float64) (DriftResult, error) {
	res := DriftResult{Status: StatusOK, Features: []FeatureDrift{}}
	tested := 0
	for _, name := range names {
		r, ok := ref[name]
		if !ok {
			continue // a feature without a reference (e.g. from metadata) is not monitored
		}
		cur := current[name]
		fd := FeatureDrift{Name: name, NReference: len(r), NCurrent: len(cur)}
		switch {
		case len(r) < 2:
			fd.Skipped = "reference too small"
		case len(cur) < max(p.MinSamples, 2):
			fd.Skipped = fmt.Sprintf("%d recent values, fewer than %d", len(cur), p.MinSamples)
		default:
			ks, err := drift.KS(r, cur)
			if err != nil {
				return res, fmt.Errorf("mlops: feature %s: %w", name, err)
			}
			psi, err := drift.PSI(r, cur, p.PSIBins)
			if err != nil {
				return res, fmt.Errorf("mlops: feature %s: %w", name, err)
			}
			fd.KSD, fd.KSPValue, fd.PSI = ks.D, ks.PValue, psi.Value
			fd.Drifted = psi.Value >= p.PSIThreshold || ks.PValue < p.KSPValue
			tested++
			if fd.Drifted {
				res.DriftedFeatures++
			}
		}
		if math.IsNaN(fd.KSPValue) {
			fd.KSPValue = 1
		}
		res.Features = append(res.Features, fd)
	}
	need := max(p.MinFeatures, 1)
	switch {
	case len(ref) == 0:
		res.Status = StatusNoReference
	case res.DriftedFeatures >= need:
		res.Status, res.Drifted = StatusDrift, true
	case tested < need:
		res.Status = StatusInsufficientData
	}
	return res, nil
}

// mapCheck turns check-constraint violations into store.ErrInvalid.
func mapCheck(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23514" || pgErr.Code == "22P02" || pgErr.Code == "22003") {
		return fmt.Errorf("%w: %s", store.ErrInvalid, pgErr.Message)
	}
	return err
}
