package drift

import (
	"errors"
	"fmt"
)

// Policy decides when a feature, and a model's inputs as a whole, have
// drifted. Its defaults follow widely used drift libraries: small
// references are judged by the KS test, large ones by PSI (where KS would
// flag differences too small to matter), and a dataset drifts when at least
// half of its features do.
type Policy struct {
	// KSAlpha is the KS p-value below which a feature drifts.
	KSAlpha float64 `json:"ks_alpha"`
	// PSIBins is the number of reference-quantile bins.
	PSIBins int `json:"psi_bins"`
	// PSIWatch and PSIDrift are the PSI levels that mark a feature worth
	// watching and drifted.
	PSIWatch float64 `json:"psi_watch"`
	PSIDrift float64 `json:"psi_drift"`
	// LargeSample is the reference size above which PSI, not KS, decides.
	LargeSample int `json:"large_sample"`
	// DatasetShare is the share of drifted features at which the dataset
	// drifts.
	DatasetShare float64 `json:"dataset_share"`
}

// DefaultPolicy is KS at p < 0.05 up to 1000 reference rows, PSI over 10
// bins with 0.1 (watch) and 0.2 (drift) above that, and dataset drift when
// half the features drift.
func DefaultPolicy() Policy {
	return Policy{KSAlpha: 0.05, PSIBins: 10, PSIWatch: 0.1, PSIDrift: 0.2, LargeSample: 1000, DatasetShare: 0.5}
}

// FeatureReport is one feature's drift statistics and verdict.
type FeatureReport struct {
	Name string    `json:"name"`
	KS   KSResult  `json:"ks"`
	PSI  PSIResult `json:"psi"`
	// Method is the statistic that decided: "ks" or "psi".
	Method  string `json:"method"`
	Watch   bool   `json:"watch"`
	Drifted bool   `json:"drifted"`
}

// Report is the verdict over all features.
type Report struct {
	Features     []FeatureReport `json:"features"`
	DriftedShare float64         `json:"drifted_share"`
	Drifted      bool            `json:"drifted"`
}

// Check compares the current rows with the reference rows (the training
// data), feature by feature; names label the columns.
func (p Policy) Check(names []string, reference, current [][]float64) (Report, error) {
	if len(reference) == 0 || len(current) == 0 {
		return Report{}, errors.New("drift: check needs reference and current rows")
	}
	var r Report
	col := func(rows [][]float64, f int) ([]float64, error) {
		c := make([]float64, len(rows))
		for i, row := range rows {
			if len(row) != len(names) {
				return nil, fmt.Errorf("drift: row %d has %d values for %d features", i, len(row), len(names))
			}
			c[i] = row[f]
		}
		return c, nil
	}
	drifted := 0
	for f, name := range names {
		ref, err := col(reference, f)
		if err != nil {
			return Report{}, err
		}
		cur, err := col(current, f)
		if err != nil {
			return Report{}, err
		}
		fr := FeatureReport{Name: name}
		if fr.KS, err = KS(ref, cur); err != nil {
			return Report{}, fmt.Errorf("drift: feature %s: %w", name, err)
		}
		if fr.PSI, err = PSI(ref, cur, p.PSIBins); err != nil {
			return Report{}, fmt.Errorf("drift: feature %s: %w", name, err)
		}
		fr.Watch = fr.PSI.Value >= p.PSIWatch
		if len(ref) > p.LargeSample {
			fr.Method, fr.Drifted = "psi", fr.PSI.Value >= p.PSIDrift
		} else {
			fr.Method, fr.Drifted = "ks", fr.KS.PValue < p.KSAlpha
		}
		if fr.Drifted {
			drifted++
		}
		r.Features = append(r.Features, fr)
	}
	if len(names) > 0 {
		r.DriftedShare = float64(drifted) / float64(len(names))
	}
	r.Drifted = len(names) > 0 && r.DriftedShare >= p.DatasetShare
	return r, nil
}
