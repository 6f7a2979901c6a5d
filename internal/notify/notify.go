// Package notify sends smartmaint's notifications to each tenant's channels:
// email over SMTP, webhooks signed with HMAC-SHA256, and Slack-compatible
// incoming webhooks.
//
// Deliver is idempotent per (tenant, idempotency key, channel): before a
// send it claims a row of the delivery log as "sending", after it marks the
// row "sent" or "failed". A retried call skips channels that already got the
// message, retries those that failed, and leaves alone those another caller
// is sending right now. A sender that crashes between sending and recording
// leaves its row "sending"; once that is older than StaleAfter, a retry
// sends again, with the same delivery id (the X-Smartmaint-Delivery header,
// the email's Message-ID) so receivers can drop the duplicate. Delivery is
// therefore at least once, and exactly once for receivers that dedupe.
package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Severity ranks messages; channels drop messages below their minimum.
type Severity string

// The severities, lowest first. Incident severities follow alarm-system
// practice (warning, minor, major, critical); info is for notices such as a
// promoted model.
const (
	SeverityInfo     Severity = "info"
	SeverityWarning  Severity = "warning"
	SeverityMinor    Severity = "minor"
	SeverityMajor    Severity = "major"
	SeverityCritical Severity = "critical"
)

// Severities lists every severity, lowest first.
var Severities = []Severity{SeverityInfo, SeverityWarning, SeverityMinor, SeverityMajor, SeverityCritical}

// Rank orders severities: info 0 up to critical 4; unknown ones rank -1.
func (s Severity) Rank() int { return slices.Index(Severities, s) }

// Valid reports whether s is a known severity.
func (s Severity) Valid() bool { return s.Rank() >= 0 }

// Link is a labelled URL shown with a message (the incident page, a
// dashboard, the work order).
type Link struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Message is a notification, independent of the channel it goes to.
type Message struct {
	Subject string `json:"subject"`
	// Text is the plain-text body.
	Text string `json:"text"`
	// HTML is an optional HTML body for email.
	HTML       string   `json:"html,omitempty"`
	Severity   Severity `json:"severity"`
	Links      []Link   `json:"links,omitempty"`
	IncidentID string   `json:"incident_id,omitempty"`
}

// Delivery identifies one message on one channel to a sender.
type Delivery struct {
	// ID is the same on every attempt; receivers dedupe on it.
	ID string
	// Key is the message's idempotency key.
	Key    string
	Tenant string
	// Attempt counts from 1.
	Attempt int
}

// Sender sends a message on one kind of channel.
type Sender interface {
	Send(ctx context.Context, ch store.Channel, d Delivery, m Message) error
}

// ErrPermanent marks failures a retry cannot fix (the receiver rejected the
// request, the channel is misconfigured).
var ErrPermanent = errors.New("permanent failure")

// permanent wraps err so that errors.Is(err, ErrPermanent) holds.
func permanent(err error) error {
	return fmt.Errorf("%w (%w)", err, ErrPermanent)
}

// DefaultStaleAfter is how long a "sending" delivery is left to its sender
// before a retry takes it over.
const DefaultStaleAfter = 5 * time.Minute

// Notifier delivers messages to a tenant's enabled channels.
type Notifier struct {
	DB *store.DB
	// Senders by channel kind: "email", "webhook", "slack".
	Senders map[string]Sender
	// StaleAfter: see DefaultStaleAfter.
	StaleAfter time.Duration
	// PublicURL is where people reach smartmaint's API and operator page
	// (PUBLIC_URL, no trailing slash); messages link there. Empty: no
	// links.
	PublicURL string
	Log       *slog.Logger
}

// Config holds what the senders need from the environment.
type Config struct {
	SMTP SMTPConfig
	// HTTPTimeout bounds one webhook or Slack request (default 10s).
	HTTPTimeout time.Duration
	// DenyNetworks are never dialled by webhook and Slack requests; nil is
	// DefaultDeniedNetworks, an empty non-nil slice denies nothing.
	DenyNetworks []netip.Prefix
	// PublicURL: see Notifier.PublicURL.
	PublicURL string
}

// New returns a Notifier with the email, webhook and Slack senders.
func New(db *store.DB, cfg Config, log *slog.Logger) *Notifier {
	timeout := cfg.HTTPTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deny := cfg.DenyNetworks
	if deny == nil {
		deny = DefaultDeniedNetworks
	}
	client := NewHTTPClient(timeout, deny)
	return &Notifier{
		DB: db,
		Senders: map[string]Sender{
			"email":   &Email{Config: cfg.SMTP},
			"webhook": &Webhook{Client: client},
			"slack":   &Slack{Client: client},
		},
		PublicURL: strings.TrimRight(cfg.PublicURL, "/"),
		Log:       log,
	}
}

// IncidentLinks are the links of a message about incident (and its work
// order, when workOrder is not empty) under base: the operator page's card
// of the incident, the incident in the API, and the work order in the API.
// Empty base or incident: no links for what they would name.
func IncidentLinks(base, incident, workOrder string) []Link {
	base = strings.TrimRight(base, "/")
	if base == "" {
		return nil
	}
	var out []Link
	if incident != "" {
		id := url.PathEscape(incident)
		out = append(out,
			Link{Title: "Incident", URL: base + "/ui/#incident-" + id},
			Link{Title: "Incident (API)", URL: base + "/api/v1/incidents/" + id})
	}
	if workOrder != "" {
		out = append(out, Link{Title: "Work order (API)", URL: base + "/api/v1/work-orders/" + url.PathEscape(workOrder)})
	}
	return out
}

// Outcome is what happened to a message on one channel.
type Outcome string

// The outcomes.
const (
	// Sent: sent by this call.
	Sent Outcome = "sent"
	// AlreadySent: an earlier call sent it; nothing was sent now.
	AlreadySent Outcome = "already_sent"
	// InProgress: another caller is sending it right now; retry later.
	InProgress Outcome = "in_progress"
	// Failed: the send (or its bookkeeping) failed; see Error.
	Failed Outcome = "failed"
)

// Result is the outcome of a message on one channel.
type Result struct {
	ChannelID   string  `json:"channel_id"`
	ChannelName string  `json:"channel_name"`
	Kind        string  `json:"kind"`
	DeliveryID  string  `json:"delivery_id,omitempty"`
	Outcome     Outcome `json:"outcome"`
	Attempts    int     `json:"attempts,omitempty"`
	Error       string  `json:"error,omitempty"`
	// Permanent is true when retrying cannot help.
	Permanent bool `json:"permanent,omitempty"`
}

// Report lists the outcome on every channel the message was for.
type Report struct {
	Results []Result `json:"results"`
	// Skipped says why Results is empty: the tenant has no channels, none
	// is enabled, or none takes the message's severity. It is empty
	// whenever some channel took the message.
	Skipped Skip `json:"skipped,omitempty"`
}

// Skip is why a message went to no channel at all.
type Skip string

// The reasons a message went nowhere.
const (
	// NoChannels: the tenant has no notification channels.
	NoChannels Skip = "no_channels"
	// NoneEnabled: the tenant's channels are all disabled.
	NoneEnabled Skip = "no_enabled_channels"
	// BelowSeverity: every enabled channel's minimum severity is above the
	// message's.
	BelowSeverity Skip = "below_min_severity"
)

// Describe is a sentence for logs and events, naming sev when the
// channels' minimum severity was the reason.
func (s Skip) Describe(sev Severity) string {
	switch s {
	case NoChannels:
		return "the tenant has no notification channels"
	case NoneEnabled:
		return "the tenant's notification channels are all disabled"
	case BelowSeverity:
		return fmt.Sprintf("no enabled channel takes severity %s (each has a higher min_severity)", sev)
	}
	return string(s)
}

// Done reports whether every channel has the message.
func (r Report) Done() bool {
	for _, res := range r.Results {
		if res.Outcome != Sent && res.Outcome != AlreadySent {
			return false
		}
	}
	return true
}

// Retryable reports whether a retry could deliver to a channel that does
// not have the message yet.
func (r Report) Retryable() bool {
	for _, res := range r.Results {
		if res.Outcome == InProgress || (res.Outcome == Failed && !res.Permanent) {
			return true
		}
	}
	return false
}

// ErrIncomplete is wrapped by Deliver's error when some channel did not get
// the message.
var ErrIncomplete = errors.New("notify: message not delivered to every channel")

// Deliver sends msg to every enabled channel of tenant whose minimum
// severity it reaches, all channels at once, and reports each outcome. key
// identifies the message: calling again with the same key sends only where
// the message has not gone yet. The error is non-nil when some channel does
// not have the message (it wraps ErrIncomplete, and ErrPermanent when no
// retry can help); the Report is complete either way.
func (n *Notifier) Deliver(ctx context.Context, tenant, key string, msg Message) (Report, error) {
	if key == "" {
		return Report{}, fmt.Errorf("notify: empty idempotency key")
	}
	if !msg.Severity.Valid() {
		return Report{}, fmt.Errorf("notify: unknown severity %q (want one of %v)", msg.Severity, Severities)
	}
	all, err := n.DB.ListChannels(ctx, tenant, false)
	if err != nil {
		return Report{}, fmt.Errorf("notify: %w", err)
	}
	channels := slices.DeleteFunc(slices.Clone(all), func(c store.Channel) bool { return !c.Enabled })
	enabled := len(channels)
	channels = slices.DeleteFunc(channels, func(c store.Channel) bool {
		return msg.Severity.Rank() < Severity(c.MinSeverity).Rank()
	})
	rep := Report{Results: make([]Result, len(channels))}
	switch {
	case len(all) == 0:
		rep.Skipped = NoChannels
	case enabled == 0:
		rep.Skipped = NoneEnabled
	case len(channels) == 0:
		rep.Skipped = BelowSeverity
	}
	var wg sync.WaitGroup
	for i, ch := range channels {
		wg.Go(func() { rep.Results[i] = n.deliverOne(ctx, tenant, key, ch, msg) })
	}
	wg.Wait()

	var failed []string
	retryable := false
	for _, r := range rep.Results {
		if r.Outcome == Sent || r.Outcome == AlreadySent {
			continue
		}
		failed = append(failed, fmt.Sprintf("%s (%s): %s", r.ChannelName, r.Outcome, r.Error))
		retryable = retryable || !r.Permanent
	}
	switch {
	case len(failed) == 0:
		return rep, nil
	case retryable:
		return rep, fmt.Errorf("%w: %s", ErrIncomplete, strings.Join(failed, "; "))
	default:
		return rep, fmt.Errorf("%w: %s: %w", ErrIncomplete, strings.Join(failed, "; "), ErrPermanent)
	}
}

func (n *Notifier) deliverOne(ctx context.Context, tenant, key string, ch store.Channel, msg Message) Result {
	res := Result{ChannelID: ch.ID, ChannelName: ch.Name, Kind: ch.Kind}
	stale := n.StaleAfter
	if stale <= 0 {
		stale = DefaultStaleAfter
	}
	d, claimed, err := n.DB.ClaimDelivery(ctx, tenant, key, ch.ID, stale)
	if err != nil {
		res.Outcome, res.Error = Failed, err.Error()
		return res
	}
	res.DeliveryID, res.Attempts = d.DeliveryID, d.Attempts
	if !claimed {
		res.Outcome = AlreadySent
		if d.Status != store.DeliverySent {
			res.Outcome = InProgress
			res.Error = fmt.Sprintf("another attempt claimed it at %s; it is taken over after %s", d.ClaimedAt.UTC().Format(time.RFC3339), stale)
		}
		return res
	}

	sender, ok := n.Senders[ch.Kind]
	if !ok {
		err = permanent(fmt.Errorf("no sender for channel kind %q", ch.Kind))
	} else {
		err = sender.Send(ctx, ch, Delivery{ID: d.DeliveryID, Key: key, Tenant: tenant, Attempt: d.Attempts}, msg)
	}
	// Record the outcome even when ctx is done: the send has happened.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err != nil && n.Log != nil {
		n.Log.InfoContext(ctx, "notify: send failed", "tenant", tenant, "channel", ch.ID, "key", key, "error", err)
	}
	// The log and the result keep to the outcome (Describe): a webhook's
	// answer may be another service's error page.
	if ferr := n.DB.FinishDelivery(recordCtx, tenant, key, ch.ID, described(err)); ferr != nil && n.Log != nil {
		// The row stays "sending": after StaleAfter a retry sends again,
		// with the same delivery id.
		n.Log.WarnContext(ctx, "notify: could not record a delivery", "channel", ch.ID, "key", key, "send_error", err, "error", ferr)
	}
	if err != nil {
		res.Outcome, res.Error, res.Permanent = Failed, Describe(err), errors.Is(err, ErrPermanent)
		return res
	}
	res.Outcome = Sent
	return res
}

// SendTest sends a test message on ch right away, outside the delivery log
// (every call sends), so operators can check a channel's settings. A
// failure is reported as Describe puts it: the status class or the kind of
// transport failure, never what the target answered.
func (n *Notifier) SendTest(ctx context.Context, tenant string, ch store.Channel) Result {
	res := Result{ChannelID: ch.ID, ChannelName: ch.Name, Kind: ch.Kind, Outcome: Sent, Attempts: 1}
	d := Delivery{ID: "test-" + strconv.FormatInt(time.Now().UnixNano(), 36), Key: "test", Tenant: tenant, Attempt: 1}
	msg := Message{
		Subject:  "smartmaint test notification",
		Text:     fmt.Sprintf("This is a test of the notification channel %q of tenant %s. No action is needed.", ch.Name, tenant),
		Severity: SeverityInfo,
	}
	res.DeliveryID = d.ID
	sender, ok := n.Senders[ch.Kind]
	if !ok {
		res.Outcome, res.Error, res.Permanent = Failed, fmt.Sprintf("no sender for channel kind %q", ch.Kind), true
		return res
	}
	if err := sender.Send(ctx, ch, d, msg); err != nil {
		if n.Log != nil {
			n.Log.InfoContext(ctx, "notify: test message failed", "tenant", tenant, "channel", ch.ID, "error", err)
		}
		res.Outcome, res.Error, res.Permanent = Failed, Describe(err), errors.Is(err, ErrPermanent)
	}
	return res
}
