package notify_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
)

// slackBody is the part of Slack's incoming-webhook format the tests read.
type slackBody struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"text"`
		Elements []struct {
			Text string `json:"text"`
		} `json:"elements"`
	} `json:"blocks"`
}

// startSlack is a Slack-compatible receiver answering "ok" like Slack.
func startSlack(t *testing.T) (*httptest.Server, chan slackBody) {
	got := make(chan slackBody, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body slackBody
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &body) != nil || body.Text == "" {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		got <- body
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestSlack(t *testing.T) {
	srv, got := startSlack(t)
	msg := testMessage
	msg.Text = "Torque <high> & rising"
	ch := store.Channel{Kind: "slack", Target: srv.URL + "/services/T0/B0/token"}
	if err := (&notify.Slack{}).Send(context.Background(), ch, testDelivery, msg); err != nil {
		t.Fatal(err)
	}
	body := <-got
	if body.Text != "[major] "+msg.Subject {
		t.Errorf("fallback text = %q", body.Text)
	}
	if len(body.Blocks) != 3 || body.Blocks[0].Type != "header" || body.Blocks[1].Type != "section" || body.Blocks[2].Type != "context" {
		t.Fatalf("blocks = %+v", body.Blocks)
	}
	if h := body.Blocks[0].Text.Text; !strings.Contains(h, msg.Subject) || body.Blocks[0].Text.Type != "plain_text" {
		t.Errorf("header = %q", h)
	}
	section := body.Blocks[1].Text.Text
	if !strings.Contains(section, "Torque &lt;high&gt; &amp; rising") || !strings.Contains(section, "<https://smartmaint.example/incidents/inc-42|Incident>") {
		t.Errorf("section = %q", section)
	}
	if c := body.Blocks[2].Elements[0].Text; !strings.Contains(c, "major") || !strings.Contains(c, "inc-42") || !strings.Contains(c, testDelivery.ID) {
		t.Errorf("context = %q", c)
	}

	long := testMessage
	long.Subject = strings.Repeat("é", 400)
	p := notify.SlackPayload(testDelivery, long)
	header := p["blocks"].([]map[string]any)[0]["text"].(map[string]any)["text"].(string)
	if n := len([]rune(header)); n != 150 {
		t.Errorf("header has %d characters, want Slack's limit of 150", n)
	}
}
