package notify_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// fixture is a tenant with one channel of every kind, all pointing at real
// local receivers, plus a webhook whose receiver fails.
type fixture struct {
	db       *store.DB
	n        *notify.Notifier
	smtp     *smtpServer
	hook     *receiver
	broken   *receiver
	slack    chan slackBody
	channels map[string]store.Channel
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	f := &fixture{db: db, smtp: startSMTP(t, smtpOptions{}), hook: startReceiver(t, "hook-secret"), broken: startReceiver(t, "broken-secret"),
		channels: map[string]store.Channel{}}
	f.broken.setStatus(http.StatusServiceUnavailable)
	slackSrv, slackGot := startSlack(t)
	f.slack = slackGot
	for _, c := range []store.Channel{
		{Name: "team email", Kind: "email", Target: "team@plant.example", Enabled: true},
		{Name: "ops hook", Kind: "webhook", Target: f.hook.URL, Secret: "hook-secret", Enabled: true},
		{Name: "broken hook", Kind: "webhook", Target: f.broken.URL, Secret: "broken-secret", Enabled: true},
		{Name: "slack", Kind: "slack", Target: slackSrv.URL + "/services/T/B/x", Enabled: true},
		{Name: "pager hook", Kind: "webhook", Target: f.hook.URL, Secret: "hook-secret", Enabled: true, MinSeverity: "critical"},
		{Name: "disabled hook", Kind: "webhook", Target: f.hook.URL, Secret: "hook-secret", Enabled: false},
	} {
		created, err := db.CreateChannel(ctx, "acme", c)
		if err != nil {
			t.Fatal(err)
		}
		f.channels[c.Name] = created
	}
	f.n = notify.New(db, notify.Config{SMTP: notify.SMTPConfig{Addr: f.smtp.Addr, From: "alerts@plant.example"}}, nil)
	return f
}

func outcomes(rep notify.Report) map[string]notify.Outcome {
	out := map[string]notify.Outcome{}
	for _, r := range rep.Results {
		out[r.ChannelName] = r.Outcome
	}
	return out
}

func TestDeliverIsIdempotentAndIsolatesFailures(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const key = "incident/inc-42/confirmed"

	rep, err := f.n.Deliver(ctx, "acme", key, testMessage)
	if !errors.Is(err, notify.ErrIncomplete) || errors.Is(err, notify.ErrPermanent) {
		t.Fatalf("first delivery: err = %v, want ErrIncomplete (retryable)", err)
	}
	want := map[string]notify.Outcome{"team email": notify.Sent, "ops hook": notify.Sent, "slack": notify.Sent, "broken hook": notify.Failed}
	if got := outcomes(rep); !equalOutcomes(got, want) {
		t.Fatalf("outcomes = %v, want %v (the critical-only and disabled channels are skipped)", got, want)
	}
	if rep.Done() || !rep.Retryable() {
		t.Errorf("Done %v, Retryable %v", rep.Done(), rep.Retryable())
	}
	if len(f.smtp.Messages()) != 1 || len(f.hook.payloads()) != 1 || len(f.slack) != 1 {
		t.Fatalf("received: %d emails, %d webhooks, %d slack posts; want 1 each", len(f.smtp.Messages()), len(f.hook.payloads()), len(f.slack))
	}
	firstHookID := f.hook.payloads()[0].DeliveryID

	// The retry sends nothing where the message already went and tries the
	// broken hook again.
	rep, err = f.n.Deliver(ctx, "acme", key, testMessage)
	if !errors.Is(err, notify.ErrIncomplete) {
		t.Fatalf("retry: err = %v", err)
	}
	want = map[string]notify.Outcome{"team email": notify.AlreadySent, "ops hook": notify.AlreadySent, "slack": notify.AlreadySent, "broken hook": notify.Failed}
	if got := outcomes(rep); !equalOutcomes(got, want) {
		t.Errorf("retry outcomes = %v, want %v", got, want)
	}
	if len(f.smtp.Messages()) != 1 || len(f.hook.payloads()) != 1 || len(f.slack) != 1 {
		t.Errorf("the retry re-sent: %d emails, %d webhooks, %d slack posts", len(f.smtp.Messages()), len(f.hook.payloads()), len(f.slack))
	}

	// Once the broken receiver recovers, only it gets the message, with the
	// delivery id it would have had from the start.
	f.broken.setStatus(0)
	rep, err = f.n.Deliver(ctx, "acme", key, testMessage)
	if err != nil || !rep.Done() {
		t.Fatalf("after recovery: %v, %+v", err, rep)
	}
	var brokenResult notify.Result
	for _, r := range rep.Results {
		if r.ChannelName == "broken hook" {
			brokenResult = r
		}
	}
	got := f.broken.payloads()
	if brokenResult.Outcome != notify.Sent || brokenResult.Attempts != 3 || len(got) != 1 || got[0].DeliveryID != brokenResult.DeliveryID || got[0].Attempt != 3 {
		t.Errorf("recovered channel: result %+v, payloads %+v", brokenResult, got)
	}
	if len(f.hook.payloads()) != 1 || f.hook.payloads()[0].DeliveryID != firstHookID {
		t.Errorf("ops hook got %d payloads", len(f.hook.payloads()))
	}

	// A critical message also reaches the critical-only channel; it is a new
	// message (new key), so everyone gets it once.
	critical := testMessage
	critical.Severity = notify.SeverityCritical
	rep, err = f.n.Deliver(ctx, "acme", "incident/inc-42/escalated", critical)
	if err != nil || len(rep.Results) != 5 {
		t.Errorf("critical: %v, %d results", err, len(rep.Results))
	}
}

func equalOutcomes(a, b map[string]notify.Outcome) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestDeliverConcurrentCallsSendOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.broken.setStatus(0)
	const callers = 6
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() { f.n.Deliver(ctx, "acme", "incident/inc-7/confirmed", testMessage) })
	}
	wg.Wait()
	if len(f.smtp.Messages()) != 1 || len(f.hook.payloads()) != 1 || len(f.broken.payloads()) != 1 || len(f.slack) != 1 {
		t.Errorf("received %d emails, %d + %d webhooks, %d slack posts; want exactly 1 each",
			len(f.smtp.Messages()), len(f.hook.payloads()), len(f.broken.payloads()), len(f.slack))
	}
	// Afterwards every channel reports the message as sent.
	rep, err := f.n.Deliver(ctx, "acme", "incident/inc-7/confirmed", testMessage)
	if err != nil || !rep.Done() {
		t.Errorf("after the race: %v, %v", err, outcomes(rep))
	}
}

func TestDeliverAfterCrashedSender(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.broken.setStatus(0)
	hook := f.channels["ops hook"]
	const key = "incident/inc-9/confirmed"
	// A sender claimed the hook, then crashed before recording the outcome.
	claim, _, err := f.db.ClaimDelivery(ctx, "acme", key, hook.ID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.n.StaleAfter = time.Hour
	rep, err := f.n.Deliver(ctx, "acme", key, testMessage)
	if !errors.Is(err, notify.ErrIncomplete) || outcomes(rep)["ops hook"] != notify.InProgress || !rep.Retryable() {
		t.Fatalf("while the claim is fresh: err %v, outcomes %v", err, outcomes(rep))
	}
	if len(f.hook.payloads()) != 0 {
		t.Fatal("sent over a fresh claim")
	}
	// Once the claim is stale the retry sends, with the claimed delivery id.
	f.n.StaleAfter = time.Nanosecond
	rep, err = f.n.Deliver(ctx, "acme", key, testMessage)
	if err != nil || outcomes(rep)["ops hook"] != notify.Sent {
		t.Fatalf("after the claim went stale: err %v, outcomes %v", err, outcomes(rep))
	}
	if got := f.hook.payloads(); len(got) != 1 || got[0].DeliveryID != claim.DeliveryID {
		t.Errorf("payloads %+v, want one with delivery id %s", got, claim.DeliveryID)
	}
}

func TestDeliverPermanentFailure(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	if _, err := db.CreateChannel(ctx, "acme", store.Channel{Name: "mail", Kind: "email", Target: "ops@plant.example", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	n := notify.New(db, notify.Config{}, nil) // no SMTP relay configured
	rep, err := n.Deliver(ctx, "acme", "k1", testMessage)
	if !errors.Is(err, notify.ErrPermanent) || rep.Retryable() || !rep.Results[0].Permanent {
		t.Errorf("err = %v, report %+v; want a permanent failure", err, rep)
	}
	if _, err := n.Deliver(ctx, "acme", "", testMessage); err == nil {
		t.Error("empty key accepted")
	}
	bad := testMessage
	bad.Severity = "apocalyptic"
	if _, err := n.Deliver(ctx, "acme", "k2", bad); err == nil {
		t.Error("unknown severity accepted")
	}
	// A tenant without channels has nothing to do.
	testenv.Tenant(t, db, "quiet")
	if rep, err := n.Deliver(ctx, "quiet", "k1", testMessage); err != nil || len(rep.Results) != 0 || !rep.Done() {
		t.Errorf("no channels: %+v, %v", rep, err)
	}
}

// BenchmarkDeliver delivers a new message to one webhook and one Slack
// channel on loopback receivers: the delivery log's claim and finish
// transactions plus two signed HTTP requests, channels in parallel.
func BenchmarkDeliver(b *testing.B) {
	db, _ := testenv.DB(b)
	ctx := context.Background()
	testenv.Tenant(b, db, "acme")
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer ok.Close()
	for _, c := range []store.Channel{
		{Name: "hook", Kind: "webhook", Target: ok.URL, Secret: "hook-secret", Enabled: true},
		{Name: "slack", Kind: "slack", Target: ok.URL, Enabled: true},
	} {
		if _, err := db.CreateChannel(ctx, "acme", c); err != nil {
			b.Fatal(err)
		}
	}
	n := notify.New(db, notify.Config{}, nil)
	i := 0
	for b.Loop() {
		i++
		if _, err := n.Deliver(ctx, "acme", "bench/"+strconv.Itoa(i), testMessage); err != nil {
			b.Fatal(err)
		}
	}
}
