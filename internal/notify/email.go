package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"os"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
)

// SMTPConfig is the relay email goes through.
type SMTPConfig struct {
	// Addr is the relay's host:port; empty disables email.
	Addr string
	// From is the sender address, optionally with a name:
	// "smartmaint <alerts@example.com>".
	From string
	// Username and Password enable AUTH PLAIN. They are only sent over TLS,
	// or to a relay on the loopback interface.
	Username, Password string
	// ImplicitTLS speaks TLS from the first byte (SMTPS, usually port 465)
	// instead of upgrading with STARTTLS.
	ImplicitTLS bool
	// TLSConfig is used for TLS either way (nil: system roots, ServerName
	// from Addr).
	TLSConfig *tls.Config
	// Timeout bounds the whole SMTP conversation (default 30s).
	Timeout time.Duration
}

// Email sends messages over SMTP (net/smtp) to a channel's comma-separated
// recipients, over implicit TLS (SMTPS) when configured, otherwise upgrading
// to TLS with STARTTLS whenever the relay offers it.
type Email struct {
	Config SMTPConfig
}

// Send implements Sender.
func (e *Email) Send(ctx context.Context, ch store.Channel, d Delivery, m Message) error {
	cfg := e.Config
	if cfg.Addr == "" {
		return permanent(errors.New("email: SMTP_ADDR is not configured"))
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return permanent(fmt.Errorf("email: SMTP_FROM %q: %w", cfg.From, err))
	}
	to, err := mail.ParseAddressList(ch.Target)
	if err != nil {
		return permanent(fmt.Errorf("email: recipients %q: %w", ch.Target, err))
	}
	body, err := composeEmail(from, to, d, m, time.Now())
	if err != nil {
		return permanent(err)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return e.transmit(ctx, from.Address, to, body)
}

func (e *Email) transmit(ctx context.Context, from string, to []*mail.Address, body []byte) error {
	cfg := e.Config
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return permanent(fmt.Errorf("email: SMTP_ADDR %q: %w", cfg.Addr, err))
	}
	tlsCfg := cfg.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{}
	}
	if tlsCfg.ServerName == "" {
		tlsCfg = tlsCfg.Clone()
		tlsCfg.ServerName = host
	}
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("email: connect to %s: %w", cfg.Addr, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	encrypted := false
	if cfg.ImplicitTLS {
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("email: TLS with %s: %w", cfg.Addr, err)
		}
		conn, encrypted = tc, true
	}

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("email: greeting from %s: %w", cfg.Addr, smtpError(err))
	}
	defer c.Close()
	if err := c.Hello(localName()); err != nil {
		return fmt.Errorf("email: EHLO: %w", smtpError(err))
	}
	if ok, _ := c.Extension("STARTTLS"); ok && !encrypted {
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("email: STARTTLS with %s: %w", cfg.Addr, err)
		}
		encrypted = true
	}
	if cfg.Username != "" {
		if !encrypted && !isLoopback(host) {
			return permanent(fmt.Errorf("email: %s offers neither STARTTLS nor implicit TLS (SMTP_TLS=implicit); refusing to send the SMTP password in clear", cfg.Addr))
		}
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			return permanent(fmt.Errorf("email: AUTH as %s: %w", cfg.Username, err))
		}
	}
	if err := c.Mail(from); err != nil {
		return fmt.Errorf("email: MAIL FROM: %w", smtpError(err))
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt.Address); err != nil {
			return fmt.Errorf("email: RCPT TO %s: %w", rcpt.Address, smtpError(err))
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("email: DATA: %w", smtpError(err))
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("email: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("email: message refused: %w", smtpError(err))
	}
	// The relay has accepted the message; a failing QUIT changes nothing.
	_ = c.Quit()
	return nil
}

// smtpError marks 5xx replies permanent (the relay will refuse again).
func smtpError(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return permanent(err)
	}
	return err
}

// MessageID is the Message-ID of delivery d: stable across attempts so that
// a re-sent email is recognisably the same message.
func MessageID(d Delivery, from *mail.Address) string {
	domain := "smartmaint.invalid"
	if at := strings.LastIndexByte(from.Address, '@'); at >= 0 {
		domain = from.Address[at+1:]
	}
	sum := sha256.Sum256([]byte(d.Tenant + "\x00" + d.Key))
	return fmt.Sprintf("<%s.%s@%s>", d.ID, hex.EncodeToString(sum[:6]), domain)
}

// composeEmail renders the RFC 5322 message: text/plain, or
// multipart/alternative with text and HTML, quoted-printable encoded.
func composeEmail(from *mail.Address, to []*mail.Address, d Delivery, m Message, now time.Time) ([]byte, error) {
	var buf bytes.Buffer
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.String()
	}
	subject := m.Subject
	// The severity prefix, unless the subject starts with it already (the
	// incident workflow's subjects do: "[major] press-1: approval needed").
	if prefix := "[" + string(m.Severity) + "]"; m.Severity.Rank() >= SeverityWarning.Rank() &&
		!(len(subject) >= len(prefix) && strings.EqualFold(subject[:len(prefix)], prefix)) {
		subject = strings.ToUpper(prefix) + " " + subject
	}
	h := []struct{ k, v string }{
		{"From", from.String()},
		{"To", strings.Join(rcpts, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", subject)},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", MessageID(d, from)},
		{"MIME-Version", "1.0"},
		{"Auto-Submitted", "auto-generated"},
		{DeliveryHeader, d.ID},
		{"X-Smartmaint-Severity", string(m.Severity)},
	}
	if m.IncidentID != "" {
		h = append(h, struct{ k, v string }{"X-Smartmaint-Incident", m.IncidentID})
	}
	for _, kv := range h {
		if strings.ContainsAny(kv.v, "\r\n") {
			return nil, fmt.Errorf("email: header %s contains a line break", kv.k)
		}
		fmt.Fprintf(&buf, "%s: %s\r\n", kv.k, kv.v)
	}
	text := plainText(m)
	if m.HTML == "" {
		buf.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		if err := writeQP(&buf, text); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	mw := multipart.NewWriter(&buf)
	fmt.Fprintf(&buf, "Content-Type: multipart/alternative; boundary=%q\r\n\r\n", mw.Boundary())
	for _, part := range []struct{ ctype, body string }{{"text/plain", text}, {"text/html", htmlBody(m)}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		if err := writeQP(pw, part.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// plainText is the text body followed by the links.
func plainText(m Message) string {
	var b strings.Builder
	b.WriteString(m.Text)
	if len(m.Links) > 0 {
		b.WriteString("\n\n")
		for _, l := range m.Links {
			fmt.Fprintf(&b, "%s: %s\n", l.Title, l.URL)
		}
	}
	return strings.ReplaceAll(strings.ReplaceAll(b.String(), "\r\n", "\n"), "\n", "\r\n")
}

// htmlBody is the HTML body followed by the links as a list.
func htmlBody(m Message) string {
	if len(m.Links) == 0 {
		return m.HTML
	}
	var b strings.Builder
	b.WriteString(m.HTML)
	b.WriteString("\n<ul class=\"smartmaint-links\">\n")
	for _, l := range m.Links {
		fmt.Fprintf(&b, "<li><a href=\"%s\">%s</a></li>\n", html.EscapeString(l.URL), html.EscapeString(l.Title))
	}
	b.WriteString("</ul>\n")
	return b.String()
}

func writeQP(w io.Writer, s string) error {
	qp := quotedprintable.NewWriter(w)
	if _, err := io.WriteString(qp, s); err != nil {
		return err
	}
	return qp.Close()
}

// localName is the EHLO name: this host's name, or "localhost".
func localName() string {
	if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \r\n") {
		return h
	}
	return "localhost"
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
