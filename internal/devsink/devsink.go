// Package devsink is the local mail sink and webhook receiver of
// `smartmaint dev`: an SMTP server and an HTTP endpoint on loopback that
// keep what smartmaint's notifications send them, so a developer sees every
// message (subject, recipients or URL, time, body, links) without a real
// relay or receiver. Webhook requests are accepted only with a valid
// signature (notify.VerifyRequest) and deduplicated on their delivery id,
// as a real receiver should.
//
// Messages are kept in memory and, when Options.Dir is set, as one JSON
// file each in that folder, the newest Options.Keep of them; ReadDir reads
// the folder without a running sink. The HTTP server also serves a page
// listing them (/) and the same list as JSON (/messages).
package devsink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smartmaint/smartmaint/internal/notify"
)

// Kinds of entries.
const (
	KindEmail   = "email"
	KindWebhook = "webhook"
)

// Entry is one message the sink received.
type Entry struct {
	// Seq numbers entries in the order they arrived, across restarts.
	Seq      int64     `json:"seq"`
	Kind     string    `json:"kind"`
	Received time.Time `json:"received"`
	Subject  string    `json:"subject"`
	// From and To are an email's envelope sender and recipients.
	From string   `json:"from,omitempty"`
	To   []string `json:"to,omitempty"`
	// URL is where a webhook request was received.
	URL        string `json:"url,omitempty"`
	DeliveryID string `json:"delivery_id,omitempty"`
	Severity   string `json:"severity,omitempty"`
	IncidentID string `json:"incident_id,omitempty"`
	// Text and HTML are the decoded bodies.
	Text  string        `json:"text"`
	HTML  string        `json:"html,omitempty"`
	Links []notify.Link `json:"links,omitempty"`
	// Verified is true for webhook requests whose signature matched.
	Verified bool `json:"verified,omitempty"`
}

// Options configure a sink. An empty SMTPAddr or HTTPAddr leaves that
// side off; "127.0.0.1:0" picks a free port.
type Options struct {
	SMTPAddr string
	HTTPAddr string
	// Dir keeps entries on disk; empty keeps them in memory only.
	Dir string
	// Keep bounds the entries kept (default 200).
	Keep int
	// WebhookSecret is the HMAC key webhook requests must be signed with.
	WebhookSecret string
	// MaxMessageBytes bounds one email or webhook body (default 1 MiB).
	MaxMessageBytes int64
	Log             *slog.Logger
}

// Sink is a running mail sink and webhook receiver.
type Sink struct {
	o        Options
	smtpAddr string
	httpAddr string
	smtp     *smtp.Server
	http     *http.Server

	mu      sync.Mutex
	entries []Entry // oldest first
	seq     int64
	changed chan struct{}
}

// Start listens on o's addresses, loads the entries kept in o.Dir and
// serves until Close.
func Start(o Options) (*Sink, error) {
	if o.Keep <= 0 {
		o.Keep = 200
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 1 << 20
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{o: o, changed: make(chan struct{})}
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("devsink: %w", err)
		}
		kept, err := ReadDir(o.Dir)
		if err != nil {
			return nil, err
		}
		s.entries = kept
		if n := len(kept); n > 0 {
			s.seq = kept[n-1].Seq
		}
		s.trimLocked()
	}
	if o.SMTPAddr != "" {
		ln, err := net.Listen("tcp", o.SMTPAddr)
		if err != nil {
			return nil, fmt.Errorf("devsink: mail sink on %s: %w", o.SMTPAddr, err)
		}
		s.smtpAddr = ln.Addr().String()
		s.smtp = smtp.NewServer(backend{s})
		s.smtp.Domain = "localhost"
		s.smtp.MaxMessageBytes = o.MaxMessageBytes
		s.smtp.MaxRecipients = 100
		s.smtp.ReadTimeout, s.smtp.WriteTimeout = 30*time.Second, 30*time.Second
		go s.smtp.Serve(ln)
	}
	if o.HTTPAddr != "" {
		ln, err := net.Listen("tcp", o.HTTPAddr)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("devsink: webhook receiver on %s: %w", o.HTTPAddr, err)
		}
		s.httpAddr = ln.Addr().String()
		s.http = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go s.http.Serve(ln)
	}
	return s, nil
}

// SMTPAddr is the mail sink's host:port ("" when off).
func (s *Sink) SMTPAddr() string { return s.smtpAddr }

// URL is the base URL of the page and the receiver ("" when off).
func (s *Sink) URL() string {
	if s.httpAddr == "" {
		return ""
	}
	return "http://" + s.httpAddr
}

// WebhookURL is where webhook channels should post ("" when off).
func (s *Sink) WebhookURL() string {
	if s.httpAddr == "" {
		return ""
	}
	return s.URL() + "/webhook"
}

// WebhookSecret is the key webhook requests must be signed with.
func (s *Sink) WebhookSecret() string { return s.o.WebhookSecret }

// Close stops both servers; entries on disk stay.
func (s *Sink) Close() error {
	var errs []error
	if s.smtp != nil {
		errs = append(errs, s.smtp.Close())
	}
	if s.http != nil {
		errs = append(errs, s.http.Close())
	}
	return errors.Join(errs...)
}

// Entries returns what arrived, oldest first.
func (s *Sink) Entries() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.entries)
}

// Wait blocks until ok accepts the entries (oldest first) or ctx is done,
// and returns the entries it saw last.
func (s *Sink) Wait(ctx context.Context, ok func([]Entry) bool) ([]Entry, error) {
	for {
		s.mu.Lock()
		entries, changed := slices.Clone(s.entries), s.changed
		s.mu.Unlock()
		if ok(entries) {
			return entries, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return entries, ctx.Err()
		}
	}
}

// add records e, writing it to disk and dropping the oldest beyond Keep.
// A webhook whose delivery id is already there is not added again.
func (s *Sink) add(e Entry) (added bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.Kind == KindWebhook && e.DeliveryID != "" && slices.ContainsFunc(s.entries, func(o Entry) bool {
		return o.Kind == KindWebhook && o.DeliveryID == e.DeliveryID && o.URL == e.URL
	}) {
		return false
	}
	s.seq++
	e.Seq = s.seq
	s.entries = append(s.entries, e)
	if s.o.Dir != "" {
		if err := writeEntry(s.o.Dir, e); err != nil {
			s.o.Log.Warn("devsink: could not keep a message on disk", "error", err)
		}
	}
	s.trimLocked()
	close(s.changed)
	s.changed = make(chan struct{})
	s.o.Log.Info("devsink: received", "kind", e.Kind, "subject", e.Subject, "to", strings.Join(e.To, ","), "url", e.URL)
	return true
}

func (s *Sink) trimLocked() {
	n := len(s.entries) - s.o.Keep
	if n <= 0 {
		return
	}
	if s.o.Dir != "" {
		for _, e := range s.entries[:n] {
			if err := os.Remove(filepath.Join(s.o.Dir, fileName(e.Seq))); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.o.Log.Warn("devsink: could not delete an old message", "error", err)
			}
		}
	}
	s.entries = slices.Delete(s.entries, 0, n)
}

func fileName(seq int64) string { return fmt.Sprintf("%012d.json", seq) }

// writeEntry writes e atomically (a temporary file renamed into place).
func writeEntry(dir string, e Entry) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, fileName(e.Seq)))
}

var entryFile = regexp.MustCompile(`^[0-9]{12}\.json$`)

// ReadDir reads the entries a sink keeps in dir, oldest first. A missing
// folder has none.
func ReadDir(dir string) ([]Entry, error) {
	files, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("devsink: %w", err)
	}
	var out []Entry
	for _, f := range files {
		if f.IsDir() || !entryFile.MatchString(f.Name()) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, f.Name()))
		if err != nil {
			return nil, fmt.Errorf("devsink: %w", err)
		}
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("devsink: %s: %w", f.Name(), err)
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b Entry) int { return int(a.Seq - b.Seq) })
	return out, nil
}

// SMTP side.

type backend struct{ s *Sink }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{s: b.s}, nil }

type session struct {
	s    *Sink
	from string
	to   []string
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	e, err := ParseEmail(data)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	e.From, e.To, e.Received = ss.from, slices.Clone(ss.to), time.Now().UTC()
	ss.s.add(e)
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// linkLine is how notify's plain-text email lists a link: "Title: URL".
var linkLine = regexp.MustCompile(`(?m)^([^:\r\n]+): (https?://\S+)\r?$`)

// ParseEmail decodes an email as notify composes it: the subject, the
// smartmaint headers, the text and HTML bodies (quoted-printable or not,
// single part or multipart/alternative) and the links listed at the end of
// the text.
func ParseEmail(data []byte) (Entry, error) {
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		return Entry{}, fmt.Errorf("devsink: not an email: %w", err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	e := Entry{Kind: KindEmail, Subject: subject, DeliveryID: m.Header.Get(notify.DeliveryHeader),
		Severity: m.Header.Get("X-Smartmaint-Severity"), IncidentID: m.Header.Get("X-Smartmaint-Incident")}
	if err := readBody(&e, m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body); err != nil {
		return Entry{}, err
	}
	for _, l := range linkLine.FindAllStringSubmatch(e.Text, -1) {
		e.Links = append(e.Links, notify.Link{Title: strings.TrimSpace(l[1]), URL: l[2]})
	}
	return e, nil
}

func readBody(e *Entry, ctype, encoding string, body io.Reader) error {
	mediaType, params, err := mime.ParseMediaType(ctype)
	if ctype == "" {
		mediaType, err = "text/plain", nil
	}
	if err != nil {
		return fmt.Errorf("devsink: Content-Type %q: %w", ctype, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart() // decodes quoted-printable itself
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("devsink: multipart body: %w", err)
			}
			if err := readBody(e, p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p); err != nil {
				return err
			}
		}
	}
	if strings.EqualFold(encoding, "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("devsink: body: %w", err)
	}
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	switch mediaType {
	case "text/html":
		e.HTML = text
	case "text/plain":
		e.Text = text
	}
	return nil
}

// HTTP side.

// Handler serves the webhook receiver (POST /webhook, and any path below
// it), the page (GET /) and the JSON list (GET /messages, newest first).
func (s *Sink) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhook", s.receive)
	mux.HandleFunc("POST /webhook/", s.receive)
	mux.HandleFunc("GET /messages", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(newestFirst(s.Entries()))
	})
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "the dev sink serves GET /, GET /messages and POST /webhook", nil)
	})
	return mux
}

func (s *Sink) receive(w http.ResponseWriter, r *http.Request) {
	body, err := notify.VerifyRequest(r, []byte(s.o.WebhookSecret))
	switch {
	case errors.Is(err, notify.ErrNoSignature), errors.Is(err, notify.ErrBadSignature), errors.Is(err, notify.ErrStale):
		s.o.Log.Warn("devsink: webhook refused", "error", err)
		writeError(w, http.StatusUnauthorized, "bad_signature", err.Error(), map[string]string{"header": notify.SignatureHeader})
		return
	case err != nil:
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", err.Error(), nil)
		return
	}
	var p notify.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		writeError(w, http.StatusBadRequest, "bad_json", "the body is not a smartmaint webhook payload: "+err.Error(), nil)
		return
	}
	added := s.add(Entry{Kind: KindWebhook, Received: time.Now().UTC(), URL: r.URL.Path, Subject: p.Subject,
		DeliveryID: p.DeliveryID, Severity: string(p.Severity), IncidentID: p.IncidentID,
		Text: p.Text, HTML: p.HTML, Links: p.Links, Verified: true})
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"received": true, "duplicate": !added})
}

func writeError(w http.ResponseWriter, status int, code, msg string, details any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "details": details}})
}

func newestFirst(entries []Entry) []Entry {
	slices.Reverse(entries)
	if entries == nil {
		entries = []Entry{}
	}
	return entries
}

// WriteText writes entries, newest first, as plain text for a terminal.
func WriteText(w io.Writer, entries []Entry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "no messages yet")
		return err
	}
	var b strings.Builder
	for _, e := range newestFirst(slices.Clone(entries)) {
		fmt.Fprintf(&b, "#%d %s  %s  %s\n", e.Seq, e.Received.Local().Format(time.DateTime), e.Kind, e.Subject)
		if e.Kind == KindEmail {
			fmt.Fprintf(&b, "  to: %s\n", strings.Join(e.To, ", "))
		} else {
			fmt.Fprintf(&b, "  url: %s (signature verified: %s)\n", e.URL, strconv.FormatBool(e.Verified))
		}
		for _, line := range strings.Split(strings.TrimRight(e.Text, "\n"), "\n") {
			fmt.Fprintf(&b, "  | %s\n", line)
		}
		for _, l := range e.Links {
			fmt.Fprintf(&b, "  link: %s %s\n", l.Title, l.URL)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
