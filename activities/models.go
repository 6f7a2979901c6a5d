package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/iforest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Error types of the model activities that retrying cannot fix.
const (
	ErrNoChampion    = "NoChampion"
	ErrNotEnoughData = "NotEnoughData"
	ErrNotEligible   = "NotEligible"
)

// RetrainCreator is the registry's created_by of retrained versions.
const RetrainCreator = "retrain-workflow"

// Models checks the anomaly models for drift and retrains, evaluates and
// promotes them (see docs/MLOPS.md).
type Models struct {
	DB       *store.DB
	Registry *registry.Registry
	Store    *mlops.Store
	// Defaults is the policy of models without their own.
	Defaults mlops.Policy
	// DriftWindow is the recent window compared with the reference;
	// SampleSize caps the values taken per feature from it.
	DriftWindow time.Duration
	SampleSize  int
	// TrainWindow is the readings a challenger is trained on; at most
	// MaxTrainRows snapshots (the newest), at least MinTrainRows.
	TrainWindow  time.Duration
	MaxTrainRows int
	MinTrainRows int
	// Bucket groups readings into snapshots (one second when zero).
	Bucket time.Duration
	// Holdout is the newest share of the snapshots kept for evaluation.
	Holdout float64
	// HeartbeatEvery is how often TrainChallenger heartbeats (5s when zero).
	HeartbeatEvery time.Duration
}

func (a *Models) bucket() time.Duration {
	if a.Bucket <= 0 {
		return time.Second
	}
	return a.Bucket
}

func (a *Models) holdout() float64 {
	if a.Holdout <= 0 || a.Holdout >= 1 {
		return 0.2
	}
	return a.Holdout
}

// MonitoredModels lists the anomaly models with a champion, across
// tenants.
func (a *Models) MonitoredModels(ctx context.Context) ([]mlops.ModelRef, error) {
	return a.Store.Monitored(ctx, detect.ModelPrefix)
}

// DriftInput names the model to check and anchors the window.
type DriftInput struct {
	TenantID string
	Model    string
	Now      time.Time
	// RunID identifies the check: a retried activity records it once.
	RunID string
}

// DriftOutput is the recorded check; Check is nil when the model has no
// champion (any more).
type DriftOutput struct {
	Check  *mlops.DriftCheck
	Policy mlops.Policy
}

// CheckDrift compares the recent readings of the model's asset type with
// the champion's training reference, feature by feature, and records the
// result.
func (a *Models) CheckDrift(ctx context.Context, in DriftInput) (DriftOutput, error) {
	champ, err := a.Registry.Resolve(ctx, in.TenantID, in.Model, registry.Champion)
	if errors.Is(err, store.ErrNotFound) {
		return DriftOutput{}, nil
	}
	if err != nil {
		return DriftOutput{}, err
	}
	policy, err := a.Store.Policy(ctx, in.TenantID, in.Model, a.Defaults)
	if err != nil {
		return DriftOutput{}, err
	}
	ref, err := a.Store.Reference(ctx, in.TenantID, in.Model, champ.Version)
	if err != nil {
		return DriftOutput{}, err
	}
	from := in.Now.Add(-a.DriftWindow)
	assetType := strings.TrimPrefix(in.Model, detect.ModelPrefix)
	cur, err := mlops.RecentValues(ctx, a.DB, in.TenantID, assetType, mlops.SensorFeatures(champ.Features), from, in.Now, max(a.SampleSize, 1))
	if err != nil {
		return DriftOutput{}, err
	}
	res, err := policy.Drift.CheckDrift(champ.Features, ref, cur)
	if err != nil {
		return DriftOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), "DriftCheck", err)
	}
	check, err := a.Store.RecordDrift(ctx, mlops.DriftCheck{
		TenantID: in.TenantID, Name: in.Model, Version: champ.Version, Status: res.Status, Drifted: res.Drifted,
		DriftedFeatures: res.DriftedFeatures, WindowFrom: from, WindowTo: in.Now, Features: res.Features, Policy: policy.Drift, RunID: in.RunID,
	})
	if err != nil {
		return DriftOutput{}, err
	}
	activity.GetLogger(ctx).Info("drift checked", "tenant", in.TenantID, "model", in.Model, "version", champ.Version,
		"status", check.Status, "drifted_features", check.DriftedFeatures)
	return DriftOutput{Check: &check, Policy: policy}, nil
}

// NoteRetrainInput links a drift check to the retraining it started.
type NoteRetrainInput struct {
	TenantID   string
	Model      string
	RunID      string
	WorkflowID string
}

// NoteRetrain records which retraining a drift check started.
func (a *Models) NoteRetrain(ctx context.Context, in NoteRetrainInput) error {
	return a.Store.SetDriftRetrain(ctx, in.TenantID, in.Model, in.RunID, in.WorkflowID)
}

// ModelInput names a model.
type ModelInput struct {
	TenantID string
	Model    string
}

// ModelPolicy returns the model's policy: the configured defaults with its own
// overrides.
func (a *Models) ModelPolicy(ctx context.Context, in ModelInput) (mlops.Policy, error) {
	return a.Store.Policy(ctx, in.TenantID, in.Model, a.Defaults)
}

// TrainInput asks for a challenger of a model.
type TrainInput struct {
	TenantID   string
	Model      string
	WorkflowID string
	RunID      string
	// Now anchors the training window.
	Now time.Time
	// Seed makes the forest reproducible: a retry builds the same one.
	Seed uint64
}

// TrainOutput is the registered challenger.
type TrainOutput struct {
	Champion    int
	Challenger  int
	TrainRows   int
	HoldoutRows int
	// Checkpoint holds the snapshots trained and evaluated on.
	Checkpoint artifact.Ref
}

// TrainProgress is TrainChallenger's heartbeat: the stage reached and what it left
// behind, so the next attempt resumes there.
type TrainProgress struct {
	// Stage is "snapshot" once the training snapshots are saved,
	// "registered" once the challenger version exists.
	Stage      string
	Checkpoint *artifact.Ref
	Version    int
}

// TrainChallenger builds a challenger: it reads the snapshots of the model's asset
// type in the training window and saves them as a checkpoint, fits an
// Isolation Forest with the champion's features and parameters on all but
// the newest Holdout share, registers it (parent: the champion) with its
// drift reference and gives it the challenger alias.
//
// It heartbeats its progress. A retry — after a failure or the loss of
// its worker — resumes from the last stage reached: it reuses the
// checkpoint instead of querying the readings again, and, the seed being
// fixed, rebuilds the identical forest; a version already registered is
// found rather than registered twice. When its worker is stopping it
// returns after the next stage so another worker takes over from there.
func (a *Models) TrainChallenger(ctx context.Context, in TrainInput) (TrainOutput, error) {
	var prog TrainProgress
	if activity.HasHeartbeatDetails(ctx) {
		if err := activity.GetHeartbeatDetails(ctx, &prog); err != nil {
			prog = TrainProgress{}
		}
	}
	log := activity.GetLogger(ctx)
	var mu sync.Mutex
	beat := func(p TrainProgress) {
		mu.Lock()
		prog = p
		mu.Unlock()
		activity.RecordHeartbeat(ctx, p)
	}
	stopBeating := a.heartbeatWhileRunning(ctx, func() TrainProgress { mu.Lock(); defer mu.Unlock(); return prog })
	defer stopBeating()

	champ, err := a.Registry.Resolve(ctx, in.TenantID, in.Model, registry.Champion)
	if errors.Is(err, store.ErrNotFound) {
		return TrainOutput{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s has no champion to retrain", in.Model), ErrNoChampion, err)
	}
	if err != nil {
		return TrainOutput{}, err
	}
	champModel, err := a.load(ctx, champ)
	if err != nil {
		return TrainOutput{}, err
	}
	out := TrainOutput{Champion: champ.Version}

	var snap *mlops.Snapshots
	if prog.Checkpoint != nil {
		if snap, err = mlops.LoadCheckpoint(ctx, a.Registry.Artifacts(), *prog.Checkpoint); err != nil {
			log.Warn("checkpoint unusable; reading the snapshots again", "error", err)
			prog = TrainProgress{}
		} else {
			log.Info("resuming training from its checkpoint", "stage", prog.Stage, "rows", len(snap.Rows))
		}
	}
	if snap == nil {
		assetType := strings.TrimPrefix(in.Model, detect.ModelPrefix)
		snap, err = mlops.LoadSnapshots(ctx, a.DB, in.TenantID, assetType, champ.Features, in.Now.Add(-a.TrainWindow), in.Now, a.bucket(), a.MaxTrainRows)
		if err != nil {
			return TrainOutput{}, err
		}
		if len(snap.Rows) < max(a.MinTrainRows, 2) {
			return TrainOutput{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%d complete snapshots of %s assets in the last %s, fewer than the %d needed", len(snap.Rows), assetType, a.TrainWindow, a.MinTrainRows),
				ErrNotEnoughData, nil)
		}
		ref, err := mlops.SaveCheckpoint(ctx, a.Registry.Artifacts(), in.TenantID, in.Model, snap)
		if err != nil {
			return TrainOutput{}, err
		}
		beat(TrainProgress{Stage: "snapshot", Checkpoint: &ref})
		if err := stopping(ctx, "snapshot"); err != nil {
			return TrainOutput{}, err
		}
	}
	out.Checkpoint = *prog.Checkpoint
	train, holdout := snap.Split(a.holdout())
	out.TrainRows, out.HoldoutRows = len(train), len(holdout)

	if prog.Version == 0 {
		params := iforest.Params{Trees: 100, Subsample: 256, Contamination: mlops.Contamination(champModel), Seed: in.Seed}
		if f := champModel.Forest(); f != nil {
			p := f.Params()
			params.Trees, params.Subsample = p.Trees, p.Subsample
		}
		m, ref, err := mlops.Train(train, champ.Features, params, "readings")
		if err != nil {
			return TrainOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), "Training", err)
		}
		eval := mlops.Evaluate(m, holdout, params.Contamination)
		m.Meta.Metrics = map[string]float64{"holdout_anomaly_rate": eval.AnomalyRate, "holdout_rows": float64(len(holdout)), "train_rows": float64(len(train))}
		v, err := mlops.Register(ctx, a.Registry, a.Store, in.TenantID, registry.NewVersion{
			Name: in.Model, Kind: mlops.Kind, Features: champ.Features,
			Params:  map[string]any{"trees": params.Trees, "subsample": params.Subsample, "contamination": params.Contamination, "seed": params.Seed},
			Metrics: m.Meta.Metrics,
			TrainingData: fmt.Sprintf("%d snapshots of readings %s to %s (%s run %s)",
				len(train), snap.Times[0].Format(time.RFC3339), snap.Times[len(train)-1].Format(time.RFC3339), in.WorkflowID, in.RunID),
			TrainingDataSHA256: m.Meta.TrainingDataSHA256,
			Parent:             champ.Version,
			CreatedBy:          RetrainCreator,
		}, m, ref)
		if err != nil {
			return TrainOutput{}, err
		}
		beat(TrainProgress{Stage: "registered", Checkpoint: prog.Checkpoint, Version: v.Version})
		if err := stopping(ctx, "registered"); err != nil {
			return TrainOutput{}, err
		}
	}
	out.Challenger = prog.Version
	_, err = a.Registry.Promote(ctx, in.TenantID, registry.Promotion{Name: in.Model, Alias: registry.Challenger, Version: out.Challenger,
		Actor: RetrainCreator, Reason: fmt.Sprintf("retrained from v%d on %d recent snapshots (%s)", champ.Version, out.TrainRows, in.WorkflowID)})
	if err != nil && !errors.Is(err, registry.ErrAliasUnchanged) {
		return TrainOutput{}, err
	}
	log.Info("challenger registered", "model", in.Model, "challenger", out.Challenger, "champion", out.Champion, "train_rows", out.TrainRows)
	return out, nil
}

// heartbeatWhileRunning repeats the current progress every HeartbeatEvery
// until the returned function is called.
func (a *Models) heartbeatWhileRunning(ctx context.Context, current func() TrainProgress) func() {
	return keepBeating(ctx, a.HeartbeatEvery, current)
}

// stopping fails the attempt when the worker is shutting down, after a
// stage has been heartbeated, so that another worker resumes from it.
func stopping(ctx context.Context, stage string) error {
	select {
	case <-activity.GetWorkerStopChannel(ctx):
		return temporal.NewApplicationError("worker stopping after stage "+stage+"; the next attempt resumes from there", "WorkerStopping")
	default:
		return nil
	}
}

// load fetches and decodes a version's model.
func (a *Models) load(ctx context.Context, v registry.Version) (modelfile.Model, error) {
	data, err := a.Registry.Load(ctx, v)
	if err != nil {
		return modelfile.Model{}, err
	}
	m, err := modelfile.Unmarshal(data)
	if err != nil {
		return modelfile.Model{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s v%d cannot be decoded", v.Name, v.Version), "Decode", err)
	}
	return m, nil
}

// EvaluateInput compares two versions on a checkpoint's holdout.
type EvaluateInput struct {
	TenantID   string
	Model      string
	Champion   int
	Challenger int
	Checkpoint artifact.Ref
	// Policy gives the margin, the tolerance and the backtest's days; nil
	// reads the model's policy.
	Policy *mlops.Policy `json:",omitempty"`
}

// EvaluateOutput is both versions' evaluation; Improvement is the
// challenger's score minus the champion's. Comparison holds every other
// measure taken (labelled holdout, backtest) and Verdict the promotion
// rule's answer (mlops.Compare); both are empty in histories recorded
// before they existed.
type EvaluateOutput struct {
	HoldoutRows int
	Champion    mlops.Evaluation
	Challenger  mlops.Evaluation
	Improvement float64
	Comparison  mlops.Comparison `json:",omitzero"`
	Verdict     *mlops.Verdict   `json:",omitempty"`
}

// EvaluateChallenger compares the challenger with the champion: on the
// checkpoint's holdout, which the challenger was not trained on (the
// calibration criterion, mlops.Evaluate); where confirmed faults exist in
// the window, on the labelled holdout (PR AUC, ROC AUC); and on a backtest
// of the policy's last days of stored readings (alarms, false alarms,
// lead times). mlops.Compare gives the verdict, and every figure is added
// to the challenger version's metrics.
func (a *Models) EvaluateChallenger(ctx context.Context, in EvaluateInput) (EvaluateOutput, error) {
	snap, err := mlops.LoadCheckpoint(ctx, a.Registry.Artifacts(), in.Checkpoint)
	if err != nil {
		return EvaluateOutput{}, err
	}
	_, holdout := snap.Split(a.holdout())
	var models [2]modelfile.Model
	var versions [2]registry.Version
	for i, version := range []int{in.Champion, in.Challenger} {
		v, err := a.Registry.Version(ctx, in.TenantID, in.Model, version)
		if err != nil {
			return EvaluateOutput{}, err
		}
		versions[i] = v
		if models[i], err = a.load(ctx, v); err != nil {
			return EvaluateOutput{}, err
		}
		if !slices.Equal(models[i].Meta.FeatureNames, snap.Names) {
			return EvaluateOutput{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s v%d takes features %v, the holdout has %v", in.Model, version, models[i].Meta.FeatureNames, snap.Names), "Features", nil)
		}
	}
	// Both are judged against the contamination the champion was trained
	// for: the alarm rate operators have tuned for.
	c := mlops.Contamination(models[0])
	out := EvaluateOutput{HoldoutRows: len(holdout), Champion: mlops.Evaluate(models[0], holdout, c), Challenger: mlops.Evaluate(models[1], holdout, c)}
	out.Improvement = out.Challenger.Score - out.Champion.Score
	if err := a.compare(ctx, in, snap, holdout, versions, models, &out); err != nil {
		return EvaluateOutput{}, err
	}
	return out, nil
}

// PromoteInput moves the champion alias.
type PromoteInput struct {
	TenantID string
	Model    string
	Version  int
	Actor    string
	Reason   string
}

// PromoteChampion makes the version the champion. Promoting the version that is
// already champion succeeds (a retried attempt); a version whose artifact
// fails verification is not retried.
func (a *Models) PromoteChampion(ctx context.Context, in PromoteInput) error {
	_, err := a.Registry.Promote(ctx, in.TenantID, registry.Promotion{Name: in.Model, Alias: registry.Champion, Version: in.Version, Actor: in.Actor, Reason: in.Reason})
	switch {
	case err == nil, errors.Is(err, registry.ErrAliasUnchanged):
		return nil
	case errors.Is(err, registry.ErrNotEligible):
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrNotEligible, err)
	}
	return err
}

// RecordRetrain stores the outcome of a retraining run.
func (a *Models) RecordRetrain(ctx context.Context, r mlops.Retrain) error {
	return a.Store.RecordRetrain(ctx, r)
}
