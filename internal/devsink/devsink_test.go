package devsink_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/devsink"
	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
)

const secret = "dev-sink-test-secret"

var msg = notify.Message{
	Subject:    "mill-01: work order scheduled — ümlaut",
	Text:       "Incident inc-1 on mill-01 was approved.",
	HTML:       "<p>Incident <b>inc-1</b> was approved.</p>",
	Severity:   notify.SeverityMajor,
	IncidentID: "inc-1",
	Links:      notify.IncidentLinks("http://127.0.0.1:8080", "inc-1", "wo-1"),
}

func start(t *testing.T, dir string, keep int) *devsink.Sink {
	t.Helper()
	s, err := devsink.Start(devsink.Options{SMTPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Dir: dir, Keep: keep, WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func send(t *testing.T, s *devsink.Sink, kind string, d notify.Delivery, m notify.Message) error {
	t.Helper()
	ctx := context.Background()
	switch kind {
	case "email":
		e := &notify.Email{Config: notify.SMTPConfig{Addr: s.SMTPAddr(), From: "smartmaint <smartmaint@localhost>"}}
		return e.Send(ctx, store.Channel{Kind: "email", Target: "ops@demo.example, Sue <sue@demo.example>"}, d, m)
	default:
		return (&notify.Webhook{}).Send(ctx, store.Channel{Kind: "webhook", Target: s.WebhookURL(), Secret: secret}, d, m)
	}
}

func linkURLs(links []notify.Link) string {
	var out []string
	for _, l := range links {
		out = append(out, l.Title+"="+l.URL)
	}
	return strings.Join(out, " ")
}

func TestSinkReceivesEmailAndWebhooks(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir, 10)
	d := notify.Delivery{ID: "d-1", Key: "inc-1/scheduled", Tenant: "demo", Attempt: 1}
	if err := send(t, s, "email", d, msg); err != nil {
		t.Fatal(err)
	}
	if err := send(t, s, "webhook", d, msg); err != nil {
		t.Fatal(err)
	}
	// A retry with the same delivery id is acknowledged, not kept twice.
	d.Attempt = 2
	if err := send(t, s, "webhook", d, msg); err != nil {
		t.Fatal(err)
	}
	got := s.Entries()
	if len(got) != 2 {
		t.Fatalf("entries = %+v, want an email and one webhook", got)
	}
	wantLinks := linkURLs(msg.Links)
	email, hook := got[0], got[1]
	if email.Kind != devsink.KindEmail || email.Subject != "[MAJOR] "+msg.Subject || strings.Join(email.To, ",") != "ops@demo.example,sue@demo.example" ||
		email.From != "smartmaint@localhost" || email.DeliveryID != "d-1" || email.Severity != "major" || email.IncidentID != "inc-1" ||
		!strings.HasPrefix(email.Text, msg.Text) || !strings.Contains(email.HTML, `<a href="http://127.0.0.1:8080/api/v1/work-orders/wo-1">`) ||
		linkURLs(email.Links) != wantLinks || email.Received.IsZero() {
		t.Errorf("email entry = %+v", email)
	}
	if hook.Kind != devsink.KindWebhook || hook.Subject != msg.Subject || hook.URL != "/webhook" || !hook.Verified || hook.Text != msg.Text ||
		linkURLs(hook.Links) != wantLinks || hook.Seq != email.Seq+1 {
		t.Errorf("webhook entry = %+v", hook)
	}

	// A request without the right signature is refused with a JSON error.
	body := []byte(`{"subject":"forged"}`)
	for name, sign := range map[string]func(*http.Request){
		"unsigned": func(*http.Request) {},
		"wrong secret": func(r *http.Request) {
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			r.Header.Set(notify.TimestampHeader, ts)
			r.Header.Set(notify.SignatureHeader, notify.Sign([]byte("not-the-secret"), ts, body))
		},
	} {
		req, _ := http.NewRequest("POST", s.WebhookURL(), bytes.NewReader(body))
		sign(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 401 || e.Error.Code != "bad_signature" || e.Error.Message == "" {
			t.Errorf("%s: %d %+v, want 401 bad_signature", name, resp.StatusCode, e)
		}
	}
	if n := len(s.Entries()); n != 2 {
		t.Errorf("refused requests were kept: %d entries", n)
	}

	// The page and the JSON list show them, newest first.
	page := get(t, s.URL()+"/")
	for _, want := range []string{"[MAJOR] mill-01: work order scheduled — ümlaut", "ops@demo.example", "POST /webhook",
		`href="http://127.0.0.1:8080/ui/#incident-inc-1"`, "Incident inc-1 on mill-01 was approved."} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	var list []devsink.Entry
	if err := json.Unmarshal([]byte(get(t, s.URL()+"/messages")), &list); err != nil || len(list) != 2 || list[0].Kind != devsink.KindWebhook {
		t.Errorf("/messages = %+v, %v", list, err)
	}
	resp, err := http.Get(s.URL() + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("unknown path: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// On disk too, for `smartmaint dev mail` and the next start.
	kept, err := devsink.ReadDir(dir)
	if err != nil || len(kept) != 2 || kept[0].Subject != email.Subject {
		t.Fatalf("ReadDir = %+v, %v", kept, err)
	}
	var text bytes.Buffer
	devsink.WriteText(&text, kept)
	if out := text.String(); !strings.Contains(out, "to: ops@demo.example, sue@demo.example") || !strings.Contains(out, "link: Work order (API) http://127.0.0.1:8080/api/v1/work-orders/wo-1") {
		t.Errorf("WriteText = %s", out)
	}
}

func TestSinkIsBoundedAndSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir, 3)
	for i := range 5 {
		m := msg
		m.Subject = "message " + string(rune('a'+i))
		if err := send(t, s, "webhook", notify.Delivery{ID: m.Subject, Key: m.Subject, Tenant: "demo", Attempt: 1}, m); err != nil {
			t.Fatal(err)
		}
	}
	subjects := func(es []devsink.Entry) string {
		var out []string
		for _, e := range es {
			out = append(out, e.Subject)
		}
		return strings.Join(out, ",")
	}
	if got := subjects(s.Entries()); got != "message c,message d,message e" {
		t.Errorf("kept %q, want the newest 3", got)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) != 3 {
		t.Errorf("%d files on disk, want 3", len(files))
	}
	s.Close()

	// A new sink on the same folder has them and numbers on.
	s2 := start(t, dir, 3)
	if err := send(t, s2, "email", notify.Delivery{ID: "x", Key: "x", Tenant: "demo", Attempt: 1}, msg); err != nil {
		t.Fatal(err)
	}
	got := s2.Entries()
	if subjects(got) != "message d,message e,[MAJOR] "+msg.Subject || got[2].Seq != 6 {
		t.Errorf("after restart: %+v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := s2.Wait(ctx, func(es []devsink.Entry) bool { return len(es) == 3 }); err != nil {
		t.Errorf("Wait: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "000000000003.json")); !os.IsNotExist(err) {
		t.Errorf("the oldest file is still there: %v", err)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}
