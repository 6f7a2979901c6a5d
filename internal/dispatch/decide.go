package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

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

// Limits of a DecisionRequest, in characters: the user and comment are
// kept in the incident's history, the maintenance log and messages.
const (
	MaxDecisionUser    = 128
	MaxDecisionComment = 2000
)

// Snooze bounds of a decision.
const (
	MinSnooze = time.Minute
	MaxSnooze = 30 * 24 * time.Hour
)

// Problem is one thing wrong with a decision's field.
type Problem struct {
	Field   string
	Message string
}

// Problems checks a request's form, not whether the incident can take it
// now; nil when it is well formed.
func (b DecisionRequest) Problems() []Problem {
	var p []Problem
	switch b.Action {
	case workflows.ActionApprove, workflows.ActionReject, workflows.ActionAcknowledge:
		if b.SnoozeFor != "" {
			p = append(p, Problem{"snooze_for", "only for action snooze"})
		}
	case workflows.ActionSnooze:
		if d, err := time.ParseDuration(b.SnoozeFor); err != nil || d < MinSnooze || d > MaxSnooze {
			p = append(p, Problem{"snooze_for", "a duration from 1m to 720h, for example \"2h\""})
		}
	default:
		p = append(p, Problem{"action", "one of approve, reject, snooze, acknowledge"})
	}
	if utf8.RuneCountInString(b.User) > MaxDecisionUser || strings.ContainsFunc(b.User, unicode.IsControl) {
		p = append(p, Problem{"user", fmt.Sprintf("at most %d characters on one line", MaxDecisionUser)})
	}
	if utf8.RuneCountInString(b.Comment) > MaxDecisionComment {
		p = append(p, Problem{"comment", fmt.Sprintf("at most %d characters", MaxDecisionComment)})
	}
	return p
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
	Problems []Problem
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
func (d *Decider) Decide(ctx context.Context, tenant, actor, id string, b DecisionRequest) (*workflows.IncidentState, error) {
	if ps := b.Problems(); len(ps) > 0 {
		return nil, &DecisionError{Reason: RefusedInvalid, Message: "the decision is invalid", Problems: ps}
	}
	dec := workflows.Decision{IncidentID: id, Action: b.Action, Comment: b.Comment, User: b.User}
	if dec.User == "" {
		dec.User = actor
	}
	if b.Action == workflows.ActionSnooze {
		dec.SnoozeFor, _ = time.ParseDuration(b.SnoozeFor)
	}
	inc, err := d.DB.GetIncident(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	status := map[string]string{"status": inc.Status}
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
	var state workflows.IncidentState
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
		case workflows.ErrTypeNotAwaitingDecision:
			return nil, &DecisionError{Reason: RefusedDecided, Message: appErr.Message(), Details: status}
		case workflows.ErrTypeAlreadyAcknowledged:
			return nil, &DecisionError{Reason: RefusedAcknowledged, Message: appErr.Message(), Details: map[string]string{"assignee": inc.Assignee}}
		case workflows.ErrTypeOtherIncident:
			return nil, &DecisionError{Reason: RefusedNotRunning, Message: appErr.Message(), Details: status}
		case workflows.ErrTypeInvalidDecision:
			return nil, &DecisionError{Reason: RefusedInvalid, Message: appErr.Message()}
		}
	case errors.As(err, &notFound):
		return nil, &DecisionError{Reason: RefusedDecided, Message: "the incident's workflow is no longer running"}
	}
	return nil, fmt.Errorf("%w: incident %s: %w", ErrUndelivered, inc.ID, err)
}
