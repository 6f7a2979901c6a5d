package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Slack posts messages to a Slack incoming webhook (or a compatible one:
// Mattermost, Rocket.Chat and Teams workflows read the same "text" field).
// The payload has a plain-text fallback and Block Kit blocks: a header, the
// body, the links and a context line with severity and incident.
type Slack struct {
	// Client makes the requests; nil as for Webhook.
	Client *http.Client
}

// Slack's limits on block text.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
)

var severityEmoji = map[Severity]string{
	SeverityInfo: ":information_source:", SeverityWarning: ":warning:", SeverityMinor: ":large_yellow_circle:",
	SeverityMajor: ":large_orange_circle:", SeverityCritical: ":red_circle:",
}

// Send implements Sender.
func (s *Slack) Send(ctx context.Context, ch store.Channel, d Delivery, m Message) error {
	body, err := json.Marshal(SlackPayload(d, m))
	if err != nil {
		return permanent(fmt.Errorf("slack: encode: %w", err))
	}
	if err := postJSON(ctx, s.Client, ch.Target, body, nil); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// SlackPayload is the incoming-webhook body for m.
func SlackPayload(d Delivery, m Message) map[string]any {
	text := slackEscape(m.Text)
	if len(m.Links) > 0 {
		links := make([]string, len(m.Links))
		for i, l := range m.Links {
			links[i] = fmt.Sprintf("<%s|%s>", strings.NewReplacer("|", "%7C", ">", "%3E").Replace(l.URL), slackEscape(l.Title))
		}
		text += "\n" + strings.Join(links, " · ")
	}
	footer := fmt.Sprintf("*Severity:* %s", m.Severity)
	if m.IncidentID != "" {
		footer += fmt.Sprintf(" · *Incident:* `%s`", slackEscape(m.IncidentID))
	}
	footer += fmt.Sprintf(" · delivery `%s`", d.ID)
	header := strings.TrimSpace(severityEmoji[m.Severity] + " " + m.Subject)
	blocks := []map[string]any{
		{"type": "header", "text": map[string]any{"type": "plain_text", "text": truncate(header, slackHeaderMax), "emoji": true}},
	}
	if text != "" {
		blocks = append(blocks, map[string]any{"type": "section", "text": map[string]any{"type": "mrkdwn", "text": truncate(text, slackSectionMax)}})
	}
	blocks = append(blocks, map[string]any{"type": "context", "elements": []map[string]any{{"type": "mrkdwn", "text": footer}}})
	return map[string]any{
		"text":   fmt.Sprintf("[%s] %s", m.Severity, m.Subject),
		"blocks": blocks,
	}
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// truncate shortens s to at most n characters (runes), marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
