package e2e

import (
	"bytes"
	"context"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/smartmaint/smartmaint/internal/apikey"
)

// chromiumPath is Debian's chromium (apt-get install -y chromium).
const chromiumPath = "/usr/bin/chromium"

// browser starts a headless Chromium with a fresh profile for the test and
// returns a tab.
func browser(t *testing.T) *tab {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		t.Fatalf("the operator page test drives Debian's chromium: apt-get install -y chromium (%v)", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser; no timeout on this one
		t.Fatalf("start chromium: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

// tab runs browser actions, each step within a minute, failing the test
// on an error.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func run[T any](b *tab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// TestOperatorPageApproval: an incident awaiting approval shows on the
// operator page with its evidence chart; an operator signs in with an API
// key, approves it with the page's button, and the incident is approved
// (by that person) in the API and on the page; screenshots show the chart
// and the confirmation.
func TestOperatorPageApproval(t *testing.T) {
	s := startStack(t, nil)
	s.key("admin", "acme", apikey.Admin)
	s.key("sensor", "acme", apikey.ReadingsWrite)
	s.key("operator", "acme", apikey.IncidentsDecide, apikey.ReadingsRead)
	s.must(201, "admin", "POST", "/api/v1/assets", map[string]any{"id": "mill-1", "type": "milling-machine", "name": "Mill 1", "location": "hall B",
		"metadata": map[string]any{"required_skills": []string{"mechanical"}, "repair_minutes": 60}})
	s.must(201, "admin", "POST", "/api/v1/assets/mill-1/sensors", map[string]any{"id": "torque", "unit": "Nm",
		"min_valid": 0, "max_valid": 200, "warn_high": 60, "alarm_high": 70})
	allDay := [][]string{{"00:00", "24:00"}}
	week := map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}
	s.must(201, "admin", "POST", "/api/v1/technicians", map[string]any{"name": "Olga", "skills": []string{"mechanical"}, "time_zone": "UTC", "shifts": week})
	s.must(200, "admin", "PUT", "/api/v1/incident-policy", map[string]any{
		"collect_window": "1s", "reject_below": 0.2, "auto_approve_at": 0.99, "approval_timeout": "1h",
		"escalation_stages": 1, "timeout_decision": "reject", "clear_after": "15m", "persistence_readings": 3,
	})
	// A minute of normal torque, then four readings past the alarm limit.
	now := time.Now().UTC().Add(-2 * time.Second)
	s.must(201, "sensor", "POST", "/api/v1/readings", series("mill-1", "torque", now.Add(-64*time.Second), time.Second, 60, func(i int) any { return 40 + i%5 }))
	s.must(201, "sensor", "POST", "/api/v1/readings", series("mill-1", "torque", now, 300*time.Millisecond, 4, func(i int) any { return 80 + i }))
	id := s.awaitingApproval("operator")
	card := "#incident-" + id

	b := browser(t)
	shots := screenshotDir(t)
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }

	// Without a session the page sends us to sign in.
	b.do("open the overview", chromedp.Navigate(s.baseURL+"/ui/"), chromedp.WaitVisible(css("#api_key")))
	if loc := run(b, "location", chromedp.Location()); !strings.HasSuffix(loc, "/ui/login") {
		t.Errorf("without a session the page is %s, want the sign-in", loc)
	}
	b.do("sign in",
		chromedp.SendKeys(css("#api_key"), s.keys["operator"]),
		chromedp.Click(css("form button[type=submit]")),
		chromedp.WaitVisible(css(card+" svg.chart")),
	)
	cardText := run(b, "read the incident", chromedp.Text(css(card)))
	chartPNG := run(b, "screenshot the chart", chromedp.Screenshot(css(card+" svg.chart")))
	save(t, shots, "1-awaiting-approval.png", run(b, "screenshot the page", chromedp.FullScreenshot(100)))
	for _, want := range []string{"mill-1", "critical", "awaiting approval", "Approve", "Reject", "Snooze", "Acknowledge"} {
		if !strings.Contains(cardText, want) {
			t.Errorf("the incident card lacks %q: %s", want, cardText)
		}
	}
	// The chart shows red anomaly dots and the alarm line, and the blue
	// reading line.
	if n := pixelsNear(t, chartPNG, color.RGBA{0xa4, 0x0e, 0x26, 0xff}, 40); n < 20 {
		t.Errorf("the evidence chart has %d anomaly-red pixels; the dots or the alarm line are missing", n)
	}
	if n := pixelsNear(t, chartPNG, color.RGBA{0x0b, 0x5c, 0xad, 0xff}, 40); n < 50 {
		t.Errorf("the evidence chart has %d line-blue pixels; the readings are missing", n)
	}

	// Approve with the page's button, as olga.
	b.do("approve",
		chromedp.SendKeys(css(card+" input[name=user]"), "olga"),
		chromedp.SendKeys(css(card+" input[name=comment]"), "spindle torque confirmed on site"),
		chromedp.Click(css(card+" button[value=approve]")),
		chromedp.WaitVisible(css(".flash.ok")),
	)
	if flash, want := run(b, "read the notice", chromedp.Text(css(".flash.ok"))), "Incident "+id+" approved."; flash != want {
		t.Errorf("notice %q, want %q", flash, want)
	}
	flashPNG := run(b, "screenshot the notice", chromedp.Screenshot(css(".flash.ok")))
	if n := pixelsNear(t, flashPNG, color.RGBA{0x1a, 0x7f, 0x37, 0xff}, 40); n < 30 {
		t.Errorf("the confirmation has %d ok-green pixels", n)
	}

	// The incident took the decision: the API says so, and so does the page.
	inc := s.must(200, "operator", "GET", "/api/v1/incidents/"+id, nil)
	if status := field(inc, "incident", "status"); status != "approved" && status != "scheduled" {
		t.Errorf("after the approval the incident is %v", status)
	}
	if field(inc, "state", "decision", "user") != "olga" || field(inc, "state", "decision", "action") != "approve" ||
		field(inc, "state", "decision", "comment") != "spindle torque confirmed on site" {
		t.Errorf("decision %v", field(inc, "state", "decision"))
	}
	eventually(t, 30*time.Second, "the incident to be scheduled", func() bool {
		return field(s.must(200, "operator", "GET", "/api/v1/incidents/"+id, nil), "incident", "status") == "scheduled"
	})
	b.do("reload the overview", chromedp.Navigate(s.baseURL+"/ui/"), chromedp.WaitVisible(css("#incidents "+card)))
	cardText = run(b, "read the incident", chromedp.Text(css(card)))
	save(t, shots, "2-approved.png", run(b, "screenshot the page", chromedp.FullScreenshot(100)))
	for _, want := range []string{"scheduled", "Approved by olga", "spindle torque confirmed on site", "Work order"} {
		if !strings.Contains(cardText, want) {
			t.Errorf("after the approval the incident card lacks %q: %s", want, cardText)
		}
	}
	if approvals := run(b, "read the approvals", chromedp.Text(css("#approvals"))); !strings.Contains(approvals, "No incident waits for a decision.") {
		t.Errorf("the approvals section still lists something: %s", approvals)
	}
	log := s.must(200, "operator", "GET", "/api/v1/assets/mill-1/log?incident="+id, nil)
	found := false
	for _, e := range log["items"].([]any) {
		m := e.(map[string]any)
		found = found || m["event"] == "approved" && m["actor"] == "olga"
	}
	if !found {
		t.Errorf("the maintenance log lacks approved/olga: %v", log["items"])
	}
}

// screenshotDir is where screenshots go: $SMARTMAINT_SCREENSHOTS when set
// (to look at them), otherwise a temporary folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("SMARTMAINT_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

func save(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if len(b) < 10_000 {
		t.Errorf("screenshot %s is only %d bytes", name, len(b))
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// pixelsNear counts the pixels of a PNG screenshot within tol of c on each
// channel.
func pixelsNear(t *testing.T, shot []byte, c color.RGBA, tol int) int {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d <= tol && d >= -tol }
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(b, c.B) {
				n++
			}
		}
	}
	return n
}
