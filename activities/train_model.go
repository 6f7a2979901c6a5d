package activities

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/metrics"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Error types of TrainModel that retrying cannot fix.
const (
	// ErrNotEnoughLabels: too few confirmed failures to learn from.
	ErrNotEnoughLabels = "NotEnoughLabels"
	// ErrInvalidTraining: the request cannot be trained as asked (a kind
	// training does not support, a bad feature mapping, a champion that
	// appeared meanwhile).
	ErrInvalidTraining = "InvalidTraining"
)

// TrainCreator is the registry's created_by of versions the TrainModel
// workflow trained.
const TrainCreator = "train-workflow"

// Stages of TrainModel, in order, as its heartbeat reports them.
const (
	TrainStageReading     = "reading"
	TrainStageTraining    = "training"
	TrainStageEvaluating  = "evaluating"
	TrainStageRegistering = "registering"
	TrainStageDone        = "done"
)

// MinFailureLabels is how many snapshots labelled as preceding a failure
// the training part of a failure risk model's data needs.
const MinFailureLabels = 5

// MinRULRuns is how many runs to a confirmed failure the training part of
// a remaining useful life model's data needs: the folds its intervals are
// calibrated on are groups of runs.
const MinRULRuns = 5

// rulFolds is the most run-grouped folds a RUL training calibrates on.
const rulFolds = 5

// DefaultHorizon is a failure risk model's horizon when none is asked:
// a snapshot is labelled when a failure follows within it.
const DefaultHorizon = 24 * time.Hour

// TrainParams are the hyperparameters of a first model; zero fields take
// the defaults.
type TrainParams struct {
	// Contamination (anomaly, default 0.01) is the share of training
	// snapshots at or above the alarm threshold; Trees (default 100) and
	// Subsample (default 256) size the Isolation Forest.
	Contamination float64 `json:"contamination,omitempty"`
	Trees         int     `json:"trees,omitempty"`
	Subsample     int     `json:"subsample,omitempty"`
	// Horizon (failure_risk, default DefaultHorizon): a snapshot is a
	// positive when a confirmed failure of its asset follows within it.
	// MaxIter (default 100), LearningRate (default 0.1) and ClassWeight
	// ("" unweighted, the default, or "balanced": more recall, less
	// precision, docs/ML.md) configure the boosting. For rul, MaxIter
	// (default 300) and LearningRate (default 0.05) configure the point and
	// quantile models (rul.DefaultParams).
	Horizon      time.Duration `json:"horizon,omitempty"`
	MaxIter      int           `json:"max_iter,omitempty"`
	LearningRate float64       `json:"learning_rate,omitempty"`
	ClassWeight  string        `json:"class_weight,omitempty"`
}

// TrainModelInput asks for a model of Kind trained on the tenant's stored
// readings of AssetType in [From, To).
type TrainModelInput struct {
	TenantID  string         `json:"tenant_id"`
	Model     string         `json:"model"`
	Kind      modelkind.Kind `json:"kind"`
	AssetType string         `json:"asset_type"`
	From      time.Time      `json:"from"`
	To        time.Time      `json:"to"`
	// Features maps each model feature to its source (a sensor id or a
	// binding.MetadataFeature spec). Empty: the features of the model bound
	// to the asset type as Kind, if any, else the sensor ids every asset of
	// the type has.
	Features map[string]string `json:"features,omitempty"`
	Params   TrainParams       `json:"params"`
	// Alias is the alias the new version takes: registry.Challenger, or
	// registry.Champion for a model without one.
	Alias       string `json:"alias"`
	RequestedBy string `json:"requested_by,omitempty"`
	WorkflowID  string `json:"workflow_id,omitempty"`
	RunID       string `json:"run_id,omitempty"`
	// Seed makes training reproducible: a retry builds the same model.
	Seed uint64 `json:"seed"`
}

// TrainModelProgress is TrainModel's heartbeat.
type TrainModelProgress struct {
	Stage string `json:"stage"`
	// RowsRead are the snapshots (feature vectors) read, Readings the
	// readings they hold.
	RowsRead int `json:"rows_read"`
	Readings int `json:"readings"`
	// TreesBuilt of Trees: isolation trees or boosting iterations.
	TreesBuilt int     `json:"trees_built"`
	Trees      int     `json:"trees"`
	Percent    float64 `json:"percent"`
	// Version is set once the version is registered.
	Version int `json:"version,omitempty"`
}

// TrainModelOutput is the trained version and how it did on the holdout.
type TrainModelOutput struct {
	Model   string         `json:"model"`
	Version int            `json:"version"`
	Alias   string         `json:"alias"`
	Kind    modelkind.Kind `json:"kind"`
	// Features are the model's features and Sources where each is read
	// from (the binding to make).
	Features []string          `json:"features"`
	Sources  map[string]string `json:"sources"`
	Readings int               `json:"readings"`
	// TrainRows and HoldoutRows split the snapshots by time: the holdout
	// is the newest 20% of the time they span, from HoldoutFrom.
	TrainRows   int       `json:"train_rows"`
	HoldoutRows int       `json:"holdout_rows"`
	HoldoutFrom time.Time `json:"holdout_from"`
	// Positives counts the labelled snapshots (failure_risk) in the
	// training part and the holdout.
	TrainPositives   int `json:"train_positives,omitempty"`
	HoldoutPositives int `json:"holdout_positives,omitempty"`
	// TrainRuns and HoldoutRuns count the runs to failure (rul) in each
	// part: the holdout is the newest fifth of the runs by failure time,
	// those failing from HoldoutFrom.
	TrainRuns   int                `json:"train_runs,omitempty"`
	HoldoutRuns int                `json:"holdout_runs,omitempty"`
	Metrics     map[string]float64 `json:"metrics"`
	// Unavailable names the metrics of the kind that could not be computed,
	// with the reason.
	Unavailable map[string]string `json:"unavailable,omitempty"`
	// Champion is the model's champion of the same kind, scored on the
	// same holdout (its figures are the Metrics prefixed
	// mlops.ChampionPrefix), and Verdict the promotion rule's answer
	// (mlops.CompareHoldout); 0 and nil without such a champion, or when
	// it could not be scored (Unavailable["champion"] says why).
	Champion int            `json:"champion,omitempty"`
	Verdict  *mlops.Verdict `json:"verdict,omitempty"`
	Seconds  float64        `json:"seconds"`
}

// trainHoldout is the newest share of the time range a first model is
// evaluated on.
const trainHoldout = 0.2

// TrainModel trains a first (or a further) model of a kind from the
// tenant's stored readings: it reads the snapshots of the asset type's
// assets in the range (for an anomaly model without those taken during
// confirmed faults; for a failure risk model all of them, labelled by the
// confirmed failures that follow within the horizon), trains on the oldest
// 80% of the time, evaluates on the newest 20%, registers the version with
// its metrics and moves the alias.
//
// It heartbeats TrainModelProgress. Training is deterministic for a seed
// and registration idempotent (mlops.Register), so a retry makes no
// second version.
func (a *Models) TrainModel(ctx context.Context, in TrainModelInput) (TrainModelOutput, error) {
	start := time.Now()
	var mu sync.Mutex
	var prog TrainModelProgress
	beat := func(change func(p *TrainModelProgress)) {
		mu.Lock()
		change(&prog)
		p := prog
		mu.Unlock()
		activity.RecordHeartbeat(ctx, p)
	}
	defer keepBeating(ctx, a.HeartbeatEvery, func() TrainModelProgress { mu.Lock(); defer mu.Unlock(); return prog })()
	beat(func(p *TrainModelProgress) { p.Stage = TrainStageReading })

	regKind := mlops.RegistryKind(in.Kind)
	if regKind == "" {
		return TrainModelOutput{}, invalidTraining("training from readings supports the kinds %q, not %q", mlops.TrainableKinds, in.Kind)
	}
	if err := a.checkAlias(ctx, in, 0); err != nil {
		return TrainModelOutput{}, err
	}
	features, sources, err := a.trainingFeatures(ctx, in)
	if err != nil {
		return TrainModelOutput{}, err
	}
	horizon := in.Params.horizon()
	if in.Kind == modelkind.RUL {
		horizon = 0 // a failure after To ends a run whose last cycles are not read
	}
	data, err := a.LoadTrainingData(ctx, in.TenantID, in.Kind, in.AssetType, sources, in.From, in.To, horizon)
	if err != nil {
		return TrainModelOutput{}, err
	}
	snap := data.Snapshots.Rename(features)
	readings := len(snap.Rows) * len(mlops.SensorFeatures(sources))
	beat(func(p *TrainModelProgress) { p.RowsRead, p.Readings, p.Percent = len(snap.Rows), readings, 30 })
	cut := snap.TimeSplit(trainHoldout)
	if len(snap.Rows) < max(a.MinTrainRows, 2) || cut < 2 || cut == len(snap.Rows) {
		return TrainModelOutput{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%d complete snapshots of %s assets from %s to %s (%d before the holdout), fewer than the %d needed: every feature's sensor must report in the same %s",
				len(snap.Rows), in.AssetType, in.From.Format(time.RFC3339), in.To.Format(time.RFC3339), cut, max(a.MinTrainRows, 2), a.bucket()),
			ErrNotEnoughData, nil)
	}
	out := TrainModelOutput{Model: in.Model, Alias: in.Alias, Kind: in.Kind, Features: features, Sources: map[string]string{},
		Readings: readings, TrainRows: cut, HoldoutRows: len(snap.Rows) - cut, HoldoutFrom: snap.Times[cut], Unavailable: map[string]string{}}
	for i, f := range features {
		out.Sources[f] = sources[i]
	}
	train, holdout := snap.Rows[:cut], snap.Rows[cut:]

	var m modelfile.Model
	var ref mlops.Reference
	var params map[string]any
	var eval *holdoutSet
	switch in.Kind {
	case modelkind.Anomaly:
		p := iforest.Params{Trees: in.Params.Trees, Subsample: in.Params.Subsample, Contamination: in.Params.Contamination, Seed: in.Seed}
		if p.Contamination == 0 {
			p.Contamination = mlops.BootstrapParams.Contamination
		}
		if p.Trees == 0 {
			p.Trees = mlops.BootstrapParams.Trees
		}
		if p.Subsample == 0 {
			p.Subsample = mlops.BootstrapParams.Subsample
		}
		beat(func(pr *TrainModelProgress) { pr.Stage, pr.Trees = TrainStageTraining, p.Trees })
		if m, ref, err = mlops.Train(train, features, p, "readings"); err != nil {
			return TrainModelOutput{}, invalidTraining("%v", err)
		}
		beat(func(pr *TrainModelProgress) { pr.Stage, pr.TreesBuilt, pr.Percent = TrainStageEvaluating, p.Trees, 90 })
		eval := mlops.Evaluate(m, holdout, p.Contamination)
		out.Metrics = map[string]float64{"holdout_anomaly_rate": eval.AnomalyRate, "contamination": p.Contamination}
		anomalyAgainstFailures(&out, data, m, cut)
		params = map[string]any{"trees": p.Trees, "subsample": p.Subsample, "contamination": p.Contamination, "seed": p.Seed}
	case modelkind.FailureRisk:
		y := data.Labels
		out.TrainPositives, out.HoldoutPositives = count(y[:cut]), count(y[cut:])
		if out.TrainPositives < MinFailureLabels || out.TrainPositives == cut {
			return TrainModelOutput{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%d of the %d training snapshots precede a confirmed failure within %s, at least %d (and some that do not) are needed: confirm failures (approved incidents, or done work orders of incidents) of %s assets in the range, or widen it or the horizon",
					out.TrainPositives, cut, in.Params.horizon(), MinFailureLabels, in.AssetType),
				ErrNotEnoughLabels, nil)
		}
		p := gbdt.DefaultParams()
		p.Seed, p.ClassWeight = in.Seed, in.Params.ClassWeight
		if in.Params.MaxIter > 0 {
			p.MaxIter = in.Params.MaxIter
		}
		if in.Params.LearningRate > 0 {
			p.LearningRate = in.Params.LearningRate
		}
		p.Progress = func(done, total int) {
			beat(func(pr *TrainModelProgress) {
				pr.Stage, pr.TreesBuilt, pr.Trees, pr.Percent = TrainStageTraining, done, total, 30+60*float64(done)/float64(total)
			})
		}
		beat(func(pr *TrainModelProgress) { pr.Stage, pr.Trees = TrainStageTraining, p.MaxIter })
		g, err := gbdt.Train(train, y[:cut], p)
		if err != nil {
			return TrainModelOutput{}, invalidTraining("%v", err)
		}
		beat(func(pr *TrainModelProgress) { pr.Stage, pr.Percent = TrainStageEvaluating, 90 })
		m = modelfile.Model{Scorer: g, Meta: modelfile.Metadata{
			FeatureNames: features, Threshold: 0.5, Dataset: "readings", Rows: cut,
			TrainingDataSHA256: modelfile.DataHash(features, train, y[:cut]),
		}}
		ref = mlops.NewReference(features, train, mlops.ReferenceSize, in.Seed)
		out.Metrics = map[string]float64{"horizon_hours": in.Params.horizon().Hours(), "iterations": float64(g.Info().Iterations)}
		eval = &holdoutSet{X: holdout, Score: func(s modelfile.Scorer, x [][]float64) (map[string]float64, string) {
			return classifierScores(s, x, y[cut:])
		}, Keys: []string{mlops.MeasurePRAUC, mlops.MeasureROCAUC, "precision", "recall"}}
		eval.add(&out, g)
		params = map[string]any{"max_iter": p.MaxIter, "learning_rate": p.LearningRate, "class_weight": p.ClassWeight,
			"horizon": in.Params.horizon().String(), "seed": p.Seed}
	case modelkind.RUL:
		if m, ref, params, eval, err = a.trainRUL(ctx, in, data, features, &out, beat); err != nil {
			return TrainModelOutput{}, err
		}
	}
	out.Metrics["train_rows"], out.Metrics["holdout_rows"] = float64(out.TrainRows), float64(out.HoldoutRows)
	if eval != nil {
		if err := a.compareChampion(ctx, in, regKind, features, eval, &out); err != nil {
			return TrainModelOutput{}, err
		}
	}
	m.Meta.Metrics = out.Metrics

	beat(func(p *TrainModelProgress) { p.Stage, p.Percent = TrainStageRegistering, 95 })
	v, err := mlops.Register(ctx, a.Registry, a.Store, in.TenantID, registry.NewVersion{
		Name: in.Model, Kind: regKind, Features: features, Params: params, Metrics: out.Metrics,
		TrainingData: fmt.Sprintf("%d snapshots of %s readings %s to %s (holdout from %s%s", len(snap.Rows), in.AssetType,
			in.From.Format(time.RFC3339), in.To.Format(time.RFC3339), out.HoldoutFrom.Format(time.RFC3339), runSuffix(in)),
		TrainingDataSHA256: m.Meta.TrainingDataSHA256,
		CreatedBy:          TrainCreator,
		Note:               "trained from readings for " + in.RequestedBy,
	}, m, ref)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return TrainModelOutput{}, invalidTraining("%v", err)
		}
		return TrainModelOutput{}, err
	}
	out.Version = v.Version
	beat(func(p *TrainModelProgress) { p.Version = v.Version })
	if err := a.checkAlias(ctx, in, v.Version); err != nil {
		return TrainModelOutput{}, err
	}
	_, err = a.Registry.Promote(ctx, in.TenantID, registry.Promotion{Name: in.Model, Alias: in.Alias, Version: v.Version, Actor: TrainCreator,
		Reason: fmt.Sprintf("first training of a %s model on %d snapshots of %s (%s, asked by %s)", in.Kind, out.TrainRows, in.AssetType, in.WorkflowID, in.RequestedBy)})
	if err != nil && !errors.Is(err, registry.ErrAliasUnchanged) {
		return TrainModelOutput{}, err
	}
	out.Seconds = time.Since(start).Seconds()
	beat(func(p *TrainModelProgress) { p.Stage, p.Percent = TrainStageDone, 100 })
	activity.GetLogger(ctx).Info("model trained", "tenant", in.TenantID, "model", in.Model, "version", v.Version, "kind", in.Kind,
		"train_rows", out.TrainRows, "holdout_rows", out.HoldoutRows, "seconds", out.Seconds)
	return out, nil
}

func (p TrainParams) horizon() time.Duration {
	if p.Horizon <= 0 {
		return DefaultHorizon
	}
	return p.Horizon
}

func invalidTraining(format string, a ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, a...), ErrInvalidTraining, nil)
}

// checkAlias refuses the champion alias when the model has a champion
// other than version; before registering (version 0) a champion trained
// by this very run (an earlier attempt) is no obstacle.
func (a *Models) checkAlias(ctx context.Context, in TrainModelInput, version int) error {
	if in.Alias != registry.Champion {
		return nil
	}
	champ, ok, err := a.champion(ctx, in)
	if err != nil || !ok || champ.Version == version || version == 0 && champ.CreatedBy == TrainCreator && hasRunSuffix(champ, in) {
		return err
	}
	return invalidTraining("%s already has a champion (v%d): a trained version takes the challenger alias and is promoted after evaluation", in.Model, champ.Version)
}

// runSuffix ends the TrainingData of the versions a run registers.
func runSuffix(in TrainModelInput) string {
	return fmt.Sprintf("; %s run %s)", in.WorkflowID, in.RunID)
}

// champion returns the model's champion; ok is false without one.
func (a *Models) champion(ctx context.Context, in TrainModelInput) (v registry.Version, ok bool, err error) {
	v, err = a.Registry.Resolve(ctx, in.TenantID, in.Model, registry.Champion)
	if errors.Is(err, store.ErrNotFound) {
		return v, false, nil
	}
	return v, err == nil, err
}

// hasRunSuffix reports whether v was registered by the run of in.
func hasRunSuffix(v registry.Version, in TrainModelInput) bool {
	return strings.HasSuffix(v.TrainingData, runSuffix(in))
}

// trainingFeatures returns the model's feature names and, in the same
// order, their sources (see TrainModelInput.Features).
func (a *Models) trainingFeatures(ctx context.Context, in TrainModelInput) (features, sources []string, err error) {
	switch {
	case in.Kind == modelkind.RUL:
		if features, sources, err = a.rulFeatures(ctx, in); err != nil {
			return nil, nil, err
		}
	case len(in.Features) > 0:
		features = slices.Sorted(maps.Keys(in.Features))
		for _, f := range features {
			sources = append(sources, in.Features[f])
		}
	default:
		b, err := a.binding(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		if b != nil {
			champ, err := a.Registry.Resolve(ctx, in.TenantID, b.Model, registry.Champion)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return nil, nil, err
			}
			for _, f := range champ.Features {
				features, sources = append(features, f), append(sources, b.Source(f))
			}
		}
		if len(features) == 0 {
			if features, err = mlops.CommonSensors(ctx, a.DB, in.TenantID, in.AssetType); err != nil {
				return nil, nil, err
			}
			sources = features
		}
	}
	if len(features) == 0 {
		return nil, nil, invalidTraining("the %s assets have no sensor in common to train on; map the features to sensors", in.AssetType)
	}
	seen := map[string]string{}
	for i, src := range sources {
		if !binding.ValidSource(src) {
			return nil, nil, invalidTraining("feature %q: source %q is neither a sensor id nor an %q metadata spec", features[i], src, binding.MetadataFeature)
		}
		if other, dup := seen[src]; dup {
			return nil, nil, invalidTraining("features %q and %q both read %q; a source feeds one feature", other, features[i], src)
		}
		seen[src] = features[i]
	}
	if len(mlops.SensorFeatures(sources)) == 0 {
		return nil, nil, invalidTraining("features %q read no sensor", features)
	}
	return features, sources, nil
}

// binding returns the asset type's binding as in.Kind, nil without one.
func (a *Models) binding(ctx context.Context, in TrainModelInput) (*binding.Binding, error) {
	b, err := (&binding.Store{DB: a.DB}).Get(ctx, in.TenantID, in.AssetType, in.Kind)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return &b, err
}

// TrainingData are the snapshots a model of a kind is trained and
// evaluated on, with their labels where the kind needs them.
type TrainingData struct {
	Snapshots *mlops.Snapshots
	Failures  []mlops.Failure
	// Labels (failure_risk): true for a snapshot a confirmed failure of its
	// asset follows within the horizon.
	Labels []bool
	// Runs (rul): each asset's snapshots, one per cycle, up to each of
	// its confirmed failures, by failure time.
	Runs []mlops.Run
}

// LoadTrainingData reads the snapshots of the tenant's assetType assets in
// [from, to) over sources (at most MaxTrainRows, the newest) and the
// confirmed failures that label them: an anomaly model's snapshots leave
// out confirmed fault periods (mlops.LoadSnapshots); a failure risk
// model's keep them and are labelled by the failures within horizon; a
// remaining useful life model's keep them too and are split into runs to
// failure.
func (a *Models) LoadTrainingData(ctx context.Context, tenant string, kind modelkind.Kind, assetType string, sources []string, from, to time.Time, horizon time.Duration) (*TrainingData, error) {
	load := mlops.LoadSnapshots
	if kind.NeedsLabels() {
		load = mlops.LoadAllSnapshots
	}
	limit := a.MaxTrainRows
	if limit <= 0 {
		limit = 1 << 30
	}
	snap, err := load(ctx, a.DB, tenant, assetType, sources, from, to, a.bucket(), limit)
	if err != nil {
		return nil, err
	}
	failures, err := mlops.LoadFailures(ctx, a.DB, tenant, assetType, from, to.Add(horizon))
	if err != nil {
		return nil, err
	}
	d := &TrainingData{Snapshots: snap, Failures: failures}
	switch kind {
	case modelkind.FailureRisk:
		d.Labels = mlops.FailureLabels(snap, failures, horizon)
	case modelkind.RUL:
		d.Runs = mlops.FailureRuns(snap, failures)
	}
	return d, nil
}

// classifierScores are a failure classifier's holdout PR AUC, ROC AUC,
// precision and recall at its threshold (0.5) and the holdout's positive
// rate; without both classes in the holdout they are unavailable, and the
// string says why.
func classifierScores(s modelfile.Scorer, holdout [][]float64, y []bool) (map[string]float64, string) {
	if pos := count(y); pos == 0 || pos == len(y) {
		return nil, fmt.Sprintf("the holdout's %d snapshots hold %d that precede a failure: both classes are needed", len(y), pos)
	}
	scores := make([]float64, len(holdout))
	for i, x := range holdout {
		scores[i] = s.Score(x)
	}
	auc, _ := metrics.ROCAUC(y, scores)
	ap, _ := metrics.PRAUC(y, scores)
	c := metrics.AtThreshold(y, scores, 0.5)
	return map[string]float64{mlops.MeasureROCAUC: auc, mlops.MeasurePRAUC: ap, "precision": c.Precision(), "recall": c.Recall(),
		"holdout_positive_rate": float64(count(y)) / float64(len(y))}, ""
}

// anomalyAgainstFailures adds how an anomaly model's scores rank the
// holdout snapshots by the failures that follow within a day, where there
// are such failures; anomaly models learn no labels, so this is the only
// check against them.
func anomalyAgainstFailures(out *TrainModelOutput, d *TrainingData, m modelfile.Model, cut int) {
	snap := d.Snapshots
	y := mlops.FailureLabels(snap, d.Failures, DefaultHorizon)[cut:]
	if pos := count(y); pos == 0 || pos == len(y) {
		out.Unavailable["roc_auc_failures"] = "no confirmed failure follows a holdout snapshot within 24h (fault periods are left out of an anomaly model's data)"
		return
	}
	scores := make([]float64, len(y))
	for i, x := range snap.Rows[cut:] {
		scores[i] = m.Scorer.Score(x)
	}
	auc, _ := metrics.ROCAUC(y, scores)
	out.Metrics["roc_auc_failures"] = auc
}

func count(y []bool) int {
	n := 0
	for _, v := range y {
		if v {
			n++
		}
	}
	return n
}
