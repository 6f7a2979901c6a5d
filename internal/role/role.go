// Package role defines the roles a user of a tenant holds and what each
// role may do. It is a leaf: the account store, the API's route table and
// the UI take their vocabulary from here.
//
// What a role may do is said once, as a set of capabilities; a route names
// the capability it needs and asks Set.May.
package role

import (
	"fmt"
	"slices"
	"strings"
)

// Role is a named bundle of capabilities. A user may hold several.
type Role string

// The roles.
const (
	// Viewer sees assets, readings, incidents, work orders and reports.
	Viewer Role = "viewer"
	// Operator also decides incidents (acknowledge, dismiss, raise a work order).
	Operator Role = "operator"
	// Technician also works on the work orders assigned to them.
	Technician Role = "technician"
	// Planner also schedules and re-plans work orders and keeps the
	// preventive schedules.
	Planner Role = "planner"
	// Admin manages users, API keys, notification channels, policy and
	// models; it holds every capability.
	Admin Role = "admin"
)

// All lists every role in a stable order.
var All = []Role{Viewer, Operator, Technician, Planner, Admin}

// Capability is one thing a role may do.
type Capability string

// The capabilities.
const (
	// View reads anything of the tenant.
	View Capability = "view"
	// DecideIncidents acknowledges, dismisses and escalates incidents.
	DecideIncidents Capability = "decide_incidents"
	// WorkAssigned starts, reports on and completes the work orders
	// assigned to the user's technician record (and only those).
	WorkAssigned Capability = "work_assigned"
	// Plan schedules and re-plans work orders and edits preventive schedules.
	Plan Capability = "plan"
	// Administer manages users, API keys, channels, policy and models.
	Administer Capability = "administer"
)

// capabilities is what each role may do, the one place it is said.
var capabilities = map[Role][]Capability{
	Viewer:     {View},
	Operator:   {View, DecideIncidents},
	Technician: {View, WorkAssigned},
	Planner:    {View, Plan},
	Admin:      {View, DecideIncidents, WorkAssigned, Plan, Administer},
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool {
	_, ok := capabilities[r]
	return ok
}

// May reports whether r grants c.
func (r Role) May(c Capability) bool { return slices.Contains(capabilities[r], c) }

// Parse returns the role named s.
func Parse(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", unknown(r)
	}
	return r, nil
}

func unknown(r Role) error {
	return fmt.Errorf("role: unknown role %q (want one of %s)", r, Names())
}

// Names is the roles as a comma-separated list, for messages.
func Names() string {
	names := make([]string, len(All))
	for i, r := range All {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// Set is the roles one user holds.
type Set []Role

// May reports whether any role in s grants c.
func (s Set) May(c Capability) bool {
	return slices.ContainsFunc(s, func(r Role) bool { return r.May(c) })
}

// Normalize returns s sorted in the order of All without duplicates; it
// reports an error naming the first unknown role.
func (s Set) Normalize() (Set, error) {
	out := Set{}
	for _, r := range All {
		if slices.Contains(s, r) {
			out = append(out, r)
		}
	}
	for _, r := range s {
		if !r.Valid() {
			return nil, unknown(r)
		}
	}
	return out, nil
}
