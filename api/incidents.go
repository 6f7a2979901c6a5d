package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

// Incidents serves incidents, their decisions, the maintenance log and the
// tenant's incident policy.
type Incidents struct {
	DB       *store.DB
	Temporal client.Client
}

// Register mounts the incident routes.
func (h *Incidents) Register(v1 *mux.Router) {
	v1.Handle("/incidents", Require(apikey.ReadingsRead, h.list)).Methods(http.MethodGet)
	v1.Handle("/incidents/{id}", Require(apikey.ReadingsRead, h.get)).Methods(http.MethodGet)
	v1.Handle("/incidents/{id}/decision", Require(apikey.IncidentsDecide, h.decide)).Methods(http.MethodPost)
	v1.Handle("/assets/{id}/log", Require(apikey.ReadingsRead, h.log)).Methods(http.MethodGet)
	v1.Handle("/incident-policy", Require(apikey.ReadingsRead, h.getPolicy)).Methods(http.MethodGet)
	v1.Handle("/incident-policy", Require(apikey.Admin, h.putPolicy)).Methods(http.MethodPut)
}

var incidentStatuses = map[string]bool{
	"open":                             true,
	string(workflows.StatusCollecting): true, string(workflows.StatusValidating): true, string(workflows.StatusAwaiting): true,
	string(workflows.StatusSnoozed): true, string(workflows.StatusApproved): true, string(workflows.StatusScheduled): true,
	string(workflows.StatusInProgress): true, string(workflows.StatusResolved): true, string(workflows.StatusClosed): true,
}

func (h *Incidents) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.IncidentFilter{AssetID: q.Get("asset"), Status: q.Get("status"), Limit: 100}
	var problems []ParamError
	if f.Status != "" && !incidentStatuses[f.Status] {
		problems = append(problems, ParamError{"status", "one of open, closed, collecting, validating, awaiting_approval, snoozed, approved, scheduled, in_progress, resolved"})
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			problems = append(problems, ParamError{"limit", "must be an integer from 1 to 500"})
		}
		f.Limit = n
	}
	if s := q.Get("before"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			problems = append(problems, ParamError{"before", "not an RFC 3339 timestamp"})
		}
		f.Before = t
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return
	}
	items, err := h.DB.ListIncidents(r.Context(), Tenant(r), f)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	next := ""
	if len(items) == f.Limit {
		next = items[len(items)-1].OpenedAt.Format(time.RFC3339Nano)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": items, "next_before": next})
}

// get answers with the projection and, for open incidents, the live state
// queried from the workflow (evidence, rules, history).
func (h *Incidents) get(w http.ResponseWriter, r *http.Request) {
	inc, err := h.DB.GetIncident(r.Context(), Tenant(r), mux.Vars(r)["id"])
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	out := map[string]any{"incident": inc}
	if inc.ClosedAt == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		v, err := h.Temporal.QueryWorkflow(ctx, inc.WorkflowID, "", workflows.QueryState)
		var state workflows.IncidentState
		if err == nil {
			err = v.Get(&state)
		}
		if err == nil && state.ID == inc.ID {
			out["state"] = publicState(&state)
		} else if err != nil {
			out["state_error"] = "live state unavailable: " + err.Error()
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

// publicState drops the workflow's bookkeeping from the state.
func publicState(s *workflows.IncidentState) *workflows.IncidentState {
	c := *s
	c.Seen, c.Unlogged, c.PendingDecision = nil, nil, nil
	return &c
}

// DecisionRequest is a person's decision on an incident, as the API and
// the operator page receive it.
type DecisionRequest struct {
	// Action is approve, reject, snooze or acknowledge.
	Action  string `json:"action"`
	Comment string `json:"comment"`
	// User names the person; the API key's name when empty.
	User string `json:"user"`
	// SnoozeFor is a duration such as "2h" for snooze.
	SnoozeFor string `json:"snooze_for"`
}

// Limits of a DecisionRequest, in characters: the user and comment are
// kept in the incident's history, the maintenance log and messages.
const (
	MaxDecisionUser    = 128
	MaxDecisionComment = 2000
)

// textProblems checks the user and comment of b.
func (b DecisionRequest) textProblems() []ParamError {
	var p []ParamError
	if utf8.RuneCountInString(b.User) > MaxDecisionUser || strings.ContainsFunc(b.User, unicode.IsControl) {
		p = append(p, ParamError{"user", fmt.Sprintf("at most %d characters on one line", MaxDecisionUser)})
	}
	if utf8.RuneCountInString(b.Comment) > MaxDecisionComment {
		p = append(p, ParamError{"comment", fmt.Sprintf("at most %d characters", MaxDecisionComment)})
	}
	return p
}

// DecisionError is a decision the incident did not take: Status and Code
// are the HTTP status and error code to answer with.
type DecisionError struct {
	Status  int
	Code    string
	Message string
	Details any
}

func (e *DecisionError) Error() string { return e.Message }

// ErrUndelivered is returned by Decide when the incident's workflow could
// not be reached; the decision may be retried.
var ErrUndelivered = errors.New("the decision could not be delivered to the incident")

// Decide delivers the decision to incident id of the principal's tenant as
// a workflow update and returns the incident's state once it took it. It
// fails with a *DecisionError for an invalid decision (422) or an incident
// not awaiting one (409), a store error for an unknown incident, and
// ErrUndelivered when Temporal could not be reached.
func (h *Incidents) Decide(ctx context.Context, p auth.Principal, id string, b DecisionRequest) (*workflows.IncidentState, error) {
	d := workflows.Decision{IncidentID: id, Action: b.Action, Comment: b.Comment, User: b.User}
	if d.User == "" {
		d.User = "key:" + p.KeyName
	}
	var problems []ParamError
	switch b.Action {
	case workflows.ActionApprove, workflows.ActionReject, workflows.ActionAcknowledge:
		if b.SnoozeFor != "" {
			problems = append(problems, ParamError{"snooze_for", "only for action snooze"})
		}
	case workflows.ActionSnooze:
		dur, err := time.ParseDuration(b.SnoozeFor)
		if err != nil || dur < time.Minute || dur > 30*24*time.Hour {
			problems = append(problems, ParamError{"snooze_for", "a duration from 1m to 720h, for example \"2h\""})
		}
		d.SnoozeFor = dur
	default:
		problems = append(problems, ParamError{"action", "one of approve, reject, snooze, acknowledge"})
	}
	problems = append(problems, b.textProblems()...)
	if len(problems) > 0 {
		return nil, &DecisionError{http.StatusUnprocessableEntity, "invalid_decision", "the decision is invalid", problems}
	}
	inc, err := h.DB.GetIncident(ctx, p.TenantID, id)
	if err != nil {
		return nil, err
	}
	if inc.ClosedAt != nil {
		return nil, &DecisionError{http.StatusConflict, "already_decided", fmt.Sprintf("incident is %s (%s)", inc.Status, inc.Resolution), map[string]string{"status": inc.Status}}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	handle, err := h.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   inc.WorkflowID,
		UpdateName:   workflows.UpdateDecide,
		Args:         []any{d},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var state workflows.IncidentState
	if err == nil {
		err = handle.Get(ctx, &state)
	}
	var appErr *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return publicState(&state), nil
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeNotAwaitingDecision:
		return nil, &DecisionError{http.StatusConflict, "already_decided", appErr.Message(), map[string]string{"status": inc.Status}}
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeAlreadyAcknowledged:
		return nil, &DecisionError{http.StatusConflict, "already_acknowledged", appErr.Message(), map[string]string{"assignee": inc.Assignee}}
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeOtherIncident:
		return nil, &DecisionError{http.StatusConflict, "incident_not_running", appErr.Message(), map[string]string{"status": inc.Status}}
	case errors.As(err, &appErr) && appErr.Type() == workflows.ErrTypeInvalidDecision:
		return nil, &DecisionError{http.StatusUnprocessableEntity, "invalid_decision", appErr.Message(), nil}
	case errors.As(err, &notFound):
		return nil, &DecisionError{http.StatusConflict, "already_decided", "the incident's workflow is no longer running", nil}
	}
	return nil, fmt.Errorf("%w: incident %s: %w", ErrUndelivered, inc.ID, err)
}

// decide sends the decision as a workflow update, so the answer says
// whether the incident took it: 404 unknown, 409 not awaiting a decision.
func (h *Incidents) decide(w http.ResponseWriter, r *http.Request) {
	var b DecisionRequest
	if !DecodeJSON(w, r, &b) {
		return
	}
	p, _ := auth.FromContext(r.Context())
	state, err := h.Decide(r.Context(), p, mux.Vars(r)["id"], b)
	var de *DecisionError
	switch {
	case err == nil:
		WriteJSON(w, http.StatusOK, map[string]any{"incident_id": state.ID, "decision": b.Action, "state": state})
	case errors.As(err, &de):
		WriteError(w, r, de.Status, de.Code, de.Message, de.Details)
	case errors.Is(err, ErrUndelivered):
		WriteUnavailable(w, r, 5, "the decision could not be delivered to the incident right now; retry")
	default:
		WriteStoreError(w, r, err)
	}
}

func (h *Incidents) log(w http.ResponseWriter, r *http.Request) {
	tenant, assetID := Tenant(r), mux.Vars(r)["id"]
	if _, err := h.DB.GetAsset(r.Context(), tenant, assetID); err != nil {
		WriteStoreError(w, r, err)
		return
	}
	limit := 200
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", []ParamError{{"limit", "must be an integer from 1 to 1000"}})
			return
		}
		limit = n
	}
	entries, err := h.DB.MaintenanceLog(r.Context(), tenant, assetID, r.URL.Query().Get("incident"), limit)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": entries})
}

// policyBody is the incident policy in API units.
type policyBody struct {
	CollectWindow       string  `json:"collect_window"`
	RejectBelow         float64 `json:"reject_below"`
	AutoApproveAt       float64 `json:"auto_approve_at"`
	ApprovalTimeout     string  `json:"approval_timeout"`
	EscalationStages    int     `json:"escalation_stages"`
	TimeoutDecision     string  `json:"timeout_decision"`
	ClearAfter          string  `json:"clear_after"`
	PersistenceReadings int     `json:"persistence_readings"`
	MinSeverity         string  `json:"min_severity"`
}

func toPolicyBody(p store.IncidentPolicy) policyBody {
	return policyBody{
		CollectWindow: p.CollectWindow.String(), RejectBelow: p.RejectBelow, AutoApproveAt: p.AutoApproveAt,
		ApprovalTimeout: p.ApprovalTimeout.String(), EscalationStages: p.EscalationStages, TimeoutDecision: p.TimeoutDecision,
		ClearAfter: p.ClearAfter.String(), PersistenceReadings: p.PersistenceReadings, MinSeverity: p.MinSeverity,
	}
}

func (h *Incidents) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := h.DB.IncidentPolicy(r.Context(), Tenant(r))
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPolicyBody(p))
}

func (h *Incidents) putPolicy(w http.ResponseWriter, r *http.Request) {
	b := toPolicyBody(store.DefaultIncidentPolicy())
	if !DecodeJSON(w, r, &b) {
		return
	}
	var p store.IncidentPolicy
	var problems []ParamError
	dur := func(name, s string, lo, hi time.Duration) time.Duration {
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi || d%time.Second != 0 {
			problems = append(problems, ParamError{name, fmt.Sprintf("a whole-second duration from %s to %s", lo, hi)})
		}
		return d
	}
	p.CollectWindow = dur("collect_window", b.CollectWindow, 0, time.Hour)
	p.ApprovalTimeout = dur("approval_timeout", b.ApprovalTimeout, time.Minute, 7*24*time.Hour)
	p.ClearAfter = dur("clear_after", b.ClearAfter, time.Minute, 7*24*time.Hour)
	unit := func(name string, v float64) {
		if math.IsNaN(v) || v < 0 || v > 1 {
			problems = append(problems, ParamError{name, "a number from 0 to 1"})
		}
	}
	unit("reject_below", b.RejectBelow)
	unit("auto_approve_at", b.AutoApproveAt)
	if b.RejectBelow > b.AutoApproveAt {
		problems = append(problems, ParamError{"reject_below", "must not exceed auto_approve_at"})
	}
	if b.EscalationStages < 0 || b.EscalationStages > 10 {
		problems = append(problems, ParamError{"escalation_stages", "an integer from 0 to 10"})
	}
	if b.TimeoutDecision != workflows.ActionApprove && b.TimeoutDecision != workflows.ActionReject {
		problems = append(problems, ParamError{"timeout_decision", "approve or reject"})
	}
	if b.PersistenceReadings < 1 || b.PersistenceReadings > 1000 {
		problems = append(problems, ParamError{"persistence_readings", "an integer from 1 to 1000"})
	}
	if detect.Severity(b.MinSeverity).Rank() == 0 {
		problems = append(problems, ParamError{"min_severity", "warning, minor, major or critical"})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_policy", "the incident policy is invalid", problems)
		return
	}
	p.RejectBelow, p.AutoApproveAt, p.EscalationStages = b.RejectBelow, b.AutoApproveAt, b.EscalationStages
	p.TimeoutDecision, p.PersistenceReadings, p.MinSeverity = b.TimeoutDecision, b.PersistenceReadings, b.MinSeverity
	if err := h.DB.PutIncidentPolicy(r.Context(), Tenant(r), p); err != nil {
		WriteStoreError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPolicyBody(p))
}
