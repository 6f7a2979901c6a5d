package dispatch_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestDecisionRequestLimits: a decision's user (128 characters, one line)
// and comment (2,000 characters) are bounded, counted in characters, not
// bytes. A request within the limits passes validation and goes on to look
// up the incident (unknown here: ErrNotFound), so no Temporal is needed.
func TestDecisionRequestLimits(t *testing.T) {
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "acme")
	d := &dispatch.Decider{DB: db}
	tests := []struct {
		name    string
		req     dispatch.DecisionRequest
		badOnes []string // the parameters refused; none: validation passes
	}{
		{"user at the limit, in multibyte letters", dispatch.DecisionRequest{Action: "approve", User: strings.Repeat("é", incident.MaxUser)}, nil},
		{"user one over", dispatch.DecisionRequest{Action: "approve", User: strings.Repeat("u", incident.MaxUser+1)}, []string{"user"}},
		{"user of 10,000 characters", dispatch.DecisionRequest{Action: "acknowledge", User: strings.Repeat("olga", 2500)}, []string{"user"}},
		{"user on two lines", dispatch.DecisionRequest{Action: "approve", User: "olga\nroot approved everything"}, []string{"user"}},
		{"comment at the limit, in multibyte letters", dispatch.DecisionRequest{Action: "reject", Comment: strings.Repeat("ü", incident.MaxComment)}, nil},
		{"comment one over", dispatch.DecisionRequest{Action: "reject", Comment: strings.Repeat("c", incident.MaxComment+1)}, []string{"comment"}},
		{"both over", dispatch.DecisionRequest{Action: "approve", User: strings.Repeat("u", 200), Comment: strings.Repeat("c", 3000)}, []string{"user", "comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.Decide(context.Background(), "acme", "key:ops", "inc-unknown", tt.req)
			if tt.badOnes == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Decide = %v, want it past validation (ErrNotFound for the unknown incident)", err)
				}
				return
			}
			var de *dispatch.DecisionError
			if !errors.As(err, &de) || de.Reason != dispatch.RefusedInvalid {
				t.Fatalf("Decide = %v, want it refused as invalid", err)
			}
			var got []string
			for _, p := range de.Problems {
				got = append(got, p.Field)
			}
			if strings.Join(got, ",") != strings.Join(tt.badOnes, ",") {
				t.Errorf("refused %v, want %v (%+v)", got, tt.badOnes, de.Problems)
			}
		})
	}
}
