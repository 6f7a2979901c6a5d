package maintenance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// The technician notices. Each is written as an EventNotice event in the
// transaction that changes the booking, and delivered later by a
// NoticeSender (an outbox on work_order_events).
const (
	// NoticeAssigned: the work order was booked on the technician.
	NoticeAssigned = "assigned"
	// NoticeReassigned: the technician's work order moved to another slot
	// of theirs, or came to them from another technician.
	NoticeReassigned = "reassigned"
	// NoticeUnassigned: the work order was taken off the technician.
	NoticeUnassigned = "unassigned"
	// NoticeCancelled: the technician's work order was cancelled.
	NoticeCancelled = "cancelled"
)

// The outbox events on work_order_events.
const (
	// EventNotice is a technician notice to deliver (details: Notice).
	EventNotice = "technician_notice"
	// EventNoticeSent records a notice's delivery (details "key").
	EventNoticeSent = "technician_notice_sent"
	// EventNoticeFailed records a failed delivery attempt (details "key",
	// "error", "email_sent").
	EventNoticeFailed = "technician_notice_failed"
)

// Notice is one message to a technician about one of their work orders.
type Notice struct {
	// Key is <work order>/<notice>/<technician>/v<generation>: the
	// generation counts the work order's booking changes, so the same
	// change told again (a retry, a re-run) has the same key.
	Key             string             `json:"key"`
	Notice          string             `json:"notice"`
	TechnicianID    string             `json:"technician_id"`
	TechnicianName  string             `json:"technician_name,omitempty"`
	TechnicianEmail string             `json:"technician_email,omitempty"`
	IncidentID      string             `json:"incident_id,omitempty"`
	Priority        workorder.Priority `json:"priority"`
	Subject         string             `json:"subject"`
	Text            string             `json:"text"`
	// Generation is the booking change it tells of.
	Generation int `json:"generation"`
}

// booking is where a work order is held: by whom and when.
type booking struct {
	tech       string
	start, end time.Time
}

func bookingOf(w WorkOrder) *booking {
	if w.TechnicianID == "" || w.ScheduledStart == nil || w.ScheduledEnd == nil {
		return nil
	}
	return &booking{tech: w.TechnicianID, start: *w.ScheduledStart, end: *w.ScheduledEnd}
}

func (b *booking) same(o *booking) bool {
	if b == nil || o == nil {
		return b == o
	}
	return b.tech == o.tech && b.start.Equal(o.start) && b.end.Equal(o.end)
}

// noticeOpts tunes noteBookingChange.
type noticeOpts struct {
	// oldToldElsewhere: the technician who lost the slot is told by
	// someone else (the incident workflow's displaced notice).
	oldToldElsewhere bool
}

// noteBookingChange writes the technician notices for work order w going
// from booking before (nil: unassigned) to its current state in tx: the
// new technician is told of an assignment, the old one of losing it, one
// technician keeping it at another slot of a reassignment, the holder of
// a cancelled work order of the cancellation. Nothing when nothing a
// technician cares about changed. The caller holds w's row lock.
func noteBookingChange(ctx context.Context, tx pgx.Tx, tenant string, before *booking, w WorkOrder, o noticeOpts) error {
	after := bookingOf(w)
	type tell struct {
		notice string
		b      *booking
	}
	var tells []tell
	switch {
	case w.Status == workorder.Cancelled:
		if before != nil {
			tells = append(tells, tell{NoticeCancelled, before})
		}
	case before.same(after):
	case before == nil:
		tells = append(tells, tell{NoticeAssigned, after})
	case after == nil:
		if !o.oldToldElsewhere {
			tells = append(tells, tell{NoticeUnassigned, before})
		}
	case before.tech == after.tech:
		if !o.oldToldElsewhere {
			tells = append(tells, tell{NoticeReassigned, after})
		}
	default:
		tells = append(tells, tell{NoticeReassigned, after})
		if !o.oldToldElsewhere {
			tells = append(tells, tell{NoticeUnassigned, before})
		}
	}
	if len(tells) == 0 {
		return nil
	}
	var gen int
	if err := tx.QueryRow(ctx, `
		SELECT coalesce(max((details->>'generation')::int), 0) + 1 FROM work_order_events
		WHERE work_order_id = $1 AND event = $2`, w.ID, EventNotice).Scan(&gen); err != nil {
		return err
	}
	var asset string
	if err := tx.QueryRow(ctx, `SELECT coalesce(nullif(name, ''), id) FROM assets WHERE id = $1`, w.AssetID).Scan(&asset); err != nil {
		asset = w.AssetID
	}
	for _, t := range tells {
		n := Notice{
			Key:    fmt.Sprintf("%s/%s/%s/v%d", w.ID, t.notice, t.b.tech, gen),
			Notice: t.notice, TechnicianID: t.b.tech, IncidentID: w.IncidentID, Priority: w.Priority, Generation: gen,
		}
		if err := tx.QueryRow(ctx, `SELECT name, coalesce(email, '') FROM technicians WHERE id = $1`, t.b.tech).
			Scan(&n.TechnicianName, &n.TechnicianEmail); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		n.Subject, n.Text = noticeText(t.notice, n.TechnicianName, asset, w, t.b)
		details := map[string]any{}
		raw, _ := json.Marshal(n)
		if err := json.Unmarshal(raw, &details); err != nil {
			return err
		}
		if err := addWorkOrderEvent(ctx, tx, tenant, w.ID, time.Now(), EventNotice, n.Subject, details); err != nil {
			return err
		}
	}
	return nil
}

// noticeText is a notice's subject and text: what happened, the slot, the
// asset, the priority and the deadline.
func noticeText(notice, name, asset string, w WorkOrder, b *booking) (subject, text string) {
	what := map[string]string{
		NoticeAssigned:   "assigned to you",
		NoticeReassigned: "moved to a new slot of yours",
		NoticeUnassigned: "taken off your schedule",
		NoticeCancelled:  "cancelled",
	}[notice]
	subject = fmt.Sprintf("[%s] work order %q %s for %s", w.Priority, w.Title, what, asset)
	var sb strings.Builder
	if name != "" {
		fmt.Fprintf(&sb, "%s,\n\n", name)
	}
	fmt.Fprintf(&sb, "Work order %q on %s is %s.\n", w.Title, asset, what)
	label := "Slot"
	if notice == NoticeUnassigned || notice == NoticeCancelled {
		label = "Former slot"
	}
	fmt.Fprintf(&sb, "%s: %s to %s (UTC)\n", label, b.start.UTC().Format("Mon 2006-01-02 15:04"), b.end.UTC().Format("15:04"))
	fmt.Fprintf(&sb, "Priority: %s\n", w.Priority)
	if w.Deadline != nil {
		fmt.Fprintf(&sb, "Deadline: %s\n", w.Deadline.UTC().Format("Mon 2006-01-02 15:04 UTC"))
	}
	fmt.Fprintf(&sb, "Work order: %s\n", w.ID)
	return subject, sb.String()
}

// PendingNotice is a notice not yet delivered, with its delivery record.
type PendingNotice struct {
	TenantID    string
	WorkOrderID string
	Notice      Notice
	// Attempts counts the failed deliveries; LastFailed is the last one's
	// time; EmailSent is set once the email went (it is not sent again).
	Attempts   int
	LastFailed time.Time
	EmailSent  bool
}

// noticeWindow bounds how far back PendingNotices looks: the retries of a
// notice (MaxAttempts with doubling backoff) end well within it, and the
// outbox scan does not grow with the history.
const noticeWindow = "2 days"

// PendingNotices lists up to limit undelivered notices of every tenant
// written within noticeWindow, oldest first (owner role, for the
// NoticeSender).
func (s *Store) PendingNotices(ctx context.Context, limit int) ([]PendingNotice, error) {
	rows, err := s.DB.Pool.Query(ctx, `
		SELECT n.tenant_id, n.work_order_id::text, n.details,
		       count(f.id)::int, coalesce(max(f.at), 'epoch'::timestamptz), coalesce(bool_or((f.details->>'email_sent')::bool), false)
		FROM work_order_events n
		LEFT JOIN work_order_events f ON f.tenant_id = n.tenant_id AND f.work_order_id = n.work_order_id
		     AND f.event = $2 AND f.details->>'key' = n.details->>'key'
		WHERE n.event = $1 AND n.at > now() - $5::interval AND NOT EXISTS (
			SELECT 1 FROM work_order_events d WHERE d.tenant_id = n.tenant_id AND d.work_order_id = n.work_order_id
			AND d.event = $3 AND d.details->>'key' = n.details->>'key')
		GROUP BY n.tenant_id, n.id, n.work_order_id, n.details
		ORDER BY n.id
		LIMIT $4`, EventNotice, EventNoticeFailed, EventNoticeSent, limit, noticeWindow)
	if err != nil {
		return nil, fmt.Errorf("store: pending technician notices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (PendingNotice, error) {
		var p PendingNotice
		var details []byte
		if err := r.Scan(&p.TenantID, &p.WorkOrderID, &details, &p.Attempts, &p.LastFailed, &p.EmailSent); err != nil {
			return p, err
		}
		return p, json.Unmarshal(details, &p.Notice)
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending technician notices: %w", err)
	}
	return out, nil
}

// recordNotice writes a delivery outcome of p: sent, or failed with err.
func (s *Store) recordNotice(ctx context.Context, p PendingNotice, err error, emailSent bool) error {
	event, message := EventNoticeSent, "told "+p.Notice.TechnicianName
	details := map[string]any{"key": p.Notice.Key, "email_sent": emailSent}
	if err != nil {
		event, message = EventNoticeFailed, "telling "+p.Notice.TechnicianName+" failed: "+notify.Describe(err)
		details["error"] = err.Error()
	}
	_, execErr := s.DB.Pool.Exec(ctx, `
		INSERT INTO work_order_events (tenant_id, work_order_id, at, event, message, details) VALUES ($1, $2, now(), $3, $4, $5)`,
		p.TenantID, p.WorkOrderID, event, message, details)
	if execErr != nil {
		return fmt.Errorf("store: record technician notice %s: %w", p.Notice.Key, execErr)
	}
	return nil
}

// NoticeSender delivers the pending technician notices: each to the
// tenant's channels (notify.Notifier.Deliver, once per channel by the
// delivery log, key "technician/<notice key>") and, when the technician
// has an address, by email (SendEmailTo, one Message-ID per key). A
// delivery is recorded after it succeeds, so delivery is at least once; a
// crash between the send and the record repeats it, which the channel
// delivery log and the Message-ID absorb. A failure is recorded and tried
// again after a backoff, until MaxAttempts; a permanent one (notify.
// ErrPermanent) ends it.
type NoticeSender struct {
	Store    *Store
	Notifier *notify.Notifier
	// Backoff is the wait after the first failure, doubling after each
	// (default 30s); MaxAttempts bounds the attempts (default 10).
	Backoff     time.Duration
	MaxAttempts int
	Log         *slog.Logger
}

// noticeLock is the advisory lock one sweep holds, so concurrent senders
// (several workers) do not deliver the same notice at once.
const noticeLock = 0x736d6e74 // "smnt"

// SendPending delivers the notices that are due at now; it returns how
// many it delivered. When another sender is sweeping it does nothing.
func (s *NoticeSender) SendPending(ctx context.Context, now time.Time) (int, error) {
	conn, err := s.Store.DB.Pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("technician notices: %w", err)
	}
	defer conn.Release()
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, noticeLock).Scan(&locked); err != nil || !locked {
		return 0, err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, noticeLock) //nolint:errcheck
	pending, err := s.Store.PendingNotices(ctx, 200)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, p := range pending {
		if p.Attempts > 0 && now.Before(p.LastFailed.Add(s.backoff(p.Attempts))) {
			continue
		}
		emailSent, err := s.send(ctx, p)
		if err != nil && (errors.Is(err, notify.ErrPermanent) || p.Attempts+1 >= s.maxAttempts()) {
			s.log().Warn("technician notice given up", "key", p.Notice.Key, "tenant", p.TenantID, "error", err)
			err = nil // recorded as sent: nothing more will help
		}
		if rerr := s.Store.recordNotice(ctx, p, err, emailSent); rerr != nil {
			return sent, rerr
		}
		if err == nil {
			sent++
		}
	}
	return sent, nil
}

// send delivers p to the channels and, unless it already went, by email.
func (s *NoticeSender) send(ctx context.Context, p PendingNotice) (emailSent bool, err error) {
	n := p.Notice
	msg := notify.Message{
		Subject: n.Subject, Text: n.Text, Severity: severityOf(n.Priority), IncidentID: n.IncidentID,
		Links: notify.IncidentLinks(s.Notifier.PublicURL, n.IncidentID, p.WorkOrderID),
	}
	emailSent = p.EmailSent
	var errs []error
	if n.TechnicianEmail != "" && !emailSent {
		err := s.Notifier.SendEmailTo(ctx, p.TenantID, n.Key, n.TechnicianEmail, p.Attempts+1, msg)
		emailSent = err == nil || errors.Is(err, notify.ErrPermanent)
		if err != nil && !errors.Is(err, notify.ErrPermanent) {
			errs = append(errs, err)
		}
	}
	if _, err := s.Notifier.Deliver(ctx, p.TenantID, "technician/"+n.Key, msg); err != nil {
		errs = append(errs, err)
	}
	return emailSent, errors.Join(errs...)
}

// Run sends the pending notices every interval until ctx ends.
func (s *NoticeSender) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.SendPending(ctx, time.Now()); err != nil && ctx.Err() == nil {
			s.log().Warn("send technician notices", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *NoticeSender) backoff(attempts int) time.Duration {
	b := s.Backoff
	if b <= 0 {
		b = 30 * time.Second
	}
	return b << min(attempts-1, 10)
}

func (s *NoticeSender) maxAttempts() int {
	if s.MaxAttempts <= 0 {
		return 10
	}
	return s.MaxAttempts
}

func (s *NoticeSender) log() *slog.Logger {
	if s.Log == nil {
		return slog.Default()
	}
	return s.Log
}

// severityOf is the notice severity of a work order of priority p: a
// channel's minimum severity filters technician notices as it does
// incident ones.
func severityOf(p workorder.Priority) notify.Severity {
	switch p {
	case workorder.Critical:
		return notify.SeverityCritical
	case workorder.High:
		return notify.SeverityMajor
	case workorder.Low:
		return notify.SeverityInfo
	}
	return notify.SeverityMinor
}
