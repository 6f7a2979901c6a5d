package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/devsink"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestNotifyCarriesLinks sends an incident message through the activity to
// real receivers of every kind (email and webhook to devsink, Slack to an
// HTTP server) and finds the incident page, the incident API and the work
// order links in each.
func TestNotifyCarriesLinks(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	const secret = "activity-test-secret"
	sink, err := devsink.Start(devsink.Options{SMTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	slack := make(chan string, 1)
	slackSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		slack <- string(b)
	}))
	t.Cleanup(slackSrv.Close)
	for _, c := range []store.Channel{
		{Name: "mail", Kind: "email", Target: "ops@acme.example", Enabled: true},
		{Name: "hook", Kind: "webhook", Target: sink.WebhookURL(), Secret: secret, Enabled: true},
		{Name: "slack", Kind: "slack", Target: slackSrv.URL + "/services/T/B/x", Enabled: true},
	} {
		if _, err := db.CreateChannel(ctx, "acme", c); err != nil {
			t.Fatal(err)
		}
	}
	n := notify.New(db, notify.Config{SMTP: notify.SMTPConfig{Addr: sink.SMTPAddr(), From: "smartmaint@localhost"},
		PublicURL: "https://sm.example/"}, nil)

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	a := &activities.Notifications{Notifier: n}
	env.RegisterActivity(a)
	val, err := env.ExecuteActivity(a.Notify, activities.NotifyInput{TenantID: "acme", IncidentID: "inc-7", AssetID: "mill-1",
		Key: "inc-7/resolved", Severity: "major", Subject: "mill-1: resolved", Text: "Work order done.", WorkOrderID: "wo-9"})
	if err != nil {
		t.Fatal(err)
	}
	var res activities.NotifyResult
	if err := val.Get(&res); err != nil || len(res.Results) != 3 {
		t.Fatalf("result = %+v, %v", res, err)
	}
	links := []string{"https://sm.example/ui/#incident-inc-7", "https://sm.example/api/v1/incidents/inc-7", "https://sm.example/api/v1/work-orders/wo-9"}

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	entries, err := sink.Wait(wctx, func(es []devsink.Entry) bool { return len(es) == 2 })
	if err != nil {
		t.Fatalf("sink got %+v: %v", entries, err)
	}
	var slackBody string
	select {
	case slackBody = <-slack:
	case <-wctx.Done():
		t.Fatal("no Slack request")
	}
	for _, e := range entries {
		var got []string
		for _, l := range e.Links {
			got = append(got, l.URL)
		}
		if strings.Join(got, " ") != strings.Join(links, " ") {
			t.Errorf("%s links = %q, want %q", e.Kind, got, links)
		}
	}
	var sp struct {
		Blocks []struct{ Text struct{ Text string } }
	}
	if err := json.Unmarshal([]byte(slackBody), &sp); err != nil || len(sp.Blocks) < 2 {
		t.Fatalf("Slack body %s: %v", slackBody, err)
	}
	for _, l := range links {
		if !strings.Contains(sp.Blocks[1].Text.Text, "<"+l+"|") {
			t.Errorf("Slack message lacks %s: %s", l, sp.Blocks[1].Text.Text)
		}
	}
}

// TestNotifySummarySaysWhy: a message that went nowhere says whether the
// tenant has no channels or none takes the severity.
func TestNotifySummarySaysWhy(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "bare")
	testenv.Tenant(t, db, "picky")
	if _, err := db.CreateChannel(ctx, "picky", store.Channel{Name: "pager", Kind: "webhook", Target: "http://127.0.0.1:9/x",
		Secret: "0123456789abcdef", Enabled: true, MinSeverity: "critical"}); err != nil {
		t.Fatal(err)
	}
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	a := &activities.Notifications{Notifier: notify.New(db, notify.Config{}, nil)}
	env.RegisterActivity(a)
	for tenant, want := range map[string]string{
		"bare":  "k: not sent, the tenant has no notification channels",
		"picky": "k: not sent, no enabled channel takes severity minor (each has a higher min_severity)",
	} {
		val, err := env.ExecuteActivity(a.Notify, activities.NotifyInput{TenantID: tenant, Key: "k", Severity: "minor", Subject: "s", Text: "t"})
		if err != nil {
			t.Fatal(err)
		}
		var res activities.NotifyResult
		if err := val.Get(&res); err != nil {
			t.Fatal(err)
		}
		if got := res.Summary(); got != want {
			t.Errorf("%s: Summary = %q, want %q", tenant, got, want)
		}
	}
}
