package incident

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Action is what a decision does.
type Action string

// The decision actions.
const (
	Approve     Action = "approve"
	Reject      Action = "reject"
	Snooze      Action = "snooze"
	Acknowledge Action = "acknowledge"
)

// Limits of a decision: the user and comment are kept in the incident's
// history, the maintenance log and messages.
const (
	MaxUser    = 128
	MaxComment = 2000
	MinSnooze  = time.Minute
	MaxSnooze  = 30 * 24 * time.Hour
)

// SnoozeRule is what a decision's snooze_for must be, as its problem says.
const SnoozeRule = "a duration from 1m to 720h, for example \"2h\""

// Decision is a person's (or the policy's) answer to an incident awaiting
// approval.
type Decision struct {
	// IncidentID is the incident the decision is meant for; a run
	// carrying another incident refuses it. Empty matches any (the
	// Temporal UI's signals).
	IncidentID string `json:"incident_id,omitempty"`
	Action     Action `json:"action"`
	User       string `json:"user"`
	Comment    string `json:"comment,omitempty"`
	// SnoozeFor is how long a snooze lasts.
	SnoozeFor Duration  `json:"snooze_for,omitempty"`
	At        time.Time `json:"at"`
}

// Problem is one thing wrong with a field of a decision.
type Problem struct {
	Field   string
	Message string
}

// Problems checks a decision's form, not whether it is timely; nil when it
// is well formed. The API, the operator page and the workflow all judge a
// decision by it.
func (d Decision) Problems() []Problem {
	var p []Problem
	switch d.Action {
	case Approve, Reject, Acknowledge:
		if d.SnoozeFor != 0 {
			p = append(p, Problem{"snooze_for", "only for action snooze"})
		}
	case Snooze:
		if s := time.Duration(d.SnoozeFor); s < MinSnooze || s > MaxSnooze {
			p = append(p, Problem{"snooze_for", SnoozeRule})
		}
	default:
		p = append(p, Problem{"action", "one of approve, reject, snooze, acknowledge"})
	}
	switch {
	case d.User == "":
		p = append(p, Problem{"user", "a decision needs the user who makes it"})
	case utf8.RuneCountInString(d.User) > MaxUser || strings.ContainsFunc(d.User, unicode.IsControl):
		p = append(p, Problem{"user", fmt.Sprintf("at most %d characters on one line", MaxUser)})
	}
	if utf8.RuneCountInString(d.Comment) > MaxComment {
		p = append(p, Problem{"comment", fmt.Sprintf("at most %d characters", MaxComment)})
	}
	return p
}

// Validate is Problems as one error.
func (d Decision) Validate() error {
	ps := d.Problems()
	if len(ps) == 0 {
		return nil
	}
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Field + ": " + p.Message
	}
	return errors.New("invalid decision: " + strings.Join(msgs, "; "))
}
