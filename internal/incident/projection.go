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

// Header is what every view of an incident leads with: which incident of
// which asset, where it stands and since when. The workflow's IncidentView
// and the API's incident body embed it; Projection carries the same facts
// under its own (payload) names, and Header and HeaderOf convert between
// the two.
type Header struct {
	ID           string           `json:"id"`
	AssetID      string           `json:"asset_id"`
	WorkflowID   string           `json:"workflow_id"`
	Status       Status           `json:"status"`
	Resolution   Resolution       `json:"resolution,omitempty"`
	Severity     anomaly.Severity `json:"severity"`
	Active       bool             `json:"active"`
	Acknowledged bool             `json:"acknowledged"`
	Assignee     string           `json:"assignee,omitempty"`
	Confidence   float64          `json:"confidence"`
	OpenedAt     time.Time        `json:"opened_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
	ClosedAt     *time.Time       `json:"closed_at,omitempty"`
}

// Header is the projection's header.
func (p Projection) Header() Header {
	return Header{ID: p.ID, AssetID: p.AssetID, WorkflowID: p.WorkflowID, Status: p.Status, Resolution: p.Resolution,
		Severity: p.Severity, Active: p.Active, Acknowledged: p.Acknowledged, Assignee: p.Assignee,
		Confidence: p.Confidence, OpenedAt: p.OpenedAt, UpdatedAt: p.UpdatedAt, ClosedAt: p.ClosedAt}
}

// ProjectionOf is the projection of tenant's incident h with the rest of
// what PostgreSQL keeps of it.
func ProjectionOf(tenant string, h Header, anomalies int, workOrderID *string, summary json.RawMessage, seq int64) Projection {
	return Projection{TenantID: tenant, ID: h.ID, AssetID: h.AssetID, WorkflowID: h.WorkflowID, Status: h.Status,
		Resolution: h.Resolution, Severity: h.Severity, Active: h.Active, Acknowledged: h.Acknowledged,
		Assignee: h.Assignee, Confidence: h.Confidence, Anomalies: anomalies, WorkOrderID: workOrderID,
		Summary: summary, Seq: seq, OpenedAt: h.OpenedAt, UpdatedAt: h.UpdatedAt, ClosedAt: h.ClosedAt}
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
