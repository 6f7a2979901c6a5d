// Package incident is the vocabulary of incidents: where an incident
// stands and how it ended, the decisions people take on it, the tenant's
// policy, the evidence it gathers, its validation and forecast, and the
// projection the workflow keeps in PostgreSQL. The incident workflow, its
// activities, the store, the API, the operator page, the reports and the
// MLOps loop all speak it, so each status, resolution and rule is spelled
// here once.
package incident

import "fmt"

// WorkflowID is the workflow id of an asset's incident: one open incident
// per asset, and later anomalies join it.
func WorkflowID(tenant, asset string) string { return "incident/" + tenant + "/" + asset }

// Status is where an incident stands.
type Status string

// The statuses, in the order an incident normally passes them.
const (
	StatusCollecting Status = "collecting"
	StatusValidating Status = "validating"
	StatusAwaiting   Status = "awaiting_approval"
	StatusSnoozed    Status = "snoozed"
	StatusApproved   Status = "approved"
	StatusScheduled  Status = "scheduled"
	StatusInProgress Status = "in_progress"
	StatusResolved   Status = "resolved"
	StatusClosed     Status = "closed"
)

// Statuses lists every status in process order.
var Statuses = []Status{StatusCollecting, StatusValidating, StatusAwaiting, StatusSnoozed,
	StatusApproved, StatusScheduled, StatusInProgress, StatusResolved, StatusClosed}

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Open reports whether an incident in status s is still under way.
func (s Status) Open() bool { return s.Valid() && s != StatusResolved && s != StatusClosed }

// PastApproval reports whether an open incident in status s was approved:
// its work is being planned, booked or done.
func (s Status) PastApproval() bool {
	return s == StatusApproved || s == StatusScheduled || s == StatusInProgress
}

// Resolution says how a closed incident ended.
type Resolution string

// The resolutions.
const (
	// ResolutionFalsePositive: validation found too little evidence.
	ResolutionFalsePositive Resolution = "false_positive"
	// ResolutionBelowPolicy: nothing reached the policy's minimum severity.
	ResolutionBelowPolicy Resolution = "below_policy"
	// ResolutionRejected: a person (or the timeout policy) rejected it.
	ResolutionRejected Resolution = "rejected"
	// ResolutionResolved: its work order was done.
	ResolutionResolved Resolution = "resolved"
	// ResolutionCancelled: its work order was cancelled.
	ResolutionCancelled Resolution = "cancelled"
	// ResolutionOrphaned: its workflow was gone while another incident
	// already held its asset.
	ResolutionOrphaned Resolution = "orphaned"
)

// Resolutions lists every resolution.
var Resolutions = []Resolution{ResolutionResolved, ResolutionCancelled, ResolutionRejected,
	ResolutionFalsePositive, ResolutionBelowPolicy, ResolutionOrphaned}

// FalseAlarm reports whether r says the incident was no real fault: a
// person rejected it or validation found too little evidence.
func (r Resolution) FalseAlarm() bool {
	return r == ResolutionRejected || r == ResolutionFalsePositive
}

// Approved reports whether an incident with status s and resolution r was
// approved, by a person or the policy: it is open past approval, or it was
// closed through its work order (done or cancelled). The false-positive
// feedback of validation and the reports' approval counts use it.
func Approved(s Status, r Resolution) bool {
	return s.PastApproval() || r == ResolutionResolved || r == ResolutionCancelled
}

// RealFault reports whether an incident with status s and resolution r is
// a confirmed fault: approved, and its work not cancelled. It differs from
// Approved on purpose: a cancelled work order withdraws the approval's
// claim that the asset is faulty, so its readings may train the normal
// model again, while for validation's feedback it still counts as a
// decision against a false alarm.
func RealFault(s Status, r Resolution) bool {
	return s.PastApproval() || r == ResolutionResolved
}

// ApprovedSQL is Approved as an SQL condition over the incidents table's
// status and resolution columns, each named with prefix (such as "i.").
func ApprovedSQL(prefix string) string {
	return fmt.Sprintf("(%sstatus IN %s OR %sresolution IN ('%s', '%s'))",
		prefix, pastApprovalSQL, prefix, ResolutionResolved, ResolutionCancelled)
}

// RealFaultSQL is RealFault as an SQL condition, as ApprovedSQL.
func RealFaultSQL(prefix string) string {
	return fmt.Sprintf("(%sstatus IN %s OR %sresolution = '%s')", prefix, pastApprovalSQL, prefix, ResolutionResolved)
}

// FalseAlarmSQL is Resolution.FalseAlarm as an SQL condition, as
// ApprovedSQL.
func FalseAlarmSQL(prefix string) string {
	return fmt.Sprintf("(%sresolution IN ('%s', '%s'))", prefix, ResolutionRejected, ResolutionFalsePositive)
}

const pastApprovalSQL = "('" + string(StatusApproved) + "', '" + string(StatusScheduled) + "', '" + string(StatusInProgress) + "')"

// Application error types the incident workflow's decide update answers
// with (temporal.ApplicationError.Type).
const (
	// ErrTypeNotAwaitingDecision: the incident cannot take this decision
	// now (it is not awaiting one, or it is over).
	ErrTypeNotAwaitingDecision = "NotAwaitingDecision"
	// ErrTypeInvalidDecision: the decision is malformed.
	ErrTypeInvalidDecision = "InvalidDecision"
	// ErrTypeAlreadyAcknowledged: a second acknowledgement.
	ErrTypeAlreadyAcknowledged = "AlreadyAcknowledged"
	// ErrTypeOtherIncident: the decision names an incident other than the
	// one this run carries (the asset's workflow id now holds a newer
	// incident).
	ErrTypeOtherIncident = "OtherIncident"
)
