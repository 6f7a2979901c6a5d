package schedule

import (
	"errors"
	"slices"
)

// Movable is a booking that has not started and that more urgent work may
// displace. Its interval is also among the technician's Bookings.
type Movable struct {
	// ID names the displaced job to the caller.
	ID string `json:"id"`
	Interval
	// Weight is the booked job's lateness weight, as Job.Weight (0 means 1):
	// only a job of higher weight displaces it.
	Weight float64 `json:"weight"`
}

func (m Movable) weight() float64 {
	if m.Weight == 0 {
		return 1
	}
	return m.Weight
}

// Preemption is where AssignPreempting placed a job and what it displaced.
type Preemption struct {
	Assignment
	// Displaced lists the IDs of the movable bookings the slot overlaps, in
	// start order. The caller must free and place them again; empty when the
	// job fitted around every booking.
	Displaced []string `json:"displaced,omitempty"`
}

// AssignPreempting places job as Assign does and, when that slot is late (or
// there is none), considers displacing lower-weight work that has not
// started: on each qualified technician it searches the calendar without the
// Movable bookings lighter than job and keeps the slot that ends first,
// provided it ends before Assign's. Ties go to the slot displacing fewer
// bookings, then to the earlier technician in techs. Work in progress (any
// booking not listed in Movable) is never displaced. The errors are Assign's.
func AssignPreempting(job Job, techs []Technician, opts Options) (Preemption, error) {
	a, err := Assign(job, techs, opts)
	if err != nil && !errors.Is(err, ErrNoSlot) {
		return Preemption{}, err
	}
	if err == nil && !a.Late {
		return Preemption{Assignment: a}, nil
	}
	var (
		best  Preemption
		found bool
	)
	for i := range techs {
		t := techs[i]
		if !t.qualified(job.Skills) {
			continue
		}
		var freed []Movable
		for _, m := range t.Movable {
			if m.weight() < job.weight() {
				freed = append(freed, m)
			}
		}
		if len(freed) == 0 {
			continue
		}
		t.Bookings = withoutIntervals(t.Bookings, freed)
		t.Movable = nil
		p, perr := Assign(job, []Technician{t}, opts)
		if perr != nil || err == nil && !p.End.Before(a.End) {
			continue
		}
		var displaced []Movable
		for _, m := range freed {
			if m.Start.Before(p.End) && p.Start.Before(m.End) {
				displaced = append(displaced, m)
			}
		}
		if found && (p.End.After(best.End) || p.End.Equal(best.End) && len(displaced) >= len(best.Displaced)) {
			continue
		}
		slices.SortFunc(displaced, func(x, y Movable) int { return x.Start.Compare(y.Start) })
		ids := make([]string, len(displaced))
		for k, m := range displaced {
			ids[k] = m.ID
		}
		best, found = Preemption{Assignment: p, Displaced: ids}, true
	}
	if !found {
		return Preemption{Assignment: a}, err
	}
	return best, nil
}

// withoutIntervals returns bookings without one occurrence of each freed
// interval.
func withoutIntervals(bookings []Interval, freed []Movable) []Interval {
	out := slices.Clone(bookings)
	for _, m := range freed {
		if i := slices.IndexFunc(out, func(b Interval) bool { return b.Start.Equal(m.Start) && b.End.Equal(m.End) }); i >= 0 {
			out = slices.Delete(out, i, i+1)
		}
	}
	return out
}
