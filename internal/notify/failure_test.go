package notify_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// secretPage is what the services behind the test targets answer with;
// none of it may come back to the tenant.
const secretPage = "internal-service: token=s3cr3t-b4nner"

// rawServer accepts TCP connections, writes answer and closes each one: a
// service that does not speak HTTP.
func rawServer(t *testing.T, answer string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// Read the request first, as a real server does: closing a
			// socket with the request unread resets the connection, and
			// the client would then see a failed write instead of the
			// answer.
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			br := bufio.NewReader(c)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			c.Write([]byte(answer))
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestSendTestRevealsOnlyTheOutcome: the test message of a webhook or
// Slack channel reports the outcome in general terms (HTTP status class, a
// category of transport failure), never the answer's body or raw error
// text, because the target can be any service on the plant network.
func TestSendTestRevealsOnlyTheOutcome(t *testing.T) {
	answering := func(status int) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, secretPage, status)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	selfSigned := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(selfSigned.Close)
	plain := answering(http.StatusOK)

	loopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	tests := []struct {
		name, kind, target string
		deny               []netip.Prefix
		want               []string
	}{
		{"401 from a service", "webhook", answering(http.StatusUnauthorized), nil, []string{"the target answered with an HTTP 4xx status (client error)"}},
		{"404 on slack", "slack", answering(http.StatusNotFound) + "/services/T/B/x", nil, []string{"the target answered with an HTTP 4xx status (client error)"}},
		{"500", "webhook", answering(http.StatusInternalServerError), nil, []string{"the target answered with an HTTP 5xx status (server error)"}},
		{"redirect", "webhook", answering(http.StatusFound), nil, []string{"the target answered with an HTTP 3xx redirect, which is not followed"}},
		// The real PostgreSQL of the test environment: it reads the request
		// as a startup packet and hangs up.
		{"PostgreSQL", "webhook", "http://127.0.0.1:5432/", nil, []string{"connection closed before an HTTP answer", "the target's answer is not HTTP"}},
		{"not HTTP", "webhook", "http://" + rawServer(t, "SFATAL "+secretPage+"\r\n\r\n"), nil, []string{"the target's answer is not HTTP"}},
		{"hang-up", "webhook", "http://" + rawServer(t, ""), nil, []string{"connection closed before an HTTP answer"}},
		{"nothing listens", "webhook", "http://" + closedPort(t), nil, []string{"connection refused"}},
		{"TLS to a plain server", "webhook", strings.Replace(plain, "http://", "https://", 1), nil, []string{"TLS error"}},
		{"untrusted certificate", "slack", selfSigned.URL, nil, []string{"TLS error"}},
		{"slow", "webhook", slow.URL, nil, []string{"timeout"}},
		{"denied network", "webhook", plain, loopback, []string{"the target address is in a denied network (NOTIFY_DENY_NETWORKS)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			deny := tt.deny
			if deny == nil {
				deny = []netip.Prefix{}
			}
			n := notify.New(nil, notify.Config{HTTPTimeout: 500 * time.Millisecond, DenyNetworks: deny}, nil)
			ch := store.Channel{ID: "c1", Name: "probe", Kind: tt.kind, Target: tt.target, Secret: "0123456789abcdef", Enabled: true}
			res := n.SendTest(context.Background(), "acme", ch)
			if res.Outcome != notify.Failed || !slices.Contains(tt.want, res.Error) {
				t.Errorf("SendTest = %s %q, want failed with one of %q", res.Outcome, res.Error, tt.want)
			}
			for _, leak := range []string{"s3cr3t", "EOF", "127.0.0.1", "malformed", "x509", "tls:"} {
				if strings.Contains(res.Error, leak) {
					t.Errorf("the answer repeats %q: %q", leak, res.Error)
				}
			}
		})
	}
}

// TestDeliveryLogRevealsOnlyTheOutcome: a real delivery's result and the
// delivery log (GET /notification-deliveries) keep to the outcome too.
func TestDeliveryLogRevealsOnlyTheOutcome(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, secretPage, http.StatusUnauthorized)
	}))
	defer srv.Close()
	if _, err := db.CreateChannel(ctx, "acme", store.Channel{Name: "probe", Kind: "webhook", Target: srv.URL, Secret: "0123456789abcdef", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	n := notify.New(db, notify.Config{DenyNetworks: []netip.Prefix{}}, nil)
	rep, err := n.Deliver(ctx, "acme", "report/r1", notify.Message{Subject: "Report ready", Text: "t", Severity: notify.SeverityInfo})
	const want = "the target answered with an HTTP 4xx status (client error)"
	if err == nil || len(rep.Results) != 1 || rep.Results[0].Error != want || !rep.Results[0].Permanent {
		t.Fatalf("Deliver = %+v, %v; want one permanent failure %q", rep, err, want)
	}
	if strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("Deliver's error repeats the answer: %v", err)
	}
	log, err := db.ListDeliveries(ctx, "acme", "report/r1")
	if err != nil || len(log) != 1 || log[0].LastError != want {
		t.Errorf("delivery log = %+v, %v; want last_error %q", log, err, want)
	}
}
