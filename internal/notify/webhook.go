package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Headers of webhook requests.
const (
	// DeliveryHeader carries the delivery id, the same on every attempt:
	// receivers dedupe on it (emails carry it too).
	DeliveryHeader = "X-Smartmaint-Delivery"
	// TimestampHeader carries the Unix time (seconds) the request was
	// signed at.
	TimestampHeader = "X-Smartmaint-Timestamp"
	// SignatureHeader carries "sha256=" and the hex HMAC-SHA256, keyed with
	// the channel's secret, of the timestamp, a dot, and the body.
	SignatureHeader = "X-Smartmaint-Signature"
)

// DefaultTolerance is how old (or how far in the future) a webhook's
// timestamp may be for VerifyRequest to accept it.
const DefaultTolerance = 5 * time.Minute

// WebhookPayload is the JSON body of a webhook request.
type WebhookPayload struct {
	DeliveryID     string    `json:"delivery_id"`
	IdempotencyKey string    `json:"idempotency_key"`
	Tenant         string    `json:"tenant"`
	Attempt        int       `json:"attempt"`
	Subject        string    `json:"subject"`
	Text           string    `json:"text"`
	HTML           string    `json:"html,omitempty"`
	Severity       Severity  `json:"severity"`
	Links          []Link    `json:"links,omitempty"`
	IncidentID     string    `json:"incident_id,omitempty"`
	SentAt         time.Time `json:"sent_at"`
}

// Webhook POSTs messages as JSON to a channel's URL, signed with the
// channel's secret.
type Webhook struct {
	// Client makes the requests; nil means a client with a 10s timeout that
	// does not follow redirects.
	Client *http.Client
	// Now is the clock for timestamps (nil: time.Now).
	Now func() time.Time
}

// Send implements Sender.
func (h *Webhook) Send(ctx context.Context, ch store.Channel, d Delivery, m Message) error {
	if ch.Secret == "" {
		return permanent(errors.New("webhook: the channel has no secret to sign with"))
	}
	now := time.Now
	if h.Now != nil {
		now = h.Now
	}
	t := now()
	body, err := json.Marshal(WebhookPayload{
		DeliveryID: d.ID, IdempotencyKey: d.Key, Tenant: d.Tenant, Attempt: d.Attempt,
		Subject: m.Subject, Text: m.Text, HTML: m.HTML, Severity: m.Severity, Links: m.Links, IncidentID: m.IncidentID,
		SentAt: t.UTC(),
	})
	if err != nil {
		return permanent(fmt.Errorf("webhook: encode: %w", err))
	}
	ts := strconv.FormatInt(t.Unix(), 10)
	return postJSON(ctx, h.Client, ch.Target, body, map[string]string{
		DeliveryHeader:  d.ID,
		TimestampHeader: ts,
		SignatureHeader: Sign([]byte(ch.Secret), ts, body),
	})
}

// Sign returns the SignatureHeader value for body sent at timestamp.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("notify: webhook request is not signed")
	ErrBadSignature = errors.New("notify: webhook signature does not match")
	ErrStale        = errors.New("notify: webhook timestamp is outside the tolerance (replayed or clock skew)")
)

// Verify checks a webhook's signature and that its timestamp is within
// tolerance of now, which bounds replays; receivers that must never act twice
// also remember the DeliveryHeader values they have seen for that long.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, tolerance time.Duration) error {
	if timestamp == "" || signature == "" {
		return ErrNoSignature
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: timestamp %q is not Unix seconds", ErrBadSignature, timestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrStale
	}
	if !hmac.Equal([]byte(signature), []byte(Sign(secret, timestamp, body))) {
		return ErrBadSignature
	}
	return nil
}

// maxWebhookBody bounds what VerifyRequest reads.
const maxWebhookBody = 1 << 20

// VerifyRequest reads r's body (up to 1 MiB) and verifies its signature
// with Verify at the current time and DefaultTolerance; it returns the body
// for decoding into a WebhookPayload.
func VerifyRequest(r *http.Request, secret []byte) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		return nil, fmt.Errorf("notify: read webhook body: %w", err)
	}
	if len(body) > maxWebhookBody {
		return nil, fmt.Errorf("notify: webhook body exceeds %d bytes", maxWebhookBody)
	}
	err = Verify(secret, r.Header.Get(TimestampHeader), r.Header.Get(SignatureHeader), body, time.Now(), DefaultTolerance)
	if err != nil {
		return nil, err
	}
	return body, nil
}

// DefaultDeniedNetworks are the addresses webhook and Slack requests never
// reach unless the operator says otherwise (NOTIFY_DENY_NETWORKS): link-local
// ranges, where cloud metadata services answer (169.254.169.254), and
// unspecified and multicast addresses. A channel's target is chosen by a
// tenant's admin; without this, a webhook could read the host's cloud
// credentials. Loopback and private ranges are allowed by default because
// plant systems (a CMMS, a ticketing bridge) usually live there; deny them
// too where they should not be reachable.
var DefaultDeniedNetworks = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("ff00::/8"),
}

// DeniedTargetError is returned when a webhook or Slack target resolves to
// an address in a denied network. It is permanent: no retry will help.
type DeniedTargetError struct {
	Addr netip.Addr
}

func (e *DeniedTargetError) Error() string {
	return fmt.Sprintf("target address %s is in a denied network (see NOTIFY_DENY_NETWORKS)", e.Addr)
}

// NewHTTPClient returns a client for webhooks: requests time out after
// timeout, redirects are not followed (a POST must not turn into a GET
// elsewhere), and no connection is made to an address in deny. The check
// runs on the address actually dialled, after DNS, so a name that resolves
// (or later re-resolves) into a denied network is refused too. Behind an
// HTTP proxy (HTTPS_PROXY) the proxy is what gets dialled and checked.
func NewHTTPClient(timeout time.Duration, deny []netip.Prefix) *http.Client {
	dialer := &net.Dialer{
		Timeout: timeout,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("notify: unexpected dial address %q: %w", address, err)
			}
			ip := ap.Addr().Unmap()
			for _, p := range deny {
				if p.Contains(ip) {
					return &DeniedTargetError{Addr: ip}
				}
			}
			return nil
		},
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

var defaultClient = NewHTTPClient(10*time.Second, DefaultDeniedNetworks)

// postJSON POSTs body to target. 2xx is success; 408, 429 and 5xx are worth
// a retry; any other answer (other 4xx, redirects) is permanent. Failed
// requests are *RequestError; errors never show target's path, which may
// hold a secret.
func postJSON(ctx context.Context, client *http.Client, target string, body []byte, headers map[string]string) error {
	if client == nil {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return permanent(fmt.Errorf("POST %s: invalid URL", redactURL(target)))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "smartmaint-notify/1")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text repeats the whole URL
		}
		var denied *DeniedTargetError
		if errors.As(err, &denied) {
			return permanent(&RequestError{URL: redactURL(target), Err: denied})
		}
		return &RequestError{URL: redactURL(target), Err: err}
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = &RequestError{URL: redactURL(target), StatusCode: resp.StatusCode, Status: resp.Status, Body: strings.TrimSpace(string(snippet))}
	if resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 {
		return err
	}
	return permanent(err)
}

// redactURL keeps scheme, host and the first path segment: Slack-style
// webhook URLs carry their secret in the path.
func redactURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "(invalid URL)"
	}
	host, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndexByte(host, '@'); at >= 0 {
		host = host[at+1:]
	}
	first, more, _ := strings.Cut(path, "/")
	out := scheme + "://" + host + "/" + first
	if more != "" {
		out += "/…"
	}
	return out
}
