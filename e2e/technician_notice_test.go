package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/devsink"
	"github.com/smartmaint/smartmaint/internal/notify"
)

// TestReassignmentTellsBothTechnicians: on the dev stack, a work order
// booked on Ada and moved to Bob by the API (the same request twice) tells
// Ada of the assignment and of losing it and Bob of getting it, each once
// by email and once on each of the tenant's channels, with the work
// order's link.
func TestReassignmentTellsBothTechnicians(t *testing.T) {
	cfg := devConfig(t)
	s, _ := startDev(t, cfg)
	allDay := [][]string{{"00:00", "24:00"}}
	week := map[string]any{"mon": allDay, "tue": allDay, "wed": allDay, "thu": allDay, "fri": allDay, "sat": allDay, "sun": allDay}
	ada := s.must(201, "dev", "POST", "/api/v1/technicians", map[string]any{"name": "Ada", "email": "ada@example.com", "time_zone": "UTC", "shifts": week})
	bob := s.must(201, "dev", "POST", "/api/v1/technicians", map[string]any{"name": "Bob", "email": "bob@example.com", "time_zone": "UTC", "shifts": week})
	s.must(201, "dev", "POST", "/api/v1/assets", map[string]any{"id": "roller-3", "type": "conveyor"})
	start := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Hour)
	planned := s.must(201, "dev", "POST", "/api/v1/work-orders", map[string]any{
		"asset_id": "roller-3", "title": "Align rollers", "priority": "critical", "estimated_minutes": 60,
		"deadline": start.Add(4 * time.Hour), "technician_id": ada["id"], "scheduled_start": start,
	})
	wo := planned["work_order"].(map[string]any)
	for range 2 {
		s.must(200, "dev", "PUT", "/api/v1/work-orders/"+wo["id"].(string)+"/assignment", map[string]any{"technician_id": bob["id"], "start": start})
	}

	var got []devsink.Entry
	eventually(t, 60*time.Second, "three notices by email and on both channels", func() bool {
		es, err := devsink.ReadDir(cfg.DevSinkDir)
		if err != nil {
			t.Fatal(err)
		}
		got = slices.DeleteFunc(es, func(e devsink.Entry) bool { return !strings.Contains(e.Subject, `"Align rollers"`) })
		return len(got) >= 9
	})
	time.Sleep(6 * time.Second) // another sweep: nothing more
	es, _ := devsink.ReadDir(cfg.DevSinkDir)
	got = slices.DeleteFunc(es, func(e devsink.Entry) bool { return !strings.Contains(e.Subject, `"Align rollers"`) })
	count := map[string]int{}
	for _, e := range got {
		who := e.Kind
		if e.Kind == devsink.KindEmail {
			who = strings.Join(e.To, ",")
		}
		what := "assigned"
		switch {
		case strings.Contains(e.Subject, "taken off"):
			what = "unassigned"
		case strings.Contains(e.Subject, "moved"):
			what = "reassigned"
		}
		count[who+" "+what]++
		if !slices.ContainsFunc(e.Links, func(l notify.Link) bool { return strings.HasSuffix(l.URL, "/api/v1/work-orders/"+wo["id"].(string)) }) {
			t.Errorf("%s %q without the work order's link: %v", e.Kind, e.Subject, e.Links)
		}
	}
	for _, k := range []string{"ada@example.com assigned", "ada@example.com unassigned", "bob@example.com reassigned",
		devsink.KindWebhook + " assigned", devsink.KindWebhook + " unassigned", devsink.KindWebhook + " reassigned"} {
		if count[k] != 1 {
			t.Errorf("%s: %d messages, want 1 (all: %v)", k, count[k], count)
		}
	}
	if len(got) != 9 {
		t.Errorf("%d messages, want 9: %v", len(got), count)
	}
}
