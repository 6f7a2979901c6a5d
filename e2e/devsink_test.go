package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/app"
	"github.com/smartmaint/smartmaint/internal/devsink"
)

// TestDevStackNotifiesTheSink: `smartmaint dev` gives the demo tenant an
// email channel to its mail sink and a webhook channel to its receiver; an
// incident's notification reaches both with its links to the dev API, and
// a restart updates the two channels (new port, new secret) rather than
// adding copies.
func TestDevStackNotifiesTheSink(t *testing.T) {
	cfg := devConfig(t)
	s, stop := startDev(t, cfg)
	channels := func() map[string]map[string]any {
		out := s.must(200, "dev", "GET", "/api/v1/notification-channels", nil)
		items, _ := out["items"].([]any)
		byName := map[string]map[string]any{}
		for _, it := range items {
			c := it.(map[string]any)
			byName[c["name"].(string)] = c
		}
		return byName
	}
	chans := channels()
	mail, hook := chans[app.DemoMailChannel], chans[app.DemoWebhookChannel]
	if len(chans) != 2 || mail["kind"] != "email" || mail["target"] != app.DemoMailRecipients || hook["kind"] != "webhook" ||
		!strings.HasPrefix(hook["target"].(string), "http://127.0.0.1:") || hook["secret_set"] != true {
		t.Fatalf("demo channels = %v", chans)
	}

	s.must(201, "dev", "POST", "/api/v1/assets", map[string]any{"id": "press-9", "type": "press"})
	s.must(201, "dev", "POST", "/api/v1/assets/press-9/sensors", map[string]any{"id": "oil_temp", "unit": "K", "min_valid": 200, "max_valid": 500, "alarm_high": 350})
	s.must(200, "dev", "PUT", "/api/v1/incident-policy", map[string]any{
		"collect_window": "1s", "reject_below": 0.1, "auto_approve_at": 0.99, "approval_timeout": "1h",
		"escalation_stages": 0, "timeout_decision": "reject", "clear_after": "15m", "persistence_readings": 3,
	})
	now := time.Now().UTC().Add(-time.Second)
	s.must(201, "dev", "POST", "/api/v1/readings", series("press-9", "oil_temp", now, 100*time.Millisecond, 4, func(i int) any { return 400 + i }))

	// Both channels get the approval request, with the incident's links.
	var got []devsink.Entry
	eventually(t, 60*time.Second, "the incident's notification in the mail sink and the webhook receiver", func() bool {
		es, err := devsink.ReadDir(cfg.DevSinkDir)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		for _, e := range es {
			if e.IncidentID != "" {
				got = append(got, e)
			}
		}
		return len(got) >= 2
	})
	kinds := map[string]bool{}
	for _, e := range got {
		kinds[e.Kind] = true
		want := []string{"http://" + cfg.HTTPAddr + "/ui/#incident-" + e.IncidentID, "http://" + cfg.HTTPAddr + "/api/v1/incidents/" + e.IncidentID}
		var urls []string
		for _, l := range e.Links {
			urls = append(urls, l.URL)
		}
		if len(urls) < 2 || urls[0] != want[0] || urls[1] != want[1] {
			t.Errorf("%s %q links %q, want %q", e.Kind, e.Subject, urls, want)
		}
		if e.Kind == devsink.KindEmail && strings.Join(e.To, ",") != app.DemoMailRecipients {
			t.Errorf("email to %v", e.To)
		}
		if e.Kind == devsink.KindWebhook && !e.Verified {
			t.Errorf("webhook not verified: %+v", e)
		}
	}
	if !kinds[devsink.KindEmail] || !kinds[devsink.KindWebhook] {
		t.Errorf("entries %+v, want an email and a webhook", got)
	}

	// A restart (new receiver port and secret): still two channels, and the
	// webhook channel reaches the new receiver with the new secret.
	stop()
	s, stop = startDev(t, cfg)
	after := channels()
	if len(after) != 2 || after[app.DemoMailChannel]["id"] != mail["id"] || after[app.DemoWebhookChannel]["id"] != hook["id"] {
		t.Fatalf("after a restart: %v, want the same two channels", after)
	}
	before, _ := devsink.ReadDir(cfg.DevSinkDir)
	for _, id := range []any{mail["id"], hook["id"]} {
		out := s.must(200, "dev", "POST", "/api/v1/notification-channels/"+id.(string)+"/test", nil)
		if out["outcome"] != "sent" {
			t.Errorf("test message on %v: %v", id, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if es, _ := devsink.ReadDir(cfg.DevSinkDir); len(es) >= len(before)+2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	es, _ := devsink.ReadDir(cfg.DevSinkDir)
	if len(es) != len(before)+2 || es[0].Seq != before[0].Seq {
		t.Errorf("after the test messages the sink keeps %d (had %d), want the old ones and two more", len(es), len(before))
	}

	// With the receiver off, its channel is disabled rather than left
	// failing against a closed port.
	stop()
	noHook := cfg
	noHook.DevSinkAddr = "off"
	s, _ = startDev(t, noHook)
	off := channels()
	if len(off) != 2 || off[app.DemoWebhookChannel]["enabled"] != false || off[app.DemoMailChannel]["enabled"] != true {
		t.Errorf("with DEV_SINK_ADDR=off: %v, want the webhook channel disabled", off)
	}
}
