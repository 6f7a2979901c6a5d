package simulate

import "time"

// pacer schedules steps: step n is due at start + n·tick. When the sender
// falls more than maxLag steps behind (a slow or paused API), the steps in
// between are skipped rather than sent in a burst, so readings keep arriving
// at the configured rate.
type pacer struct {
	start  time.Time
	tick   time.Duration
	maxLag int
	next   int // the first step not yet taken
}

// due returns how many steps to produce at now and how many were skipped.
func (p *pacer) due(now time.Time) (n, skipped int) {
	if now.Before(p.start) {
		return 0, 0
	}
	last := int(now.Sub(p.start) / p.tick) // the latest step due
	if last < p.next {
		return 0, 0
	}
	n = last - p.next + 1
	if n > p.maxLag {
		skipped, n = n-p.maxLag, p.maxLag
	}
	p.next = last + 1
	return n, skipped
}

// wait returns how long until the next step is due.
func (p *pacer) wait(now time.Time) time.Duration {
	return max(0, p.start.Add(time.Duration(p.next)*p.tick).Sub(now))
}

// at is the time step i is due. Readings are stamped with it, so the steps
// produced together after a pause keep timestamps of their own.
func (p *pacer) at(i int) time.Time { return p.start.Add(time.Duration(i) * p.tick) }
