package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// RequestError is a webhook or Slack request that failed: the target
// answered with a status other than 2xx, or no answer came. Its Error text,
// for logs, carries the redacted URL, the status and the start of the
// answer's body, or the transport error; Describe is what may be shown to
// the tenant whose channel it is.
type RequestError struct {
	// URL is the target without the secret part of its path.
	URL string
	// StatusCode is the answer's status, 0 when there was no answer.
	StatusCode int
	// Status is the answer's status line, such as "401 Unauthorized".
	Status string
	// Body is the start of the answer's body.
	Body string
	// Err is the transport error when there was no answer.
	Err error
}

func (e *RequestError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("POST %s: %v", e.URL, e.Err)
	}
	return fmt.Sprintf("POST %s: %s: %s", e.URL, e.Status, e.Body)
}

func (e *RequestError) Unwrap() error { return e.Err }

// Describe says what happened to a failed request in terms that reveal
// nothing of the target beyond the outcome: the HTTP status class, or a
// category of transport failure ("connection refused", "timeout", "TLS
// error", …). A channel's target is chosen by a tenant's admin and may point
// anywhere on the plant network, so neither the body of the answer (which
// may be another service's error page) nor the raw error text (which may
// quote bytes a non-HTTP service sent) is ever repeated.
func (e *RequestError) Describe() string {
	switch c := e.StatusCode / 100; {
	case c == 3:
		return "the target answered with an HTTP 3xx redirect, which is not followed"
	case c == 4:
		return "the target answered with an HTTP 4xx status (client error)"
	case c == 5:
		return "the target answered with an HTTP 5xx status (server error)"
	case e.StatusCode != 0:
		return fmt.Sprintf("the target answered with an HTTP %dxx status", c)
	}
	return transportCategory(e.Err)
}

// Describe returns the text a tenant may see about a failed send: for a
// webhook or Slack request the category RequestError.Describe gives,
// otherwise err's own text (those errors are smartmaint's own: a channel
// without a secret, an SMTP relay the operator configured).
func Describe(err error) string {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Describe()
	}
	return err.Error()
}

// described is err with the text of Describe (nil for nil).
func described(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(Describe(err))
}

// transportCategory names the kind of failure of a request that got no
// answer.
func transportCategory(err error) string {
	var (
		denied   *DeniedTargetError
		dnsErr   *net.DNSError
		netErr   net.Error
		recErr   tls.RecordHeaderError
		alertErr tls.AlertError
		verErr   *tls.CertificateVerificationError
		authErr  x509.UnknownAuthorityError
		hostErr  x509.HostnameError
		certErr  x509.CertificateInvalidError
	)
	switch {
	case err == nil:
		return "the request failed"
	case errors.As(err, &denied):
		return "the target address is in a denied network (NOTIFY_DENY_NETWORKS)"
	case errors.Is(err, context.Canceled):
		return "the request was cancelled"
	case errors.As(err, &recErr), errors.As(err, &alertErr), errors.As(err, &verErr),
		errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &certErr), isTLSError(err):
		return "TLS error"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return "host name not found"
		}
		return "DNS lookup failed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before an HTTP answer"
	case strings.Contains(err.Error(), "HTTP response to HTTPS client"):
		return "TLS error"
	case strings.Contains(err.Error(), "malformed HTTP"):
		return "the target's answer is not HTTP"
	}
	return "connection failed"
}

// isTLSError reports whether err's chain holds one of crypto/tls's plain
// errors ("tls: …"), which have no type of their own.
func isTLSError(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.HasPrefix(e.Error(), "tls: ") {
			return true
		}
	}
	return false
}
