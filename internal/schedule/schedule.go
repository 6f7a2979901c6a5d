// Package schedule plans maintenance jobs onto technicians' calendars. It is
// pure: the caller loads technicians (skills, a weekly shift calendar in their
// time zone, dated absences) and their existing bookings, and gets back a
// technician and a slot, or the reason there is none.
//
// A job runs in one contiguous stretch of a technician's free working time.
// A splittable job may in addition pause over time off (nights, weekends,
// absences) and resume at the next shift, but never around another booking,
// so every job occupies one interval [Start, End) of the calendar: the span a
// work order stores, and which no other booking of that technician overlaps.
//
// Assign places one job at the earliest completion across all qualified
// technicians (ties: the least loaded technician, then the smallest id). When
// nothing finishes before the deadline it returns the least-late slot, flagged
// Late. Plan places several jobs together, choosing the order in which they
// claim slots to minimise the total weighted lateness.
package schedule

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Errors explaining why a job cannot be placed at all; they wrap into the
// error Assign returns.
var (
	// ErrNoQualifiedTechnician: no technician has every required skill.
	ErrNoQualifiedTechnician = errors.New("no technician has the required skills")
	// ErrNoSlot: qualified technicians exist, but none has free working time
	// long enough for the job within the planning horizon.
	ErrNoSlot = errors.New("no free slot long enough within the planning horizon")
	// ErrInvalidJob: the job itself is malformed (no duration, no earliest
	// start, negative weight).
	ErrInvalidJob = errors.New("invalid job")
)

// DefaultHorizon is how far past the later of the job's earliest start and
// its deadline a slot may end.
const DefaultHorizon = 28 * 24 * time.Hour

// DefaultLoadWindow is the span after the earliest start over which
// technicians' booked time is compared to break ties.
const DefaultLoadWindow = 7 * 24 * time.Hour

// Technician is someone who can be booked for jobs.
type Technician struct {
	ID     string
	Skills []string
	// Location is the time zone of Week and Absences; nil means UTC.
	Location *time.Location
	Week     Week
	Absences []Absence
	// Bookings is the time already taken (scheduled and in-progress work);
	// any order, overlaps allowed.
	Bookings []Interval
	// Movable lists the bookings, among Bookings, of work that has not
	// started and that more urgent work may displace (AssignPreempting).
	// Assign and Plan treat them as any other booking.
	Movable []Movable
}

// Job is work to be placed on a technician's calendar.
type Job struct {
	ID string
	// Skills must all be held by the technician.
	Skills []string
	// Duration is the working time the job needs.
	Duration time.Duration
	// EarliestStart is the first instant the job may start (usually now).
	EarliestStart time.Time
	// Deadline is when the job should be finished; zero means none.
	Deadline time.Time
	// Weight scales the job's lateness in Plan's objective; 0 means 1.
	Weight float64
	// Splittable lets the job pause over time off and resume at the next
	// shift.
	Splittable bool
}

func (j Job) weight() float64 {
	if j.Weight == 0 {
		return 1
	}
	return j.Weight
}

func (j Job) validate() error {
	switch {
	case j.Duration <= 0:
		return fmt.Errorf("schedule: job %q: %w: duration must be positive", j.ID, ErrInvalidJob)
	case j.EarliestStart.IsZero():
		return fmt.Errorf("schedule: job %q: %w: earliest start is not set", j.ID, ErrInvalidJob)
	case j.Weight < 0:
		return fmt.Errorf("schedule: job %q: %w: weight must not be negative", j.ID, ErrInvalidJob)
	}
	return nil
}

// Assignment places a job on a technician's calendar.
type Assignment struct {
	JobID        string    `json:"job_id,omitempty"`
	TechnicianID string    `json:"technician_id"`
	Start        time.Time `json:"start"`
	End          time.Time `json:"end"`
	// Late is true when End is after the job's deadline: no qualified
	// technician could finish it in time, and this is the least-late slot.
	Late bool `json:"late"`
	// Lateness is how far End is past the deadline (0 when on time).
	Lateness time.Duration `json:"lateness"`
}

// Options tunes the search. The zero value uses the defaults.
type Options struct {
	// Horizon is how far past max(EarliestStart, Deadline) a slot may end.
	Horizon time.Duration
	// LoadWindow is the span after EarliestStart over which booked time is
	// compared to break ties between equally early technicians.
	LoadWindow time.Duration
}

func (o Options) horizon() time.Duration {
	if o.Horizon <= 0 {
		return DefaultHorizon
	}
	return o.Horizon
}

func (o Options) loadWindow() time.Duration {
	if o.LoadWindow <= 0 {
		return DefaultLoadWindow
	}
	return o.LoadWindow
}

// Assign places job on the technician who can finish it first. The error
// wraps ErrInvalidJob, ErrNoQualifiedTechnician or ErrNoSlot, or reports an
// invalid calendar of a qualified technician.
func Assign(job Job, techs []Technician, opts Options) (Assignment, error) {
	var cals []*calendar
	for i := range techs {
		if !techs[i].qualified(job.Skills) {
			continue
		}
		c, err := newCalendar(&techs[i])
		if err != nil {
			return Assignment{}, fmt.Errorf("schedule: %w", err)
		}
		cals = append(cals, c)
	}
	return assign(job, cals, opts)
}

func prepare(techs []Technician) ([]*calendar, error) {
	cals := make([]*calendar, len(techs))
	for i := range techs {
		c, err := newCalendar(&techs[i])
		if err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
		cals[i] = c
	}
	return cals, nil
}

func assign(job Job, cals []*calendar, opts Options) (Assignment, error) {
	if err := job.validate(); err != nil {
		return Assignment{}, err
	}
	until := job.EarliestStart
	if job.Deadline.After(until) {
		until = job.Deadline
	}
	until = until.Add(opts.horizon())
	loadTo := job.EarliestStart.Add(opts.loadWindow())

	var (
		best      Interval
		bestCal   *calendar
		bestLoad  time.Duration
		qualified int
	)
	for _, c := range cals {
		if !c.tech.qualified(job.Skills) {
			continue
		}
		qualified++
		if !c.hasShift {
			continue
		}
		// A slot must end within the horizon, and no later than the best so
		// far to compete with it.
		limit := until
		if bestCal != nil {
			limit = best.End
		}
		iv, ok := c.firstFit(job, limit)
		if !ok {
			continue
		}
		load := c.bookedTime(job.EarliestStart, loadTo)
		if bestCal == nil || better(iv, load, c, best, bestLoad, bestCal) {
			best, bestCal, bestLoad = iv, c, load
		}
	}
	switch {
	case qualified == 0:
		return Assignment{}, fmt.Errorf("schedule: job %q needs %v: %w", job.ID, job.Skills, ErrNoQualifiedTechnician)
	case bestCal == nil:
		return Assignment{}, fmt.Errorf("schedule: job %q (%s) with %d qualified technicians: %w (searched until %s)",
			job.ID, job.Duration, qualified, ErrNoSlot, until.UTC().Format(time.RFC3339))
	}
	a := Assignment{JobID: job.ID, TechnicianID: bestCal.tech.ID, Start: best.Start, End: best.End}
	if !job.Deadline.IsZero() && a.End.After(job.Deadline) {
		a.Late, a.Lateness = true, a.End.Sub(job.Deadline)
	}
	return a, nil
}

// better reports whether slot iv on c beats the best so far: it ends
// earlier; or ends at the same time on a less loaded technician; or ties on
// both and c's id sorts first.
func better(iv Interval, load time.Duration, c *calendar, best Interval, bestLoad time.Duration, bestCal *calendar) bool {
	if k := iv.End.Compare(best.End); k != 0 {
		return k < 0
	}
	if load != bestLoad {
		return load < bestLoad
	}
	return c.tech.ID < bestCal.tech.ID
}

// firstFit finds the earliest-ending slot for job on c, provided it ends no
// later than limit.
func (c *calendar) firstFit(job Job, limit time.Time) (Interval, bool) {
	w := c.walkShifts(job.EarliestStart)
	var (
		chain     Interval // the slot being assembled
		remaining time.Duration
		active    bool
	)
	for {
		seg, ok := w.next(limit)
		if !ok {
			return Interval{}, false
		}
		// Free pieces of seg: seg minus the bookings overlapping it.
		i := c.firstBookingEndingAfter(seg.Start)
		cursor := seg.Start
		for cursor.Before(seg.End) {
			pieceEnd := seg.End
			nextCursor := seg.End
			if i < len(c.bookings) && c.bookings[i].Start.Before(seg.End) {
				b := c.bookings[i]
				if !b.Start.After(cursor) {
					// cursor is inside a booking: skip past it.
					cursor = b.End
					i++
					active = false
					continue
				}
				pieceEnd, nextCursor = b.Start, b.End
			}
			piece := Interval{cursor, pieceEnd}
			if active && !piece.Start.Equal(chain.End) &&
				(!job.Splittable || c.bookedBetween(chain.End, piece.Start)) {
				active = false
			}
			if !active {
				if !piece.Start.Before(limit) {
					return Interval{}, false
				}
				chain, remaining, active = Interval{piece.Start, piece.Start}, job.Duration, true
			}
			if piece.Duration() >= remaining {
				chain.End = piece.Start.Add(remaining)
				// Later slots end later still.
				return chain, !chain.End.After(limit)
			}
			remaining -= piece.Duration()
			chain.End = piece.End
			if nextCursor.After(pieceEnd) {
				// A booking follows: the chain cannot continue past it.
				active = false
				i++
			}
			cursor = nextCursor
		}
	}
}

// TotalWeightedLateness is Σ weight × lateness in hours over the assignments
// of jobs (matched by JobID; jobs without an assignment count nothing).
func TotalWeightedLateness(jobs []Job, as []Assignment) float64 {
	var sum float64
	for _, a := range as {
		i := slices.IndexFunc(jobs, func(j Job) bool { return j.ID == a.JobID })
		if i >= 0 {
			sum += jobs[i].weight() * a.Lateness.Hours()
		}
	}
	return sum
}
