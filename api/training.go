package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

// DefaultMaxTrainingRange is the longest time range a training reads
// when Training.MaxRange is zero.
const DefaultMaxTrainingRange = 366 * 24 * time.Hour

// Training starts and follows the training of a model from the tenant's
// stored readings (the TrainModel workflow, see docs/MLOPS.md).
type Training struct {
	DB       *store.DB
	Registry *registry.Registry
	// Temporal starts the workflows on TaskQueue.
	Temporal  client.Client
	TaskQueue string
	// MaxRange limits to − from; DefaultMaxTrainingRange when zero.
	MaxRange time.Duration
}

// Register mounts the training routes: starting one needs models:write,
// following it readings:read.
func (h *Training) Register(v1 *mux.Router) {
	v1.Handle("/models/{name}/training", Require(apikey.ModelsWrite, h.start)).Methods(http.MethodPost)
	v1.Handle("/models/{name}/training/{id}", Require(apikey.ReadingsRead, h.get)).Methods(http.MethodGet)
}

// trainingBody is the body of POST /api/v1/models/{name}/training.
type trainingBody struct {
	Kind      string            `json:"kind"`
	AssetType string            `json:"asset_type"`
	From      *time.Time        `json:"from"`
	To        *time.Time        `json:"to"`
	Features  map[string]string `json:"features"`
	Params    struct {
		Contamination float64 `json:"contamination"`
		Trees         int     `json:"trees"`
		Subsample     int     `json:"subsample"`
		Horizon       string  `json:"horizon"`
		MaxIter       int     `json:"max_iter"`
		LearningRate  float64 `json:"learning_rate"`
		ClassWeight   string  `json:"class_weight"`
	} `json:"params"`
	Alias string `json:"alias"`
}

// input checks b and returns the workflow's input, or the problems.
func (b trainingBody) input(maxRange time.Duration) (activities.TrainModelInput, []ParamError) {
	var problems []ParamError
	add := func(param, format string, a ...any) {
		problems = append(problems, ParamError{param, fmt.Sprintf(format, a...)})
	}
	in := activities.TrainModelInput{AssetType: strings.TrimSpace(b.AssetType), Features: b.Features, Alias: b.Alias}
	kind, ok := modelkind.Parse(b.Kind)
	switch {
	case !ok:
		add("kind", "%q: want one of %q", b.Kind, modelkind.Strings())
	case !slices.Contains(mlops.TrainableKinds, kind):
		add("kind", "training from readings supports %q; a %s model is trained offline and uploaded (docs/REGISTRY.md)", mlops.TrainableKinds, kind)
	}
	in.Kind = kind
	if in.AssetType == "" {
		add("asset_type", "required: the asset type whose assets' readings are trained on")
	}
	switch {
	case b.From == nil || b.To == nil:
		add("from", "from and to are required (RFC 3339 times)")
	case !b.From.Before(*b.To):
		add("to", "must be after from")
	case b.To.Sub(*b.From) > maxRange:
		add("to", "the range is %s long; at most %s", b.To.Sub(*b.From), maxRange)
	default:
		in.From, in.To = b.From.UTC(), b.To.UTC()
	}
	if len(b.Features) > 256 {
		add("features", "at most 256 features")
	}
	for f, src := range b.Features {
		if strings.TrimSpace(f) == "" || len(f) > maxFeatureName {
			add("features", "feature %q: want a name of 1 to %d bytes", f, maxFeatureName)
		}
		if !binding.ValidSource(src) {
			add("features."+f, "source %q is neither a sensor id nor an %q metadata spec", src, binding.MetadataFeature)
		}
	}
	p := &in.Params
	p.Contamination, p.Trees, p.Subsample, p.MaxIter, p.LearningRate = b.Params.Contamination, b.Params.Trees, b.Params.Subsample, b.Params.MaxIter, b.Params.LearningRate
	if c := p.Contamination; c < 0 || c >= 0.5 {
		add("params.contamination", "%v: want a share in (0, 0.5)", c)
	}
	if p.Trees < 0 || p.Trees > 1000 {
		add("params.trees", "%d: want 1 to 1000", p.Trees)
	}
	if p.Subsample < 0 || p.Subsample == 1 || p.Subsample > 100000 {
		add("params.subsample", "%d: want 2 to 100000", p.Subsample)
	}
	if p.MaxIter < 0 || p.MaxIter > 1000 {
		add("params.max_iter", "%d: want 1 to 1000", p.MaxIter)
	}
	if lr := p.LearningRate; lr < 0 || lr > 1 {
		add("params.learning_rate", "%v: want (0, 1]", lr)
	}
	if p.ClassWeight = b.Params.ClassWeight; p.ClassWeight != "" && p.ClassWeight != "balanced" {
		add("params.class_weight", "%q: want balanced, or none for unweighted", p.ClassWeight)
	}
	if b.Params.Horizon != "" {
		d, err := time.ParseDuration(b.Params.Horizon)
		if err != nil || d < time.Second || d > maxRange {
			add("params.horizon", "%q: want a duration from 1s to %s, e.g. 24h", b.Params.Horizon, maxRange)
		}
		p.Horizon = d
	}
	switch in.Alias {
	case "":
		in.Alias = registry.Challenger
	case registry.Challenger, registry.Champion:
	default:
		add("alias", "%q: want %s (default) or %s (only for a model without a champion)", in.Alias, registry.Challenger, registry.Champion)
	}
	return in, problems
}

// start handles POST /api/v1/models/{name}/training: it checks the
// request against the tenant's assets and the model, starts the model's
// TrainModel workflow (id train-model/<tenant>/<model>) and answers 202
// with the training id (the run id) and its Location. 409
// training_running while one runs, 409 champion_exists for the champion
// alias on a model that has a champion.
func (h *Training) start(w http.ResponseWriter, r *http.Request) {
	var b trainingBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	maxRange := h.MaxRange
	if maxRange <= 0 {
		maxRange = DefaultMaxTrainingRange
	}
	in, problems := b.input(maxRange)
	ctx, name := r.Context(), mux.Vars(r)["name"]
	p, _ := auth.FromContext(ctx)
	if !registry.ValidName(name) {
		problems = append(problems, ParamError{"name", "want 1 to 128 letters, digits and . _ : - starting with a letter or digit"})
	} else if why := mlops.NameProblem(name, in.Kind); why != "" && in.Kind.Valid() {
		problems = append(problems, ParamError{"kind", why})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_training", "the training request is invalid", problems)
		return
	}
	if assets, err := h.DB.ListAssets(ctx, p.TenantID, in.AssetType, store.Page{Limit: 1}); err != nil {
		WriteInternal(w, r, err)
		return
	} else if len(assets) == 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "unknown_asset_type", fmt.Sprintf("the tenant has no asset of type %q", in.AssetType),
			[]ParamError{{"asset_type", "no asset of this type"}})
		return
	}
	if code, why, err := h.checkModel(ctx, p.TenantID, name, in); err != nil {
		WriteInternal(w, r, err)
		return
	} else if code != 0 {
		WriteError(w, r, code, map[int]string{http.StatusConflict: "champion_exists", http.StatusUnprocessableEntity: "kind_mismatch"}[code], why, nil)
		return
	}
	in.TenantID, in.Model, in.RequestedBy = p.TenantID, name, keyActor(r)
	id := workflows.TrainModelWorkflowID(p.TenantID, name)
	run, ok := startOne(w, r, h.Temporal, h.TaskQueue, id, workflows.TrainModel, in, conflict{
		code: "training_running", message: fmt.Sprintf("model %q is already being trained; wait for it to finish", name),
		runKey: "training_id", what: "training"})
	if !ok {
		return
	}
	loc := trainingPath(name, run.GetRunID())
	w.Header().Set("Location", loc)
	WriteJSON(w, http.StatusAccepted, map[string]any{
		"training_id": run.GetRunID(), "workflow_id": run.GetID(), "model": name, "status": "running", "location": loc,
		"kind": in.Kind, "asset_type": in.AssetType, "from": in.From, "to": in.To, "alias": in.Alias,
	})
}

// conflict is how startOne answers a start while a run is open: 409 with
// code and message, details naming the workflow and, under runKey, the
// open run; what names the work for a 503.
type conflict struct{ code, message, runKey, what string }

// startOne starts wf(arg) under the workflow id on queue unless a run with
// that id is open. Otherwise it answers — 409 as c says, or 503 when
// Temporal cannot be reached — and returns false.
func startOne(w http.ResponseWriter, r *http.Request, tc client.Client, queue, id string, wf, arg any, c conflict) (client.WorkflowRun, bool) {
	run, err := tc.ExecuteWorkflow(r.Context(), client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                queue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Without it the client answers with the running workflow's handle.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, wf, arg)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started):
		WriteError(w, r, http.StatusConflict, c.code, c.message, map[string]string{"workflow_id": id, c.runKey: started.RunId})
		return nil, false
	case err != nil:
		WriteUnavailable(w, r, 5, "the "+c.what+" could not be started right now; retry")
		return nil, false
	}
	return run, true
}

// trainingPath is the Location of a training.
func trainingPath(name, id string) string {
	return "/api/v1/models/" + url.PathEscape(name) + "/training/" + url.PathEscape(id)
}

// checkModel answers 422 when the model's versions are of another kind
// and 409 when the champion alias is asked for a model that has one.
func (h *Training) checkModel(ctx context.Context, tenant, name string, in activities.TrainModelInput) (int, string, error) {
	m, err := h.Registry.Model(ctx, tenant, name)
	if errors.Is(err, store.ErrNotFound) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	latest, err := h.Registry.Version(ctx, tenant, name, m.LatestVersion)
	if err != nil {
		return 0, "", err
	}
	if want := mlops.RegistryKind(in.Kind); latest.Kind != want {
		return http.StatusUnprocessableEntity, fmt.Sprintf("model %q holds %s versions; a %s model is %s: train it under another name", name, latest.Kind, in.Kind, want), nil
	}
	if v, ok := m.Aliases[registry.Champion]; ok && in.Alias == registry.Champion {
		return http.StatusConflict, fmt.Sprintf("model %q already has a champion (v%d): train a challenger and promote it after evaluation", name, v), nil
	}
	return 0, "", nil
}

// trainingView is a training as GET answers it.
type trainingView struct {
	TrainingID string `json:"training_id"`
	WorkflowID string `json:"workflow_id"`
	Model      string `json:"model"`
	// Status is running, completed, failed, canceled, terminated or
	// timed_out; Stage the step reached (activities.TrainStage*, done or
	// failed).
	Status    string                        `json:"status"`
	Stage     string                        `json:"stage"`
	Progress  activities.TrainModelProgress `json:"progress"`
	Input     *activities.TrainModelInput   `json:"input,omitempty"`
	StartedAt time.Time                     `json:"started_at"`
	ClosedAt  *time.Time                    `json:"closed_at,omitempty"`
	Result    *activities.TrainModelOutput  `json:"result,omitempty"`
	Error     string                        `json:"error,omitempty"`
}

// get handles GET /api/v1/models/{name}/training/{id}: while the training
// runs, its progress query and its activity's last heartbeat; once it has
// ended, its result or error.
func (h *Training) get(w http.ResponseWriter, r *http.Request) {
	ctx, vars := r.Context(), mux.Vars(r)
	p, _ := auth.FromContext(ctx)
	name, runID := vars["name"], vars["id"]
	wid := workflows.TrainModelWorkflowID(p.TenantID, name)
	desc, err := h.Temporal.DescribeWorkflowExecution(ctx, wid, runID)
	var notFound *serviceerror.NotFound
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &notFound), errors.As(err, &invalid):
		WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("model %q has no training %q", name, runID), nil)
		return
	case err != nil:
		WriteUnavailable(w, r, 5, "the training could not be reached right now; retry")
		return
	}
	info := desc.GetWorkflowExecutionInfo()
	v := trainingView{TrainingID: runID, WorkflowID: wid, Model: name, StartedAt: info.GetStartTime().AsTime(),
		Status: strings.ToLower(strings.TrimPrefix(info.GetStatus().String(), "WORKFLOW_EXECUTION_STATUS_"))}
	if ct := info.GetCloseTime(); ct != nil {
		t := ct.AsTime()
		v.ClosedAt = &t
	}
	// The query answers a closed run too (its worker replays it), with its
	// input and error; its result is the workflow's.
	var state workflows.TrainModelState
	running := info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING
	q, err := h.Temporal.QueryWorkflow(ctx, wid, runID, workflows.QueryTrainModelProgress)
	if err == nil {
		err = q.Get(&state)
	}
	switch {
	case err != nil && running:
		WriteUnavailable(w, r, 2, "the training's progress could not be read right now; retry")
		return
	case running:
		for _, pa := range desc.GetPendingActivities() {
			if d := pa.GetHeartbeatDetails(); d != nil {
				_ = converter.GetDefaultDataConverter().FromPayloads(d, &v.Progress)
			}
		}
	default:
		if err := h.Temporal.GetWorkflow(ctx, wid, runID).Get(ctx, &state); err != nil {
			state.Stage, state.Error = workflows.TrainStageFailed, applicationMessage(err)
		}
		if res := state.Result; res != nil {
			v.Progress = activities.TrainModelProgress{Stage: activities.TrainStageDone, RowsRead: res.TrainRows + res.HoldoutRows,
				Readings: res.Readings, Percent: 100, Version: res.Version}
		}
	}
	v.Stage, v.Result, v.Error = state.Stage, state.Result, state.Error
	if v.Progress.Stage != "" && state.Stage == workflows.TrainStageTraining {
		v.Stage = v.Progress.Stage
	}
	if state.Input.Model != "" {
		v.Input = &state.Input
	}
	WriteJSON(w, http.StatusOK, v)
}

// applicationMessage is the innermost application error's message of a
// workflow's failure.
func applicationMessage(err error) string {
	var app *temporal.ApplicationError
	if errors.As(err, &app) {
		return app.Message()
	}
	return err.Error()
}
