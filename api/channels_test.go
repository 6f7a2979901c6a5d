package api_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestChannelTestRevealsOnlyTheOutcome: POST /notification-channels/{id}/test
// on a webhook aimed at services of the plant network (here the API itself,
// which answers 401 with its own error body, and PostgreSQL, which hangs
// up) answers 502 with the outcome in general terms, never what the
// service said.
func TestChannelTestRevealsOnlyTheOutcome(t *testing.T) {
	s, _ := newMaintenanceServer(t)
	const path = "/api/v1/notification-channels"
	for _, tt := range []struct{ name, target, want string }{
		{"the API itself", s.URL + "/api/v1/assets", "the target answered with an HTTP 4xx status (client error)"},
		{"PostgreSQL", "http://127.0.0.1:5432/", "connection closed before an HTTP answer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := s.mustCreate(t, "admin", path, `{"name":"`+tt.name+`","kind":"webhook","target":"`+tt.target+`","secret":"a-long-enough-secret"}`)
			code, body, _ := s.do(t, "admin", "POST", path+"/"+id+"/test", "", "")
			raw, _ := json.Marshal(body)
			e, _ := body["error"].(map[string]any)
			details, _ := e["details"].(map[string]any)
			if code != 502 || errCode(body) != "channel_failed" || details["outcome"] != "failed" || details["error"] != tt.want ||
				e["message"] != "the channel did not accept the test message: "+tt.want {
				t.Errorf("test = %d %s, want 502 channel_failed with error %q", code, raw, tt.want)
			}
			for _, leak := range []string{"missing API key", "unauthenticated", "EOF", "127.0.0.1"} {
				if strings.Contains(string(raw), leak) {
					t.Errorf("the answer repeats %q: %s", leak, raw)
				}
			}
		})
	}
}
