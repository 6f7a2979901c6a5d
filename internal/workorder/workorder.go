// Package workorder is the vocabulary of maintenance work orders: their
// lifecycle statuses and the rules between them, and their priorities.
// Everything that stores, plans, reports on or waits for work orders
// shares it, so a status is spelled once.
package workorder

// Status is a stage of a work order's lifecycle:
// scheduled → in_progress → done, and scheduled or in_progress → cancelled.
type Status string

// The work order statuses.
const (
	Scheduled  Status = "scheduled"
	InProgress Status = "in_progress"
	Done       Status = "done"
	Cancelled  Status = "cancelled"
)

// Statuses lists every status in lifecycle order.
var Statuses = []Status{Scheduled, InProgress, Done, Cancelled}

// OpenSQL is the SQL list of the open statuses, for `status IN ` + OpenSQL.
// It matches Open and the partial indexes of migrations 003 and 008.
const OpenSQL = "('" + string(Scheduled) + "', '" + string(InProgress) + "')"

// Valid reports whether s is one of the statuses.
func (s Status) Valid() bool {
	switch s {
	case Scheduled, InProgress, Done, Cancelled:
		return true
	}
	return false
}

// Next lists the statuses s may change to.
func (s Status) Next() []Status {
	switch s {
	case Scheduled:
		return []Status{InProgress, Cancelled}
	case InProgress:
		return []Status{Done, Cancelled}
	}
	return nil
}

// Open reports whether the work still has to be done (it books its
// technician's time).
func (s Status) Open() bool { return s == Scheduled || s == InProgress }

// Final reports whether s ends the work order's life.
func (s Status) Final() bool { return s == Done || s == Cancelled }

// Priority ranks work orders; its Weight scales lateness when planning.
type Priority string

// The priorities, most urgent first.
const (
	Critical Priority = "critical"
	High     Priority = "high"
	Medium   Priority = "medium"
	Low      Priority = "low"
)

// Priorities lists every priority, most urgent first.
var Priorities = []Priority{Critical, High, Medium, Low}

// Valid reports whether p is one of the priorities.
func (p Priority) Valid() bool {
	switch p {
	case Critical, High, Medium, Low:
		return true
	}
	return false
}

// Weight is the priority's lateness weight: critical 8, high 4, medium 2,
// low 1 (an hour late on a critical job costs as much as a working day late
// on a low one).
func (p Priority) Weight() float64 {
	switch p {
	case Critical:
		return 8
	case High:
		return 4
	case Medium:
		return 2
	}
	return 1
}
