package api_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
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
	h := &api.Incidents{DB: db}
	p := auth.Principal{TenantID: "acme", KeyName: "ops", Scopes: []apikey.Scope{apikey.IncidentsDecide}}
	tests := []struct {
		name    string
		req     api.DecisionRequest
		badOnes []string // the parameters refused; none: validation passes
	}{
		{"user at the limit, in multibyte letters", api.DecisionRequest{Action: "approve", User: strings.Repeat("é", api.MaxDecisionUser)}, nil},
		{"user one over", api.DecisionRequest{Action: "approve", User: strings.Repeat("u", api.MaxDecisionUser+1)}, []string{"user"}},
		{"user of 10,000 characters", api.DecisionRequest{Action: "acknowledge", User: strings.Repeat("olga", 2500)}, []string{"user"}},
		{"user on two lines", api.DecisionRequest{Action: "approve", User: "olga\nroot approved everything"}, []string{"user"}},
		{"comment at the limit, in multibyte letters", api.DecisionRequest{Action: "reject", Comment: strings.Repeat("ü", api.MaxDecisionComment)}, nil},
		{"comment one over", api.DecisionRequest{Action: "reject", Comment: strings.Repeat("c", api.MaxDecisionComment+1)}, []string{"comment"}},
		{"both over", api.DecisionRequest{Action: "approve", User: strings.Repeat("u", 200), Comment: strings.Repeat("c", 3000)}, []string{"user", "comment"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := h.Decide(context.Background(), p, "inc-unknown", tt.req)
			if tt.badOnes == nil {
				if !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Decide = %v, want it past validation (ErrNotFound for the unknown incident)", err)
				}
				return
			}
			var de *api.DecisionError
			if !errors.As(err, &de) || de.Status != http.StatusUnprocessableEntity || de.Code != "invalid_decision" {
				t.Fatalf("Decide = %v, want a 422 invalid_decision", err)
			}
			var got []string
			for _, pe := range de.Details.([]api.ParamError) {
				got = append(got, pe.Param)
			}
			if strings.Join(got, ",") != strings.Join(tt.badOnes, ",") {
				t.Errorf("refused %v, want %v (%+v)", got, tt.badOnes, de.Details)
			}
		})
	}
}
