package incident

import "github.com/smartmaint/smartmaint/internal/workorder"

// Names of the events in an incident's history and the maintenance log.
const (
	EventOpened              = "opened"
	EventReactivated         = "reactivated"
	EventCollected           = "collected"
	EventClosedBelowPolicy   = "closed-below-policy"
	EventClosedFalsePositive = "closed-false-positive"
	EventApprovalRequested   = "approval-requested"
	EventAcknowledged        = "acknowledged"
	EventDecisionIgnored     = "decision-ignored"
	EventReminded            = "reminded"
	EventEscalated           = "escalated"
	EventApproved            = "approved"
	EventRejected            = "rejected"
	EventSnoozed             = "snoozed"
	EventSnoozeEnded         = "snooze-ended"
	EventForecast            = "forecast"
	EventWorkOrderScheduled  = "work-order-scheduled"
	EventCleared             = "cleared"
	EventResolved            = "resolved"
	EventClosed              = "closed"
	EventNotified            = "notified"
	// EventReattached: a new run carries on an open incident whose
	// workflow was gone.
	EventReattached = "reattached"
	// EventClosedOrphaned: an open incident whose workflow was gone and
	// could not be carried on was closed (ResolutionOrphaned).
	EventClosedOrphaned = "closed-orphaned"
)

// EventWorkOrder is the event of the incident's work order reaching
// status s, such as "work-order-in_progress".
func EventWorkOrder(s workorder.Status) string { return "work-order-" + string(s) }
