package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"

	"github.com/smartmaint/smartmaint/internal/notify"
)

// Notifications sends incident messages to the tenant's channels.
type Notifications struct {
	Notifier *notify.Notifier
	// MaxAttempts is how many activity attempts retry channels that failed
	// transiently before the incident moves on without them (default 5).
	MaxAttempts int32
}

// NotifyInput is one message about an incident.
type NotifyInput struct {
	TenantID   string
	IncidentID string
	AssetID    string
	// Key makes the message idempotent: per channel it is sent once.
	Key      string
	Severity string
	Subject  string
	Text     string
	// WorkOrderID, optional, adds the work order's link to the message
	// (the incident's links come from IncidentID).
	WorkOrderID string `json:",omitempty"`
}

// NotifyResult is what happened on each channel.
type NotifyResult struct {
	Key     string          `json:"key"`
	Results []notify.Result `json:"results"`
	// Skipped says why no channel got the message (see notify.Skip);
	// Severity is the message's, for Summary.
	Skipped  notify.Skip `json:"skipped,omitempty"`
	Severity string      `json:"severity,omitempty"`
}

// Summary is a one-line account for logs.
func (r NotifyResult) Summary() string {
	if len(r.Results) == 0 {
		if r.Skipped == "" { // a result recorded before Skipped existed
			return fmt.Sprintf("%s: sent to no channel", r.Key)
		}
		return fmt.Sprintf("%s: not sent, %s", r.Key, r.Skipped.Describe(notify.Severity(r.Severity)))
	}
	parts := make([]string, len(r.Results))
	for i, res := range r.Results {
		parts[i] = res.ChannelName + " " + string(res.Outcome)
		if res.Error != "" {
			parts[i] += " (" + res.Error + ")"
		}
	}
	return r.Key + ": " + strings.Join(parts, ", ")
}

// Notify delivers the message to every channel that does not have it yet.
// Transient failures fail the attempt so Temporal retries (channels that
// already got the message are skipped); after MaxAttempts, or on permanent
// failures, it returns the report so the incident goes on and the failure
// is in its history.
func (a *Notifications) Notify(ctx context.Context, in NotifyInput) (NotifyResult, error) {
	sev := notify.Severity(in.Severity)
	if !sev.Valid() {
		sev = notify.Severity("warning")
	}
	rep, err := a.Notifier.Deliver(ctx, in.TenantID, in.Key, notify.Message{
		Subject: in.Subject, Text: in.Text, Severity: sev, IncidentID: in.IncidentID,
		Links: notify.IncidentLinks(a.Notifier.PublicURL, in.IncidentID, in.WorkOrderID),
	})
	res := NotifyResult{Key: in.Key, Results: rep.Results, Skipped: rep.Skipped, Severity: string(sev)}
	if err == nil {
		if rep.Skipped != "" {
			activity.GetLogger(ctx).Info("notification sent to no channel", "key", in.Key, "tenant", in.TenantID,
				"skipped", string(rep.Skipped), "reason", rep.Skipped.Describe(sev))
		}
		return res, nil
	}
	maxAttempts := a.maxAttempts()
	if errors.Is(err, notify.ErrIncomplete) && !errors.Is(err, notify.ErrPermanent) && activity.GetInfo(ctx).Attempt < maxAttempts {
		return res, err
	}
	if !errors.Is(err, notify.ErrIncomplete) && activity.GetInfo(ctx).Attempt < maxAttempts {
		return res, err // could not even list the channels
	}
	activity.GetLogger(ctx).Warn("notification incomplete; the incident continues", "key", in.Key, "error", err)
	return res, nil
}

// EmailInput is one message to a person's email address (a technician),
// besides the tenant's channels.
type EmailInput struct {
	TenantID string
	// Key identifies the message: the same key, the same Message-ID.
	Key         string
	To          string
	Severity    string
	Subject     string
	Text        string
	IncidentID  string `json:",omitempty"`
	WorkOrderID string `json:",omitempty"`
}

// EmailResult says whether the email went.
type EmailResult struct {
	Key  string `json:"key"`
	To   string `json:"to"`
	Sent bool   `json:"sent"`
	// Error is why not (notify.Describe), empty when sent.
	Error string `json:"error,omitempty"`
}

// Summary is a one-line account for logs.
func (r EmailResult) Summary() string {
	if r.Sent {
		return fmt.Sprintf("%s: emailed to %s", r.Key, r.To)
	}
	return fmt.Sprintf("%s: not emailed to %s (%s)", r.Key, r.To, r.Error)
}

// EmailPerson sends the message to in.To by email
// (notify.Notifier.SendEmailTo). Each successful attempt is final, and the
// workflow runs it once per message; a transient failure fails the attempt
// so Temporal retries (with the same Message-ID), up to MaxAttempts, after
// which — or on a permanent failure — it returns the failure in the result
// so the workflow goes on.
func (a *Notifications) EmailPerson(ctx context.Context, in EmailInput) (EmailResult, error) {
	sev := notify.Severity(in.Severity)
	if !sev.Valid() {
		sev = notify.Severity("warning")
	}
	attempt := activity.GetInfo(ctx).Attempt
	err := a.Notifier.SendEmailTo(ctx, in.TenantID, in.Key, in.To, int(attempt), notify.Message{
		Subject: in.Subject, Text: in.Text, Severity: sev, IncidentID: in.IncidentID,
		Links: notify.IncidentLinks(a.Notifier.PublicURL, in.IncidentID, in.WorkOrderID),
	})
	res := EmailResult{Key: in.Key, To: in.To, Sent: err == nil}
	if err == nil {
		return res, nil
	}
	res.Error = notify.Describe(err)
	if !errors.Is(err, notify.ErrPermanent) && attempt < a.maxAttempts() {
		return res, err
	}
	activity.GetLogger(ctx).Warn("email not sent; the incident continues", "key", in.Key, "error", err)
	return res, nil
}

// maxAttempts is MaxAttempts or its default.
func (a *Notifications) maxAttempts() int32 {
	if a.MaxAttempts <= 0 {
		return 5
	}
	return a.MaxAttempts
}
