package schedule

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Clock is a local time of day in minutes after midnight, 0 to 1440
// ("24:00", only as the end of a shift).
type Clock int

// ParseClock reads "HH:MM" (00:00 to 24:00).
func ParseClock(s string) (Clock, error) {
	digit := func(i int) int {
		if c := s[i]; c >= '0' && c <= '9' {
			return int(c - '0')
		}
		return -100 // fails the range checks below
	}
	if len(s) != 5 || s[2] != ':' {
		return 0, fmt.Errorf("schedule: time of day %q: want HH:MM", s)
	}
	h, m := digit(0)*10+digit(1), digit(3)*10+digit(4)
	if h < 0 || m < 0 || h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("schedule: time of day %q: want HH:MM from 00:00 to 24:00", s)
	}
	return Clock(h*60 + m), nil
}

// String formats c as "HH:MM".
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Shift is a stretch [Start, End) of local working time. An End at or before
// Start runs past midnight and ends on the next day.
type Shift struct {
	Start, End Clock
}

// Overnight reports whether the shift ends on the day after it starts.
func (s Shift) Overnight() bool { return s.End <= s.Start }

// MarshalJSON writes the shift as ["HH:MM","HH:MM"].
func (s Shift) MarshalJSON() ([]byte, error) {
	return json.Marshal([2]string{s.Start.String(), s.End.String()})
}

// UnmarshalJSON reads ["HH:MM","HH:MM"].
func (s *Shift) UnmarshalJSON(b []byte) error {
	var pair [2]string
	if err := json.Unmarshal(b, &pair); err != nil {
		return fmt.Errorf("schedule: shift: want [\"HH:MM\",\"HH:MM\"]: %w", err)
	}
	start, err := ParseClock(pair[0])
	if err != nil {
		return err
	}
	end, err := ParseClock(pair[1])
	if err != nil {
		return err
	}
	*s = Shift{Start: start, End: end}
	return nil
}

// Week is a weekly shift calendar indexed by time.Weekday (Sunday = 0).
type Week [7][]Shift

var dayNames = [7]string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// MarshalJSON writes the week as {"mon":[["08:00","16:00"]],...}, leaving out
// days without shifts.
func (w Week) MarshalJSON() ([]byte, error) {
	m := make(map[string][]Shift, 7)
	for d, shifts := range w {
		if len(shifts) > 0 {
			m[dayNames[d]] = shifts
		}
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads {"mon":[["08:00","16:00"]],...}; day names are the
// lower-case three-letter English abbreviations.
func (w *Week) UnmarshalJSON(b []byte) error {
	var m map[string][]Shift
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var out Week
	for name, shifts := range m {
		d := slices.Index(dayNames[:], strings.ToLower(name))
		if d < 0 {
			return fmt.Errorf("schedule: unknown weekday %q (want one of %s)", name, strings.Join(dayNames[:], ", "))
		}
		out[d] = shifts
	}
	*w = out
	return nil
}

// Validate reports shifts that cannot be worked: a start at 24:00, an empty
// shift, or two shifts of one day that overlap.
func (w Week) Validate() error {
	byStart := func(a, b Shift) int { return int(a.Start - b.Start) }
	for d, shifts := range w {
		sorted := shifts
		if !slices.IsSortedFunc(sorted, byStart) {
			sorted = slices.Clone(shifts)
			slices.SortFunc(sorted, byStart)
		}
		for i, s := range sorted {
			switch {
			case s.Start >= 24*60:
				return fmt.Errorf("schedule: %s shift %s-%s starts at 24:00; start it at 00:00 of the next day", dayNames[d], s.Start, s.End)
			case s.Start == s.End:
				return fmt.Errorf("schedule: %s shift %s-%s is empty (use 00:00-24:00 for a whole day)", dayNames[d], s.Start, s.End)
			case i > 0 && !sorted[i-1].Overnight() && s.Start < sorted[i-1].End:
				return fmt.Errorf("schedule: %s shifts %s-%s and %s-%s overlap", dayNames[d], sorted[i-1].Start, sorted[i-1].End, s.Start, s.End)
			case i > 0 && sorted[i-1].Overnight():
				return fmt.Errorf("schedule: %s shift %s-%s runs past midnight, so it must be the day's last", dayNames[d], sorted[i-1].Start, sorted[i-1].End)
			}
		}
	}
	return nil
}

// Date is a calendar date without a time zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf returns the date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("schedule: date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// String formats d as "YYYY-MM-DD".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Compare returns -1, 0 or +1 as d is before, equal to or after e.
func (d Date) Compare(e Date) int {
	switch {
	case d.Year != e.Year:
		return cmpInt(d.Year, e.Year)
	case d.Month != e.Month:
		return cmpInt(int(d.Month), int(e.Month))
	default:
		return cmpInt(d.Day, e.Day)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AddDays returns the date n days after d.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// At returns the instant of local time c on d in loc. Times that do not exist
// on a day clocks spring forward are moved forward by the gap, as time.Date
// does.
func (d Date) At(c Clock, loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, int(c), 0, 0, loc)
}

// Weekday is the day of the week of d.
func (d Date) Weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday()
}

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "YYYY-MM-DD".
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Absence is a run of days off, From to To inclusive (leave, training,
// public holidays). A shift is skipped when the date it starts on is inside.
type Absence struct {
	From   Date   `json:"from"`
	To     Date   `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// Validate reports an absence that ends before it starts.
func (a Absence) Validate() error {
	if a.To.Compare(a.From) < 0 {
		return fmt.Errorf("schedule: absence %s to %s ends before it starts", a.From, a.To)
	}
	return nil
}

// Interval is the span [Start, End).
type Interval struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Duration is End − Start.
func (i Interval) Duration() time.Duration { return i.End.Sub(i.Start) }

// errEmptyInterval is returned for bookings that end before they start.
var errEmptyInterval = errors.New("schedule: booking ends before it starts")

// calendar is a technician prepared for searching: bookings sorted and
// merged, absences sorted.
type calendar struct {
	tech     *Technician
	loc      *time.Location
	bookings []Interval // sorted by Start, non-overlapping
	absences []Absence
	hasShift bool
	segBuf   []Interval // reused by shiftWalker.fill
}

func newCalendar(t *Technician) (*calendar, error) {
	if err := t.Week.Validate(); err != nil {
		return nil, fmt.Errorf("technician %q: %w", t.ID, err)
	}
	c := &calendar{tech: t, loc: t.Location}
	if c.loc == nil {
		c.loc = time.UTC
	}
	for _, shifts := range t.Week {
		c.hasShift = c.hasShift || len(shifts) > 0
	}
	c.absences = t.Absences
	byFrom := func(a, b Absence) int { return a.From.Compare(b.From) }
	if !slices.IsSortedFunc(c.absences, byFrom) {
		c.absences = slices.Clone(t.Absences)
		slices.SortFunc(c.absences, byFrom)
	}
	for _, a := range c.absences {
		if err := a.Validate(); err != nil {
			return nil, fmt.Errorf("technician %q: %w", t.ID, err)
		}
	}
	var err error
	if c.bookings, err = mergeIntervals(t.Bookings); err != nil {
		return nil, fmt.Errorf("technician %q: %w", t.ID, err)
	}
	return c, nil
}

// mergeIntervals returns in sorted by start with overlapping and touching
// intervals merged. Already sorted, disjoint input is returned as is.
func mergeIntervals(in []Interval) ([]Interval, error) {
	clean := true
	for i, b := range in {
		if b.End.Before(b.Start) {
			return nil, fmt.Errorf("%w: %s to %s", errEmptyInterval, b.Start, b.End)
		}
		if b.End.Equal(b.Start) || (i > 0 && !in[i-1].End.Before(b.Start)) {
			clean = false
		}
	}
	if clean {
		return in, nil
	}
	sorted := slices.Clone(in)
	slices.SortFunc(sorted, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	out := sorted[:0]
	for _, b := range sorted {
		switch {
		case !b.End.After(b.Start):
			continue
		case len(out) > 0 && !b.Start.After(out[len(out)-1].End):
			if b.End.After(out[len(out)-1].End) {
				out[len(out)-1].End = b.End
			}
		default:
			out = append(out, b)
		}
	}
	return out, nil
}

// qualified reports whether t holds every skill.
func (t *Technician) qualified(skills []string) bool {
	for _, s := range skills {
		if !slices.Contains(t.Skills, s) {
			return false
		}
	}
	return true
}

func (c *calendar) absent(d Date) bool {
	for _, a := range c.absences {
		if a.From.Compare(d) > 0 {
			return false
		}
		if a.To.Compare(d) >= 0 {
			return true
		}
	}
	return false
}

// firstBookingEndingAfter is the index of the first booking with End > t.
func (c *calendar) firstBookingEndingAfter(t time.Time) int {
	i, _ := slices.BinarySearchFunc(c.bookings, t, func(b Interval, t time.Time) int {
		if b.End.After(t) {
			return 1
		}
		return -1
	})
	return i
}

// bookedBetween reports whether a booking overlaps [from, to).
func (c *calendar) bookedBetween(from, to time.Time) bool {
	i := c.firstBookingEndingAfter(from)
	return i < len(c.bookings) && c.bookings[i].Start.Before(to)
}

// bookedTime is the booked time inside [from, to).
func (c *calendar) bookedTime(from, to time.Time) time.Duration {
	var sum time.Duration
	for i := c.firstBookingEndingAfter(from); i < len(c.bookings) && c.bookings[i].Start.Before(to); i++ {
		s, e := c.bookings[i].Start, c.bookings[i].End
		if s.Before(from) {
			s = from
		}
		if e.After(to) {
			e = to
		}
		sum += e.Sub(s)
	}
	return sum
}

// book adds iv, which must not overlap an existing booking.
func (c *calendar) book(iv Interval) {
	i := c.firstBookingEndingAfter(iv.Start)
	c.bookings = slices.Insert(c.bookings, i, iv)
}

// shiftWalker yields a technician's working time in order, as merged
// segments, from a given instant.
type shiftWalker struct {
	c       *calendar
	day     Date
	pending []Interval // segments of the current day not yet merged
	cur     Interval   // segment being extended
	has     bool
	done    bool // a segment at or after until was seen
	from    time.Time
}

func (c *calendar) walkShifts(from time.Time) shiftWalker {
	// Start a day early: an overnight shift of the previous day may still run.
	return shiftWalker{c: c, day: DateOf(from.In(c.loc)).AddDays(-1), from: from}
}

// dayStart is midnight of the walker's next day to generate, in its location.
func (w *shiftWalker) dayStart() time.Time { return w.day.At(0, w.c.loc) }

// fill generates the segments of the next day.
func (w *shiftWalker) fill() {
	d := w.day
	w.day = d.AddDays(1)
	if w.c.absent(d) {
		return
	}
	shifts := w.c.tech.Week[d.Weekday()]
	// pending is empty whenever fill is called: reuse the calendar's buffer.
	w.pending = w.c.segBuf[:0]
	for _, s := range shifts {
		start := d.At(s.Start, w.c.loc)
		endDay := d
		if s.Overnight() {
			endDay = d.AddDays(1)
		}
		end := endDay.At(s.End, w.c.loc)
		if !end.After(w.from) || !end.After(start) {
			continue
		}
		if start.Before(w.from) {
			start = w.from
		}
		w.pending = append(w.pending, Interval{start, end})
	}
	w.c.segBuf = w.pending[:0] // keep a grown buffer
	if len(shifts) > 1 {
		slices.SortFunc(w.pending, func(a, b Interval) int { return a.Start.Compare(b.Start) })
	}
}

// next returns the next merged working segment starting before until.
func (w *shiftWalker) next(until time.Time) (Interval, bool) {
	for {
		if len(w.pending) == 0 {
			exhausted := w.done || !w.dayStart().Before(until)
			// Every segment still to come starts at or after the next day's
			// midnight, so one that starts later cannot extend cur.
			if w.has && (exhausted || w.dayStart().After(w.cur.End)) {
				w.has = false
				return w.cur, true
			}
			if exhausted {
				return Interval{}, false
			}
			w.fill()
			continue
		}
		seg := w.pending[0]
		w.pending = w.pending[1:]
		switch {
		case !seg.Start.Before(until):
			w.pending, w.done = w.pending[:0], true
		case !w.has:
			w.cur, w.has = seg, true
		case !seg.Start.After(w.cur.End):
			if seg.End.After(w.cur.End) {
				w.cur.End = seg.End
			}
		default:
			out := w.cur
			w.cur = seg
			return out, true
		}
	}
}
