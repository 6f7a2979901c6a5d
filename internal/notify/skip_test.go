package notify_test

import (
	"context"
	"slices"
	"testing"

	"github.com/smartmaint/smartmaint/internal/notify"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestDeliverSaysWhyNothingWasSent: a message that reaches no channel
// tells apart a tenant without channels, one whose channels are all
// disabled, and one whose channels do not take the severity.
func TestDeliverSaysWhyNothingWasSent(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	n := notify.New(db, notify.Config{}, nil)
	for _, tc := range []struct {
		tenant   string
		channels []store.Channel
		want     notify.Skip
	}{
		{"bare", nil, notify.NoChannels},
		{"paused", []store.Channel{{Name: "off", Kind: "webhook", Target: "http://127.0.0.1:9/x", Secret: "0123456789abcdef", Enabled: false}}, notify.NoneEnabled},
		{"picky", []store.Channel{{Name: "pager", Kind: "webhook", Target: "http://127.0.0.1:9/x", Secret: "0123456789abcdef", Enabled: true, MinSeverity: "critical"}}, notify.BelowSeverity},
	} {
		t.Run(tc.tenant, func(t *testing.T) {
			testenv.Tenant(t, db, tc.tenant)
			for _, c := range tc.channels {
				if _, err := db.CreateChannel(ctx, tc.tenant, c); err != nil {
					t.Fatal(err)
				}
			}
			rep, err := n.Deliver(ctx, tc.tenant, "k/"+tc.tenant, notify.Message{Subject: "s", Text: "t", Severity: notify.SeverityMajor})
			if err != nil || len(rep.Results) != 0 || rep.Skipped != tc.want {
				t.Fatalf("Deliver = %+v, %v; want no results, skipped %q", rep, err, tc.want)
			}
		})
	}
}

func TestDeliverToSomeChannelSkipsNothing(t *testing.T) {
	f := newFixture(t)
	rep, _ := f.n.Deliver(context.Background(), "acme", "k/some", testMessage)
	if len(rep.Results) == 0 || rep.Skipped != "" {
		t.Fatalf("Deliver = %+v; want results and no skip reason", rep)
	}
}

func TestIncidentLinks(t *testing.T) {
	for _, tc := range []struct {
		base, incident, workOrder string
		want                      []string
	}{
		{"", "inc-1", "wo-1", nil},
		{"https://sm.example/", "", "", nil},
		{"https://sm.example/", "inc-1", "", []string{"https://sm.example/ui/#incident-inc-1", "https://sm.example/api/v1/incidents/inc-1"}},
		{"http://127.0.0.1:8080", "inc 1", "wo-1", []string{"http://127.0.0.1:8080/ui/#incident-inc%201", "http://127.0.0.1:8080/api/v1/incidents/inc%201",
			"http://127.0.0.1:8080/api/v1/work-orders/wo-1"}},
	} {
		var got []string
		for _, l := range notify.IncidentLinks(tc.base, tc.incident, tc.workOrder) {
			if l.Title == "" {
				t.Errorf("%+v: link %q has no title", tc, l.URL)
			}
			got = append(got, l.URL)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("IncidentLinks(%q, %q, %q) = %q, want %q", tc.base, tc.incident, tc.workOrder, got, tc.want)
		}
	}
}
