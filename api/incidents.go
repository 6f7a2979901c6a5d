package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/incident"
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

// incidentBody is an incident's projection as the API shows it.
type incidentBody struct {
	incident.Header
	Anomalies   int             `json:"anomalies"`
	WorkOrderID *string         `json:"work_order_id,omitempty"`
	Summary     json.RawMessage `json:"summary,omitempty"`
}

func toIncidentBody(p incident.Projection) incidentBody {
	return incidentBody{Header: p.Header(), Anomalies: p.Anomalies, WorkOrderID: p.WorkOrderID, Summary: p.Summary}
}

func (h *Incidents) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.IncidentFilter{AssetID: q.Get("asset"), Status: q.Get("status"), Limit: 100}
	var problems []ParamError
	if f.Status != "" && f.Status != "open" && !incident.Status(f.Status).Valid() {
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
	bodies := make([]incidentBody, len(items))
	for i, p := range items {
		bodies[i] = toIncidentBody(p)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": bodies, "next_before": next})
}

// get answers with the projection and, for open incidents, the live state
// queried from the workflow (evidence, rules, history).
func (h *Incidents) get(w http.ResponseWriter, r *http.Request) {
	inc, err := h.DB.GetIncident(r.Context(), Tenant(r), mux.Vars(r)["id"])
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	out := map[string]any{"incident": toIncidentBody(inc)}
	if inc.ClosedAt == nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		v, err := h.Temporal.QueryWorkflow(ctx, inc.WorkflowID, "", workflows.QueryState)
		var state workflows.IncidentView
		if err == nil {
			err = v.Get(&state)
		}
		if err == nil && state.ID == inc.ID {
			out["state"] = state
		} else if err != nil {
			out["state_error"] = "live state unavailable: " + err.Error()
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

// decide sends the decision as a workflow update, so the answer says
// whether the incident took it: 404 unknown, 409 not awaiting a decision.
func (h *Incidents) decide(w http.ResponseWriter, r *http.Request) {
	var b dispatch.DecisionRequest
	if !DecodeJSON(w, r, &b) {
		return
	}
	p, _ := auth.FromContext(r.Context())
	d := &dispatch.Decider{DB: h.DB, Temporal: h.Temporal}
	state, err := d.Decide(r.Context(), p.TenantID, "key:"+p.KeyName, mux.Vars(r)["id"], b)
	var de *dispatch.DecisionError
	switch {
	case err == nil:
		WriteJSON(w, http.StatusOK, map[string]any{"incident_id": state.ID, "decision": b.Action, "state": state})
	case errors.As(err, &de):
		writeDecisionError(w, r, de)
	case errors.Is(err, dispatch.ErrUndelivered):
		WriteUnavailable(w, r, 5, "the decision could not be delivered to the incident right now; retry")
	default:
		WriteStoreError(w, r, err)
	}
}

// writeDecisionError answers a decision the incident did not take: 422
// for a malformed one (with each field's problem), 409 otherwise.
func writeDecisionError(w http.ResponseWriter, r *http.Request, de *dispatch.DecisionError) {
	if de.Reason == dispatch.RefusedInvalid {
		var details any
		if len(de.Problems) > 0 {
			ps := make([]ParamError, len(de.Problems))
			for i, p := range de.Problems {
				ps[i] = ParamError{p.Field, p.Message}
			}
			details = ps
		}
		WriteError(w, r, http.StatusUnprocessableEntity, de.Reason, de.Message, details)
		return
	}
	var details any
	if de.Details != nil {
		details = de.Details
	}
	WriteError(w, r, http.StatusConflict, de.Reason, de.Message, details)
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

// policyBody is the incident policy as a PUT sends it: text to check
// field by field (responses are the incident.Policy itself).
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

func toPolicyBody(p incident.Policy) policyBody {
	return policyBody{
		CollectWindow: p.CollectWindow.String(), RejectBelow: p.RejectBelow, AutoApproveAt: p.AutoApproveAt,
		ApprovalTimeout: p.ApprovalTimeout.String(), EscalationStages: p.EscalationStages, TimeoutDecision: string(p.TimeoutDecision),
		ClearAfter: p.ClearAfter.String(), PersistenceReadings: p.PersistenceReadings, MinSeverity: string(p.MinSeverity),
	}
}

func (h *Incidents) getPolicy(w http.ResponseWriter, r *http.Request) {
	p, err := h.DB.IncidentPolicy(r.Context(), Tenant(r))
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

func (h *Incidents) putPolicy(w http.ResponseWriter, r *http.Request) {
	b := toPolicyBody(incident.DefaultPolicy())
	if !DecodeJSON(w, r, &b) {
		return
	}
	var p incident.Policy
	var problems []ParamError
	dur := func(name, s string, lo, hi time.Duration) incident.Duration {
		d, err := time.ParseDuration(s)
		if err != nil || d < lo || d > hi || d%time.Second != 0 {
			problems = append(problems, ParamError{name, fmt.Sprintf("a whole-second duration from %s to %s", lo, hi)})
		}
		return incident.Duration(d)
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
	if a := incident.Action(b.TimeoutDecision); a != incident.Approve && a != incident.Reject {
		problems = append(problems, ParamError{"timeout_decision", "approve or reject"})
	}
	if b.PersistenceReadings < 1 || b.PersistenceReadings > 1000 {
		problems = append(problems, ParamError{"persistence_readings", "an integer from 1 to 1000"})
	}
	if anomaly.Severity(b.MinSeverity).Rank() == 0 {
		problems = append(problems, ParamError{"min_severity", "warning, minor, major or critical"})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_policy", "the incident policy is invalid", problems)
		return
	}
	p.RejectBelow, p.AutoApproveAt, p.EscalationStages = b.RejectBelow, b.AutoApproveAt, b.EscalationStages
	p.TimeoutDecision, p.PersistenceReadings, p.MinSeverity = incident.Action(b.TimeoutDecision), b.PersistenceReadings, anomaly.Severity(b.MinSeverity)
	if err := h.DB.PutIncidentPolicy(r.Context(), Tenant(r), p); err != nil {
		WriteStoreError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}
