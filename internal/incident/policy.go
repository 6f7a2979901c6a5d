package incident

import (
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
)

// Policy is a tenant's rules for handling incidents.
type Policy struct {
	// CollectWindow is how long an incident gathers anomalies before it is
	// validated.
	CollectWindow Duration `json:"collect_window"`
	// RejectBelow closes incidents whose confidence is lower as false
	// positives; AutoApproveAt approves those at or above it without asking.
	RejectBelow   float64 `json:"reject_below"`
	AutoApproveAt float64 `json:"auto_approve_at"`
	// ApprovalTimeout is how long each escalation stage waits for a human.
	ApprovalTimeout Duration `json:"approval_timeout"`
	// EscalationStages is how many escalation notices go out before
	// TimeoutDecision (Approve or Reject) is taken.
	EscalationStages int    `json:"escalation_stages"`
	TimeoutDecision  Action `json:"timeout_decision"`
	// ClearAfter marks an incident cleared when no anomaly came for this long.
	ClearAfter Duration `json:"clear_after"`
	// PersistenceReadings is how many anomalous readings of one sensor count
	// as persistent.
	PersistenceReadings int `json:"persistence_readings"`
	// MinSeverity closes incidents whose evidence stays below it without
	// asking anyone.
	MinSeverity anomaly.Severity `json:"min_severity"`
}

// DefaultPolicy is the policy of a tenant that has not set one.
func DefaultPolicy() Policy {
	return Policy{
		CollectWindow:       Duration(30 * time.Second),
		RejectBelow:         0.3,
		AutoApproveAt:       0.9,
		ApprovalTimeout:     Duration(30 * time.Minute),
		EscalationStages:    2,
		TimeoutDecision:     Approve,
		ClearAfter:          Duration(15 * time.Minute),
		PersistenceReadings: 3,
		MinSeverity:         anomaly.Minor,
	}
}
