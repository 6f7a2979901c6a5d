package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

// Models serves the model registry: the tenant's models with their aliases,
// each model's versions and alias history, and promotion; and, when MLOps
// and Temporal are set, drift results, retraining and the model policy.
type Models struct {
	Registry *registry.Registry
	// MLOps holds drift checks, retraining outcomes and policies; Defaults
	// is the policy of models without their own.
	MLOps    *mlops.Store
	Defaults mlops.Policy
	// Temporal starts retraining workflows on TaskQueue.
	Temporal  client.Client
	TaskQueue string
	// MaxUploadBytes limits an uploaded model file; DefaultMaxUploadBytes
	// when 0.
	MaxUploadBytes int64
}

// Register mounts the registry routes. Reading needs readings:read;
// uploading, promoting, rolling back, retraining and setting the policy
// need models:write.
func (h *Models) Register(v1 *mux.Router) {
	v1.Handle("/models", Require(apikey.ReadingsRead, h.list)).Methods(http.MethodGet)
	v1.Handle("/models/{name}/versions", Require(apikey.ReadingsRead, h.versions)).Methods(http.MethodGet)
	v1.Handle("/models/{name}/versions", Require(apikey.ModelsWrite, h.upload)).Methods(http.MethodPost)
	v1.Handle("/models/{name}/versions/{version}", Require(apikey.ReadingsRead, h.version)).Methods(http.MethodGet)
	v1.Handle("/models/{name}/aliases/{alias}/history", Require(apikey.ReadingsRead, h.aliasHistory)).Methods(http.MethodGet)
	v1.Handle("/models/{name}/aliases/{alias}/rollback", Require(apikey.ModelsWrite, h.rollback)).Methods(http.MethodPost)
	v1.Handle("/models/{name}/promote", Require(apikey.ModelsWrite, h.promote)).Methods(http.MethodPost)
	if h.MLOps != nil {
		v1.Handle("/models/{name}/drift", Require(apikey.ReadingsRead, h.drift)).Methods(http.MethodGet)
		v1.Handle("/models/{name}/policy", Require(apikey.ModelsWrite, h.setPolicy)).Methods(http.MethodPut)
	}
	if h.MLOps != nil && h.Temporal != nil {
		v1.Handle("/models/{name}/retrain", Require(apikey.ModelsWrite, h.retrain)).Methods(http.MethodPost)
		v1.Handle("/models/{name}/retrain/approval", Require(apikey.ModelsWrite, h.approve)).Methods(http.MethodPost)
	}
}

// list handles GET /api/v1/models.
func (h *Models) list(w http.ResponseWriter, r *http.Request) {
	models, err := h.Registry.Models(r.Context(), Tenant(r))
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": models})
}

// versions handles GET /api/v1/models/{name}/versions?limit&before: the
// model, its versions newest first and its alias history (the latest 100
// moves), with next_before for the following page when there is one.
func (h *Models) versions(w http.ResponseWriter, r *http.Request) {
	var problems []ParamError
	limit := queryInt(r, &problems, "limit", 1, 1000, 100)
	before := queryInt(r, &problems, "before", 1, 1<<31-1, 0)
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return
	}
	ctx, tenant, name := r.Context(), Tenant(r), mux.Vars(r)["name"]
	model, err := h.Registry.Model(ctx, tenant, name)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	versions, err := h.Registry.Versions(ctx, tenant, name, limit, before)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	history, err := h.Registry.AliasHistory(ctx, tenant, name, 100)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	next := 0
	if len(versions) == limit && versions[len(versions)-1].Version > 1 {
		next = versions[len(versions)-1].Version
	}
	WriteJSON(w, http.StatusOK, map[string]any{"model": model, "items": versions, "next_before": next, "alias_history": history})
}

// promoteBody is the body of POST /api/v1/models/{name}/promote.
type promoteBody struct {
	Version int    `json:"version"`
	Alias   string `json:"alias"`
	Reason  string `json:"reason"`
	// Force promotes to champion a version whose recorded verdict says it
	// is worse than the current champion.
	Force bool `json:"force"`
}

func (b promoteBody) problems() []ParamError {
	var p []ParamError
	if b.Version < 1 {
		p = append(p, ParamError{"version", "required: the version number to promote, from 1"})
	}
	if !registry.ValidAlias(b.Alias) {
		p = append(p, ParamError{"alias", "must be one of " + strings.Join(registry.Aliases, ", ") + " (champion when omitted)"})
	}
	if strings.TrimSpace(b.Reason) == "" {
		p = append(p, ParamError{"reason", "required: why the alias moves; it is kept in the model's alias history"})
	} else if len(b.Reason) > 2000 {
		p = append(p, ParamError{"reason", "at most 2000 bytes"})
	}
	return p
}

// promote handles POST /api/v1/models/{name}/promote: it moves the alias
// to the version, recording the API key as the actor, and answers the
// recorded move. Workers and API replicas swap the model in within seconds.
func (h *Models) promote(w http.ResponseWriter, r *http.Request) {
	var b promoteBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if b.Alias == "" {
		b.Alias = registry.Champion
	}
	if p := b.problems(); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_promotion", "the promotion is invalid", p)
		return
	}
	name, reason := mux.Vars(r)["name"], strings.TrimSpace(b.Reason)
	if b.Alias == registry.Champion {
		worse, err := h.worseVerdict(r.Context(), Tenant(r), name, b.Version)
		if err != nil {
			writeRegistryError(w, r, err)
			return
		}
		if worse != nil && !b.Force {
			WriteError(w, r, http.StatusConflict, "challenger_worse",
				fmt.Sprintf("v%d is worse than the champion v%d on the holdout it was trained with (%s); send \"force\": true to promote it anyway", b.Version, worse.Champion, worse.Failed),
				worse)
			return
		}
		if worse != nil {
			reason = "forced over a worse verdict: " + worse.Failed + "; " + reason
		}
	}
	ev, err := h.Registry.Promote(r.Context(), Tenant(r), registry.Promotion{
		Name:    name,
		Alias:   b.Alias,
		Version: b.Version,
		Actor:   keyActor(r),
		Reason:  reason,
	})
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, promotionView{AliasEvent: ev, Watch: h.watch(r, ev)})
}

// worseDetails are the details of a challenger_worse refusal: the
// verdict recorded when the version was trained (mlops.RecordedVerdict)
// against the current champion.
type worseDetails struct {
	Version   int           `json:"version"`
	Champion  int           `json:"champion"`
	Tolerance float64       `json:"tolerance"`
	Failed    string        `json:"failed"`
	Checks    []mlops.Check `json:"checks"`
}

// worseVerdict returns the recorded verdict of version when it says the
// version is worse than the model's current champion; nil when the
// version has no verdict, passed, or was compared with another champion.
func (h *Models) worseVerdict(ctx context.Context, tenant, name string, version int) (*worseDetails, error) {
	v, err := h.Registry.Version(ctx, tenant, name, version)
	if err != nil {
		return nil, err
	}
	verdict, champion, ok := mlops.RecordedVerdict(v.Metrics)
	if !ok || verdict.Promote {
		return nil, nil
	}
	champ, err := h.Registry.Resolve(ctx, tenant, name, registry.Champion)
	if errors.Is(err, store.ErrNotFound) || (err == nil && champ.Version != champion) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &worseDetails{Version: version, Champion: champion, Tolerance: v.Metrics[mlops.MetricVerdictTolerance], Failed: verdict.Failed(), Checks: verdict.Checks}, nil
}

// promotionView is the answer to a promotion: the recorded move and the
// ModelWatch started for it, if any.
type promotionView struct {
	registry.AliasEvent
	Watch string `json:"watch,omitempty"`
}

// watch starts the ModelWatch of a champion promotion that replaced
// another version, unless the model's policy switches the watch off; a
// running watch of the model gives way. It returns the watch's workflow
// id, empty when none was started (the promotion stands either way).
func (h *Models) watch(r *http.Request, ev registry.AliasEvent) string {
	if h.Temporal == nil || h.MLOps == nil || ev.Alias != registry.Champion || ev.From == 0 {
		return ""
	}
	ctx, tenant := r.Context(), Tenant(r)
	policy, err := h.MLOps.Policy(ctx, tenant, ev.Name, h.Defaults)
	if err != nil || policy.Watch.Disabled {
		return ""
	}
	id := workflows.ModelWatchWorkflowID(tenant, ev.Name)
	_, err = h.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                h.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_TERMINATE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
	}, workflows.ModelWatch, workflows.ModelWatchInput{
		TenantID: tenant, Model: ev.Name, Version: ev.To, Previous: ev.From, PromotedAt: ev.At, PromotedBy: ev.Actor,
	})
	if err != nil {
		return ""
	}
	return id
}

// writeRegistryError answers a registry error: unknown model or version
// 404, alias already there 409 alias_unchanged, broken artifact 409
// not_eligible, invalid input 422, anything else 500.
func writeRegistryError(w http.ResponseWriter, r *http.Request, err error) {
	msg := strings.TrimPrefix(err.Error(), "registry: ")
	switch {
	case errors.Is(err, store.ErrNotFound):
		WriteError(w, r, http.StatusNotFound, "not_found", msg, nil)
	case errors.Is(err, registry.ErrAliasUnchanged):
		WriteError(w, r, http.StatusConflict, "alias_unchanged", msg, nil)
	case errors.Is(err, registry.ErrNotEligible):
		// The underlying error names storage paths; the client gets the gist.
		msg = "the version's artifact cannot be loaded, so it cannot take an alias"
		switch {
		case errors.Is(err, artifact.ErrChecksum):
			msg = "the version's artifact no longer matches its recorded SHA-256, so it cannot take an alias"
		case errors.Is(err, artifact.ErrNotFound):
			msg = "the version's artifact is missing from the artifact store, so it cannot take an alias"
		}
		WriteError(w, r, http.StatusConflict, "not_eligible", msg, nil)
	case errors.Is(err, store.ErrInvalid):
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid", msg, nil)
	default:
		WriteInternal(w, r, err)
	}
}

// retrainBody is the optional body of POST /api/v1/models/{name}/retrain.
type retrainBody struct {
	Reason string `json:"reason"`
}

// retrain handles POST /api/v1/models/{name}/retrain: it starts the
// model's RetrainWorkflow (id retrain/<tenant>/<model>) and answers 202
// with its id, or 409 retrain_running while one runs, 409 no_champion when
// there is nothing to retrain from, 422 not_retrainable for a model that
// is not an asset type's anomaly model.
func (h *Models) retrain(w http.ResponseWriter, r *http.Request) {
	var b retrainBody
	if r.ContentLength != 0 && !DecodeJSON(w, r, &b) {
		return
	}
	b.Reason = strings.TrimSpace(b.Reason)
	if len(b.Reason) > 2000 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_retrain", "the retraining request is invalid", []ParamError{{"reason", "at most 2000 bytes"}})
		return
	}
	ctx, name := r.Context(), mux.Vars(r)["name"]
	p, _ := auth.FromContext(ctx)
	model, err := h.Registry.Model(ctx, p.TenantID, name)
	if err != nil {
		writeRegistryError(w, r, err)
		return
	}
	if !strings.HasPrefix(name, detect.ModelPrefix) {
		WriteError(w, r, http.StatusUnprocessableEntity, "not_retrainable",
			fmt.Sprintf("only anomaly models named %s<asset type> are retrained from readings; %q is not one", detect.ModelPrefix, name), nil)
		return
	}
	champion, ok := model.Aliases[registry.Champion]
	if !ok {
		WriteError(w, r, http.StatusConflict, "no_champion", fmt.Sprintf("model %q has no champion to retrain from; promote a version first", name), nil)
		return
	}
	if b.Reason == "" {
		b.Reason = "requested through the API"
	}
	id := workflows.RetrainWorkflowID(p.TenantID, name)
	run, ok := startOne(w, r, h.Temporal, h.TaskQueue, id, workflows.Retrain, workflows.RetrainInput{
		TenantID: p.TenantID, Model: name, Trigger: workflows.TriggerAPI,
		RequestedBy: keyActor(r), Reason: b.Reason,
	}, conflict{code: "retrain_running", message: fmt.Sprintf("model %q is already being retrained; wait for it to finish", name),
		runKey: "run_id", what: "retraining"})
	if !ok {
		return
	}
	WriteJSON(w, http.StatusAccepted, map[string]any{"workflow_id": run.GetID(), "run_id": run.GetRunID(), "model": name, "champion_version": champion})
}

// approvalBody is the body of POST /api/v1/models/{name}/retrain/approval.
type approvalBody struct {
	Approve *bool  `json:"approve"`
	Comment string `json:"comment"`
}

// approve handles POST /api/v1/models/{name}/retrain/approval: it answers
// a retraining whose promotion awaits approval. 404 when no retraining
// runs, 409 not_awaiting_approval when it is not at that stage.
func (h *Models) approve(w http.ResponseWriter, r *http.Request) {
	var b approvalBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if b.Approve == nil {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_approval", "the approval is invalid", []ParamError{{"approve", "required: true to promote the challenger, false to keep the champion"}})
		return
	}
	ctx, name := r.Context(), mux.Vars(r)["name"]
	p, _ := auth.FromContext(ctx)
	id := workflows.RetrainWorkflowID(p.TenantID, name)
	v, err := h.Temporal.QueryWorkflow(ctx, id, "", workflows.QueryRetrainState)
	var state workflows.RetrainState
	if err == nil {
		err = v.Get(&state)
	}
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("no retraining of model %q is running", name), nil)
		return
	case err != nil:
		WriteUnavailable(w, r, 5, "the retraining could not be reached right now; retry")
		return
	case state.Stage != mlops.StageAwaiting:
		WriteError(w, r, http.StatusConflict, "not_awaiting_approval", fmt.Sprintf("the retraining of model %q is %s, not awaiting approval", name, state.Stage),
			map[string]string{"stage": string(state.Stage)})
		return
	}
	ap := workflows.RetrainApproval{Approve: *b.Approve, User: keyActor(r), Comment: strings.TrimSpace(b.Comment)}
	if err := h.Temporal.SignalWorkflow(ctx, id, "", workflows.SignalRetrainApproval, ap); err != nil {
		WriteUnavailable(w, r, 5, "the approval could not be delivered right now; retry")
		return
	}
	WriteJSON(w, http.StatusAccepted, map[string]any{"workflow_id": id, "approve": ap.Approve})
}

// policyView is a policy as the API shows it, durations as text.
type policyView struct {
	mlops.Policy
	ApprovalTimeout string    `json:"approval_timeout"`
	Watch           watchView `json:"watch"`
}

// watchView is the watch policy with readable durations.
type watchView struct {
	Enabled  bool        `json:"enabled"`
	Band     *[2]float64 `json:"band"`
	Ratio    float64     `json:"ratio"`
	For      string      `json:"for"`
	Duration string      `json:"duration"`
	Every    string      `json:"every"`
}

func viewPolicy(p mlops.Policy) policyView {
	w := p.Watch.OrDefaults()
	return policyView{Policy: p, ApprovalTimeout: p.ApprovalTimeout.String(), Watch: watchView{
		Enabled: !w.Disabled, Band: w.Band, Ratio: w.Ratio, For: w.For.String(), Duration: w.Duration.String(), Every: w.Every.String(),
	}}
}

// drift handles GET /api/v1/models/{name}/drift?limit=20: the latest
// drift check with its per-feature statistics, the history of checks and
// retraining outcomes (newest first), and the policy in force.
func (h *Models) drift(w http.ResponseWriter, r *http.Request) {
	limit := 20
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", []ParamError{{"limit", "must be an integer from 1 to 500"}})
			return
		}
		limit = n
	}
	ctx, tenant, name := r.Context(), Tenant(r), mux.Vars(r)["name"]
	if _, err := h.Registry.Model(ctx, tenant, name); err != nil {
		writeRegistryError(w, r, err)
		return
	}
	checks, err := h.MLOps.DriftChecks(ctx, tenant, name, limit)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	retrains, err := h.MLOps.Retrains(ctx, tenant, name, limit)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	policy, err := h.MLOps.Policy(ctx, tenant, name, h.Defaults)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	var latest *mlops.DriftCheck
	if len(checks) > 0 {
		latest = &checks[0]
	}
	WriteJSON(w, http.StatusOK, map[string]any{"model": name, "latest": latest, "history": checks, "retrains": retrains, "policy": viewPolicy(policy)})
}

// modelPolicyBody is the body of PUT /api/v1/models/{name}/policy; omitted
// thresholds take the configured defaults.
type modelPolicyBody struct {
	RequireApproval bool     `json:"require_approval"`
	ApprovalTimeout string   `json:"approval_timeout"`
	MinImprovement  *float64 `json:"min_improvement"`
	PSIThreshold    *float64 `json:"psi_threshold"`
	KSPValue        *float64 `json:"ks_pvalue"`
	MinFeatures     *int     `json:"min_features"`
	// Trusted promotion: the evaluation's backtest and tolerance, and the
	// watch of a promoted champion.
	BacktestDays  *int        `json:"backtest_days"`
	Tolerance     *float64    `json:"tolerance"`
	WatchBand     *[2]float64 `json:"watch_band"`
	WatchRatio    *float64    `json:"watch_ratio"`
	WatchFor      string      `json:"watch_for"`
	WatchDuration string      `json:"watch_duration"`
	WatchEvery    string      `json:"watch_every"`
	Watch         *bool       `json:"watch"`
}

// durationParam parses an optional duration field within [lo, hi].
func durationParam(p *[]ParamError, name, s string, lo, hi time.Duration) *time.Duration {
	if s == "" {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < lo || d > hi {
		*p = append(*p, ParamError{name, fmt.Sprintf("must be a duration from %s to %s", lo, hi)})
		return nil
	}
	return &d
}

func (b modelPolicyBody) promotion(p *[]ParamError) mlops.PromotionOverride {
	o := mlops.PromotionOverride{BacktestDays: b.BacktestDays, Tolerance: b.Tolerance, WatchBand: b.WatchBand, WatchRatio: b.WatchRatio,
		WatchDisabled: b.Watch != nil && !*b.Watch}
	if v := b.BacktestDays; v != nil && (*v < 0 || *v > 90) {
		*p = append(*p, ParamError{"backtest_days", "must be from 0 (no backtest) to 90"})
	}
	if v := b.Tolerance; v != nil && (*v < 0 || *v > 1) {
		*p = append(*p, ParamError{"tolerance", "must be from 0 to 1"})
	}
	if v := b.WatchBand; v != nil && (v[0] < 0 || v[1] <= 0 || v[0] > v[1]) {
		*p = append(*p, ParamError{"watch_band", "must be [min, max] alarms per hour per asset with 0 ≤ min ≤ max and max > 0"})
	}
	if v := b.WatchRatio; v != nil && *v < 1 {
		*p = append(*p, ParamError{"watch_ratio", "must be at least 1"})
	}
	o.WatchFor = durationParam(p, "watch_for", b.WatchFor, time.Second, 7*24*time.Hour)
	o.WatchDuration = durationParam(p, "watch_duration", b.WatchDuration, time.Second, 30*24*time.Hour)
	o.WatchEvery = durationParam(p, "watch_every", b.WatchEvery, time.Second, 24*time.Hour)
	return o
}

func (b modelPolicyBody) override() (mlops.PolicyOverride, []ParamError) {
	o := mlops.PolicyOverride{RequireApproval: b.RequireApproval, MinImprovement: b.MinImprovement, PSIThreshold: b.PSIThreshold, KSPValue: b.KSPValue, MinFeatures: b.MinFeatures}
	var p []ParamError
	o.Promotion = b.promotion(&p)
	if b.ApprovalTimeout != "" {
		d, err := time.ParseDuration(b.ApprovalTimeout)
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			p = append(p, ParamError{"approval_timeout", "must be a duration from 1m to 720h, such as 24h"})
		}
		o.ApprovalTimeout = &d
	}
	if v := b.MinImprovement; v != nil && (*v < 0 || *v > 1) {
		p = append(p, ParamError{"min_improvement", "must be from 0 to 1"})
	}
	if v := b.PSIThreshold; v != nil && *v <= 0 {
		p = append(p, ParamError{"psi_threshold", "must be positive"})
	}
	if v := b.KSPValue; v != nil && (*v <= 0 || *v >= 1) {
		p = append(p, ParamError{"ks_pvalue", "must be between 0 and 1"})
	}
	if v := b.MinFeatures; v != nil && *v < 1 {
		p = append(p, ParamError{"min_features", "must be at least 1"})
	}
	return o, p
}

// setPolicy handles PUT /api/v1/models/{name}/policy: the model's own
// drift thresholds and promotion rules. It answers the policy now in force.
func (h *Models) setPolicy(w http.ResponseWriter, r *http.Request) {
	var b modelPolicyBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	o, problems := b.override()
	if len(problems) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_policy", "the policy is invalid", problems)
		return
	}
	ctx, name := r.Context(), mux.Vars(r)["name"]
	p, _ := auth.FromContext(ctx)
	if err := h.MLOps.SetPolicy(ctx, p.TenantID, name, o, keyActor(r)); err != nil {
		writeRegistryError(w, r, err)
		return
	}
	policy, err := h.MLOps.Policy(ctx, p.TenantID, name, h.Defaults)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, viewPolicy(policy))
}
