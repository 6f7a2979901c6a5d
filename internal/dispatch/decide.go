package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

// DecisionRequest is a person's decision on an incident as the API and
// the operator page receive it.
type DecisionRequest struct {
	// Action is approve, reject, snooze or acknowledge.
	Action  string `json:"action"`
	Comment string `json:"comment"`
	// User names the person; Decide puts the API key's name when empty.
	User string `json:"user"`
	// SnoozeFor is a duration such as "2h" for snooze.
	SnoozeFor string `json:"snooze_for"`
}

// Decision is the incident.Decision the request asks for, taken by actor
// when the request names no user, with the problems of its form (nil when
// it is well formed: the same rules the workflow applies).
func (b DecisionRequest) Decision(incidentID, actor string) (incident.Decision, []incident.Problem) {
	d := incident.Decision{IncidentID: incidentID, Action: incident.Action(b.Action), Comment: b.Comment, User: b.User}
	if d.User == "" {
		d.User = actor
	}
	var bad []incident.Problem
	unparsable := false
	if b.SnoozeFor != "" {
		s, err := time.ParseDuration(b.SnoozeFor)
		d.SnoozeFor, unparsable = incident.Duration(s), err != nil
	}
	if unparsable {
		bad = append(bad, incident.Problem{Field: "snooze_for", Message: incident.SnoozeRule})
	}
	for _, p := range d.Problems() {
		if !(unparsable && p.Field == "snooze_for") {
			bad = append(bad, p)
		}
	}
	return d, bad
}

// Reasons a decision was not taken.
const (
	// RefusedInvalid: the decision is malformed (Problems says how).
	RefusedInvalid = "invalid_decision"
	// RefusedDecided: the incident is not awaiting a decision (over, or
	// past that step).
	RefusedDecided = "already_decided"
	// RefusedAcknowledged: a second acknowledgement.
	RefusedAcknowledged = "already_acknowledged"
	// RefusedNotRunning: the asset's workflow now carries another
	// incident.
	RefusedNotRunning = "incident_not_running"
)

// DecisionError is a decision the incident did not take. Reason is one of
// the Refused constants; the API answers 422 for RefusedInvalid and 409
// for the others, the operator page shows Message.
type DecisionError struct {
	Reason   string
	Message  string
	Problems []incident.Problem
	// Details name the incident's status or assignee.
	Details map[string]string
}

func (e *DecisionError) Error() string { return e.Message }

// ErrUndelivered is returned by Decide when the incident's workflow could
// not be reached; the decision may be retried.
var ErrUndelivered = errors.New("the decision could not be delivered to the incident")

// Decider delivers people's decisions to incident workflows.
type Decider struct {
	DB       *store.DB
	Temporal client.Client
}

// Decide delivers the decision to incident id of tenant as a workflow
// update and returns the incident's state once it took it. actor names
// whoever decides when the request names no user. It fails with a
// *DecisionError for a decision the incident did not take, a store error
// (ErrNotFound) for an unknown incident, and ErrUndelivered when Temporal
// could not be reached.
func (d *Decider) Decide(ctx context.Context, tenant, actor, id string, b DecisionRequest) (*workflows.IncidentView, error) {
	dec, problems := b.Decision(id, actor)
	if len(problems) > 0 {
		return nil, &DecisionError{Reason: RefusedInvalid, Message: "the decision is invalid", Problems: problems}
	}
	inc, err := d.DB.GetIncident(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	status := map[string]string{"status": string(inc.Status)}
	if inc.ClosedAt != nil {
		return nil, &DecisionError{Reason: RefusedDecided, Message: fmt.Sprintf("incident is %s (%s)", inc.Status, inc.Resolution), Details: status}
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	handle, err := d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   inc.WorkflowID,
		UpdateName:   workflows.UpdateDecide,
		Args:         []any{dec},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var state workflows.IncidentView
	if err == nil {
		err = handle.Get(ctx, &state)
	}
	var appErr *temporal.ApplicationError
	var notFound *serviceerror.NotFound
	switch {
	case err == nil:
		return &state, nil
	case errors.As(err, &appErr):
		switch appErr.Type() {
		case incident.ErrTypeNotAwaitingDecision:
			return nil, &DecisionError{Reason: RefusedDecided, Message: appErr.Message(), Details: status}
		case incident.ErrTypeAlreadyAcknowledged:
			return nil, &DecisionError{Reason: RefusedAcknowledged, Message: appErr.Message(), Details: map[string]string{"assignee": inc.Assignee}}
		case incident.ErrTypeOtherIncident:
			return nil, &DecisionError{Reason: RefusedNotRunning, Message: appErr.Message(), Details: status}
		case incident.ErrTypeInvalidDecision:
			return nil, &DecisionError{Reason: RefusedInvalid, Message: appErr.Message()}
		}
	case errors.As(err, &notFound):
		return nil, &DecisionError{Reason: RefusedDecided, Message: "the incident's workflow is no longer running"}
	}
	return nil, fmt.Errorf("%w: incident %s: %w", ErrUndelivered, inc.ID, err)
}
