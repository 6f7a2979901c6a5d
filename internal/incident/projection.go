package incident

import (
	"encoding/json"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
)

// Projection is an incident as PostgreSQL keeps it: the workflow writes it
// at every step (through the Record activity), the store reads it back for
// the API, the operator page, the reports and the restart reconciliation.
// It carries no JSON names of its own because it travels as a Temporal
// payload; the API answers with its own body.
type Projection struct {
	TenantID     string
	ID           string
	AssetID      string
	WorkflowID   string
	Status       Status
	Resolution   Resolution
	Severity     anomaly.Severity
	Active       bool
	Acknowledged bool
	Assignee     string
	Confidence   float64
	Anomalies    int
	WorkOrderID  *string
	// Summary is the encoded Summary.
	Summary json.RawMessage
	// Seq orders the workflow's writes: a write with a lower Seq than the
	// stored one is stale and ignored.
	Seq       int64
	OpenedAt  time.Time
	UpdatedAt time.Time
	ClosedAt  *time.Time
}

// Summary is the part of an incident's state its projection keeps as one
// document: enough to show the incident and to carry it on after its
// workflow was lost.
type Summary struct {
	Evidence        Evidence    `json:"evidence"`
	Validation      *Validation `json:"validation"`
	Decision        *Decision   `json:"decision"`
	Forecast        *Forecast   `json:"forecast"`
	EscalationStage int         `json:"escalation_stage"`
	DecisionDue     time.Time   `json:"decision_due"`
	SnoozedUntil    *time.Time  `json:"snoozed_until,omitempty"`
}

// Event is one step in an incident's history and maintenance log.
type Event struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Event  string    `json:"event"`
	Detail string    `json:"detail"`
}
