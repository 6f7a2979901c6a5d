package mlops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/metrics"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Kind is the registry kind of the anomaly models.
const Kind = "iforest"

// ReferenceSize is the number of training values kept per feature as the
// drift reference.
const ReferenceSize = 1000

// Train fits an Isolation Forest on rows (columns named by names) and
// returns it as a model file with its drift reference. Training is
// deterministic for a given p.Seed.
func Train(rows [][]float64, names []string, p iforest.Params, source string) (modelfile.Model, Reference, error) {
	f, err := iforest.Train(rows, p)
	if err != nil {
		return modelfile.Model{}, nil, fmt.Errorf("mlops: train: %w", err)
	}
	m := modelfile.Model{
		Meta: modelfile.Metadata{
			FeatureNames:       names,
			Threshold:          f.Threshold(),
			TrainingDataSHA256: modelfile.DataHash(names, rows, nil),
			Dataset:            source,
			Rows:               len(rows),
		},
		Scorer: f,
	}
	return m, NewReference(names, rows, ReferenceSize, p.Seed), nil
}

// NewReference keeps, for each sensor feature, a sorted sample of at most
// n of its values in rows (drawn without replacement with seed).
func NewReference(names []string, rows [][]float64, n int, seed uint64) Reference {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	if len(rows) > n {
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		for i := range n {
			j := i + rng.IntN(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		idx = idx[:n]
	}
	ref := Reference{}
	for f, name := range names {
		if !strings.HasPrefix(name, detect.MetadataFeature) {
			s := make([]float64, len(idx))
			for i, r := range idx {
				s[i] = rows[r][f]
			}
			slices.Sort(s)
			ref[name] = s
		}
	}
	return ref
}

// Evaluation is how a model does on a holdout.
type Evaluation struct {
	Rows int `json:"rows"`
	// AnomalyRate is the share of holdout rows at or above the threshold;
	// Contamination the share the model was trained to expect.
	AnomalyRate   float64 `json:"anomaly_rate"`
	Contamination float64 `json:"contamination"`
	// CalibrationError is |AnomalyRate − Contamination|.
	CalibrationError float64 `json:"calibration_error"`
	MeanScore        float64 `json:"mean_score"`
	// Score is what the comparison uses, higher is better:
	// 1 − CalibrationError.
	Score float64 `json:"score"`
}

// Evaluate scores the holdout rows (in m's feature order). The holdout is
// unlabelled recent data, assumed to be mostly normal operation: a model
// fit for it flags about its contamination share, a model that no longer
// fits flags far more (or far fewer).
func Evaluate(m modelfile.Model, rows [][]float64, contamination float64) Evaluation {
	e := Evaluation{Rows: len(rows), Contamination: contamination}
	if len(rows) == 0 {
		return e
	}
	threshold := m.Meta.Threshold
	flagged := 0
	for _, x := range rows {
		s := m.Scorer.Score(x)
		e.MeanScore += s
		if s >= threshold {
			flagged++
		}
	}
	e.MeanScore /= float64(len(rows))
	e.AnomalyRate = float64(flagged) / float64(len(rows))
	e.CalibrationError = math.Abs(e.AnomalyRate - contamination)
	e.Score = 1 - e.CalibrationError
	return e
}

// Contamination returns the contamination m was trained with (0.01 when
// it cannot tell).
func Contamination(m modelfile.Model) float64 {
	if f := m.Forest(); f != nil && f.Params().Contamination > 0 {
		return f.Params().Contamination
	}
	return 0.01
}

// Register stores m as a new version of spec.Name with its reference. It
// is idempotent: a version by the same creator from the same training data
// (TrainingData and TrainingDataSHA256) among the latest 20 is returned
// instead of registering another.
func Register(ctx context.Context, reg *registry.Registry, st *Store, tenant string, spec registry.NewVersion, m modelfile.Model, ref Reference) (registry.Version, error) {
	existing, err := reg.Versions(ctx, tenant, spec.Name, 20, 0)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return registry.Version{}, err
	}
	for _, v := range existing {
		if v.CreatedBy == spec.CreatedBy && v.TrainingData == spec.TrainingData && v.TrainingDataSHA256 == spec.TrainingDataSHA256 {
			return v, st.SaveReference(ctx, tenant, spec.Name, v.Version, ref)
		}
	}
	data, err := modelfile.Marshal(m)
	if err != nil {
		return registry.Version{}, fmt.Errorf("mlops: encode %s: %w", spec.Name, err)
	}
	v, err := reg.Create(ctx, tenant, spec, data)
	if err != nil {
		return registry.Version{}, err
	}
	return v, st.SaveReference(ctx, tenant, spec.Name, v.Version, ref)
}

// SaveCheckpoint stores training snapshots in the artifact store,
// content-addressed under <tenant>/<model>/checkpoints, so a retried
// training resumes from them instead of querying the readings again.
func SaveCheckpoint(ctx context.Context, store artifact.Store, tenant, name string, s *Snapshots) (artifact.Ref, error) {
	data, err := json.Marshal(s)
	if err != nil {
		return artifact.Ref{}, fmt.Errorf("mlops: encode checkpoint: %w", err)
	}
	ref, err := artifact.Save(ctx, store, tenant+"/"+name+"/checkpoints", data)
	if err != nil {
		return artifact.Ref{}, fmt.Errorf("mlops: save checkpoint: %w", err)
	}
	return ref, nil
}

// LoadCheckpoint reads snapshots saved by SaveCheckpoint, verified.
func LoadCheckpoint(ctx context.Context, store artifact.Store, ref artifact.Ref) (*Snapshots, error) {
	data, err := artifact.Load(ctx, store, ref)
	if err != nil {
		return nil, fmt.Errorf("mlops: load checkpoint: %w", err)
	}
	var s Snapshots
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("mlops: decode checkpoint: %w", err)
	}
	return &s, nil
}

// BootstrapParams train the initial model: 100 trees of 256 rows, 1%
// contamination (the alarm threshold is the training scores' 99th
// percentile), a fixed seed.
var BootstrapParams = iforest.Params{Trees: 100, Subsample: 256, Contamination: 0.01, Seed: 42}

// BootstrapCreator is the registry's created_by of bootstrapped versions.
const BootstrapCreator = "bootstrap"

// Bootstrap makes sure the tenant's simulated milling machines have an
// anomaly model: when iforest-milling-machine has no champion it trains
// one on AI4I 2020's five process features, named as the simulator's
// sensors, registers it with its drift reference and promotes it. It
// reports whether it promoted a version. It takes about a second.
func Bootstrap(ctx context.Context, reg *registry.Registry, st *Store, tenant string) (registry.Version, bool, error) {
	name := detect.ModelName(simulate.AssetType)
	if v, err := reg.Resolve(ctx, tenant, name, registry.Champion); err == nil {
		return v, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return registry.Version{}, false, err
	}
	path, err := dataset.AI4IPath()
	if err != nil {
		return registry.Version{}, false, err
	}
	recs, err := dataset.LoadAI4I(path)
	if err != nil {
		return registry.Version{}, false, err
	}
	specs := simulate.Sensors(recs)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.ID
	}
	rows := make([][]float64, len(recs))
	labels := make([]bool, len(recs))
	for i, r := range recs {
		rows[i] = make([]float64, len(specs))
		for j, s := range specs {
			rows[i][j] = s.Value(r)
		}
		labels[i] = r.Failure
	}
	m, ref, err := Train(rows, names, BootstrapParams, "ai4i2020")
	if err != nil {
		return registry.Version{}, false, err
	}
	scores := make([]float64, len(rows))
	for i, x := range rows {
		scores[i] = m.Scorer.Score(x)
	}
	auc, err := metrics.ROCAUC(labels, scores)
	if err != nil {
		return registry.Version{}, false, fmt.Errorf("mlops: bootstrap: %w", err)
	}
	eval := Evaluate(m, rows, BootstrapParams.Contamination)
	m.Meta.Metrics = map[string]float64{"roc_auc_failures": auc, "anomaly_rate": eval.AnomalyRate}
	v, err := Register(ctx, reg, st, tenant, registry.NewVersion{
		Name: name, Kind: Kind, Features: names,
		Params:             map[string]any{"trees": BootstrapParams.Trees, "subsample": BootstrapParams.Subsample, "contamination": BootstrapParams.Contamination, "seed": BootstrapParams.Seed},
		Metrics:            m.Meta.Metrics,
		TrainingData:       "ai4i2020.csv, all 10000 records, process features as the simulator's sensors",
		TrainingDataSHA256: m.Meta.TrainingDataSHA256,
		CreatedBy:          BootstrapCreator,
	}, m, ref)
	if err != nil {
		return registry.Version{}, false, fmt.Errorf("mlops: bootstrap: %w", err)
	}
	_, err = reg.Promote(ctx, tenant, registry.Promotion{Name: name, Alias: registry.Champion, Version: v.Version, Actor: BootstrapCreator,
		Reason: fmt.Sprintf("initial model trained on AI4I 2020 (ROC AUC %.3f against its failure labels)", auc)})
	if errors.Is(err, registry.ErrAliasUnchanged) {
		return v, false, nil
	}
	if err != nil {
		return registry.Version{}, false, fmt.Errorf("mlops: bootstrap: %w", err)
	}
	return v, true, nil
}
