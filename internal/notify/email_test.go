package notify_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
)

var testMessage = notify.Message{
	Subject:    "Pump 7 bearing: anomaly confirmed — ümlaut",
	Text:       "Vibration RMS rose to 7.1 mm/s (alarm 6.0).\nA work order was scheduled for tomorrow 08:00.",
	Severity:   notify.SeverityMajor,
	Links:      []notify.Link{{Title: "Incident", URL: "https://smartmaint.example/incidents/inc-42"}},
	IncidentID: "inc-42",
}

var testDelivery = notify.Delivery{ID: "0b0e7f4e-5c1e-4d5a-9f8a-1d6c2b7e9a10", Key: "incident/inc-42/notify", Tenant: "acme", Attempt: 1}

func emailChannel(to string) store.Channel {
	return store.Channel{ID: "c1", Name: "team", Kind: "email", Target: to, Enabled: true}
}

// decodePart returns the decoded body of a quoted-printable MIME entity.
func decodePart(t *testing.T, header interface{ Get(string) string }, body io.Reader) string {
	t.Helper()
	if cte := header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", cte)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEmailPlainText(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	e := &notify.Email{Config: notify.SMTPConfig{Addr: srv.Addr, From: "smartmaint <alerts@plant.example>"}}
	if err := e.Send(context.Background(), emailChannel("ops@plant.example, Sue <sue@plant.example>"), testDelivery, testMessage); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("server got %d messages", len(msgs))
	}
	got := msgs[0]
	if got.From != "alerts@plant.example" || strings.Join(got.To, ",") != "ops@plant.example,sue@plant.example" || got.TLS {
		t.Errorf("envelope = %+v", got)
	}
	m, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != "[MAJOR] "+testMessage.Subject {
		t.Errorf("Subject = %q, %v", subject, err)
	}
	from, _ := mail.ParseAddress("alerts@plant.example")
	if id := m.Header.Get("Message-ID"); id != notify.MessageID(testDelivery, from) || !strings.HasSuffix(id, "@plant.example>") {
		t.Errorf("Message-ID = %q, want %q", id, notify.MessageID(testDelivery, from))
	}
	for k, want := range map[string]string{
		notify.DeliveryHeader: testDelivery.ID, "X-Smartmaint-Severity": "major", "X-Smartmaint-Incident": "inc-42",
		"Auto-Submitted": "auto-generated", "Content-Type": "text/plain; charset=utf-8",
	} {
		if v := m.Header.Get(k); v != want {
			t.Errorf("%s = %q, want %q", k, v, want)
		}
	}
	if _, err := m.Header.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	body := decodePart(t, m.Header, m.Body)
	if !strings.Contains(body, "7.1 mm/s") || !strings.Contains(body, "Incident: https://smartmaint.example/incidents/inc-42") {
		t.Errorf("body = %q", body)
	}
}

// TestEmailSubjectPrefix: the severity prefixes the subject once, also
// when the subject already names it.
func TestEmailSubjectPrefix(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	e := &notify.Email{Config: notify.SMTPConfig{Addr: srv.Addr, From: "alerts@plant.example"}}
	for i, tc := range []struct {
		sev           notify.Severity
		subject, want string
	}{
		{notify.SeverityMajor, "press-1: approval needed", "[MAJOR] press-1: approval needed"},
		{notify.SeverityMajor, "[major] press-1: approval needed", "[major] press-1: approval needed"},
		{notify.SeverityCritical, "[CRITICAL] press-1", "[CRITICAL] press-1"},
		{notify.SeverityMajor, "[minor] press-1", "[MAJOR] [minor] press-1"},
		{notify.SeverityInfo, "Report ready", "Report ready"},
	} {
		m := testMessage
		m.Severity, m.Subject = tc.sev, tc.subject
		if err := e.Send(context.Background(), emailChannel("ops@plant.example"), testDelivery, m); err != nil {
			t.Fatal(err)
		}
		got := srv.Messages()[i]
		msg, err := mail.ReadMessage(bytes.NewReader(got.Data))
		if err != nil {
			t.Fatal(err)
		}
		if subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); subject != tc.want {
			t.Errorf("%s %q: Subject = %q, want %q", tc.sev, tc.subject, subject, tc.want)
		}
	}
}

func TestEmailHTMLOverSTARTTLSWithAuth(t *testing.T) {
	srv := startSMTP(t, smtpOptions{tls: true, user: "smartmaint", password: "hunter2"})
	cfg := notify.SMTPConfig{Addr: srv.Addr, From: "alerts@plant.example", Username: "smartmaint", Password: "hunter2",
		TLSConfig: &tls.Config{RootCAs: srv.RootCAs}}
	msg := testMessage
	msg.HTML = "<p>Vibration RMS rose to <b>7.1 mm/s</b>.</p>"
	if err := (&notify.Email{Config: cfg}).Send(context.Background(), emailChannel("ops@plant.example"), testDelivery, msg); err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()[0]
	if !got.TLS || got.User != "smartmaint" {
		t.Errorf("TLS %v, authenticated as %q; want STARTTLS and AUTH", got.TLS, got.User)
	}
	m, err := mail.ReadMessage(bytes.NewReader(got.Data))
	if err != nil {
		t.Fatal(err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q, %v", m.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var types, bodies []string
	for {
		p, err := mr.NextRawPart() // NextPart would decode quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, p.Header.Get("Content-Type"))
		bodies = append(bodies, decodePart(t, p.Header, p))
	}
	if strings.Join(types, "|") != "text/plain; charset=utf-8|text/html; charset=utf-8" {
		t.Errorf("parts = %v", types)
	}
	// Both parts carry the links: the HTML one as anchors after the body.
	if len(bodies) != 2 || !strings.Contains(bodies[0], "7.1 mm/s") || !strings.Contains(bodies[0], "Incident: https://smartmaint.example/incidents/inc-42") ||
		!strings.HasPrefix(bodies[1], msg.HTML) || !strings.Contains(bodies[1], `<a href="https://smartmaint.example/incidents/inc-42">Incident</a>`) {
		t.Errorf("bodies = %q", bodies)
	}

	// A wrong password is permanent: retrying cannot fix it.
	cfg.Password = "wrong"
	err = (&notify.Email{Config: cfg}).Send(context.Background(), emailChannel("ops@plant.example"), testDelivery, msg)
	if !errors.Is(err, notify.ErrPermanent) {
		t.Errorf("wrong password: err = %v, want permanent", err)
	}
	// Without trusting the server's certificate, STARTTLS fails.
	cfg.Password, cfg.TLSConfig = "hunter2", nil
	if err := (&notify.Email{Config: cfg}).Send(context.Background(), emailChannel("ops@plant.example"), testDelivery, msg); err == nil {
		t.Error("untrusted certificate accepted")
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("server has %d messages, want 1", n)
	}
}

func TestEmailFailures(t *testing.T) {
	ctx := context.Background()
	permanentReject := &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	transientReject := &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	tests := []struct {
		name          string
		cfg           func(addr string) notify.SMTPConfig
		opts          smtpOptions
		to            string
		wantPermanent bool
	}{
		{"recipient rejected for good", func(a string) notify.SMTPConfig { return notify.SMTPConfig{Addr: a, From: "a@x.example"} },
			smtpOptions{rejectRecipients: permanentReject}, "nobody@x.example", true},
		{"recipient deferred", func(a string) notify.SMTPConfig { return notify.SMTPConfig{Addr: a, From: "a@x.example"} },
			smtpOptions{rejectRecipients: transientReject}, "later@x.example", false},
		{"relay down", func(string) notify.SMTPConfig { return notify.SMTPConfig{Addr: "127.0.0.1:1", From: "a@x.example"} },
			smtpOptions{}, "ops@x.example", false},
		{"no relay configured", func(string) notify.SMTPConfig { return notify.SMTPConfig{From: "a@x.example"} },
			smtpOptions{}, "ops@x.example", true},
		{"bad recipient list", func(a string) notify.SMTPConfig { return notify.SMTPConfig{Addr: a, From: "a@x.example"} },
			smtpOptions{}, "not an address", true},
		{"bad sender", func(a string) notify.SMTPConfig { return notify.SMTPConfig{Addr: a, From: ""} },
			smtpOptions{}, "ops@x.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSMTP(t, tt.opts)
			err := (&notify.Email{Config: tt.cfg(srv.Addr)}).Send(ctx, emailChannel(tt.to), testDelivery, testMessage)
			if err == nil {
				t.Fatal("Send succeeded")
			}
			if got := errors.Is(err, notify.ErrPermanent); got != tt.wantPermanent {
				t.Errorf("permanent = %v, want %v (err %v)", got, tt.wantPermanent, err)
			}
			if n := len(srv.Messages()); n != 0 {
				t.Errorf("server accepted %d messages", n)
			}
		})
	}
}

func TestEmailHeaderInjection(t *testing.T) {
	srv := startSMTP(t, smtpOptions{})
	msg := testMessage
	msg.IncidentID = "inc-1\r\nBcc: victim@example.com"
	err := (&notify.Email{Config: notify.SMTPConfig{Addr: srv.Addr, From: "a@x.example"}}).Send(context.Background(), emailChannel("ops@x.example"), testDelivery, msg)
	if !errors.Is(err, notify.ErrPermanent) || len(srv.Messages()) != 0 {
		t.Errorf("header injection: err = %v, %d messages sent", err, len(srv.Messages()))
	}
}

func TestEmailOverImplicitTLS(t *testing.T) {
	srv := startSMTP(t, smtpOptions{implicitTLS: true, user: "smartmaint", password: "hunter2"})
	cfg := notify.SMTPConfig{Addr: srv.Addr, From: "alerts@plant.example", Username: "smartmaint", Password: "hunter2",
		ImplicitTLS: true, TLSConfig: &tls.Config{RootCAs: srv.RootCAs}, Timeout: 3 * time.Second}
	if err := (&notify.Email{Config: cfg}).Send(context.Background(), emailChannel("ops@plant.example"), testDelivery, testMessage); err != nil {
		t.Fatal(err)
	}
	if got := srv.Messages(); len(got) != 1 || !got[0].TLS || got[0].User != "smartmaint" {
		t.Fatalf("messages %+v; want one, over TLS, authenticated", got)
	}
	// A client expecting a plain greeting gets none, and a TLS client
	// talking to a plain relay fails its handshake: neither sends.
	cfg.ImplicitTLS = false
	if err := (&notify.Email{Config: cfg}).Send(context.Background(), emailChannel("ops@plant.example"), testDelivery, testMessage); err == nil {
		t.Error("plain SMTP to an SMTPS relay succeeded")
	}
	plain := startSMTP(t, smtpOptions{})
	cfg = notify.SMTPConfig{Addr: plain.Addr, From: "alerts@plant.example", ImplicitTLS: true, Timeout: 3 * time.Second}
	if err := (&notify.Email{Config: cfg}).Send(context.Background(), emailChannel("ops@plant.example"), testDelivery, testMessage); err == nil {
		t.Error("implicit TLS to a plain relay succeeded")
	}
	if n := len(srv.Messages()) + len(plain.Messages()); n != 1 {
		t.Errorf("%d messages in all, want 1", n)
	}
}
