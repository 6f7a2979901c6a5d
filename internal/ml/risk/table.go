package risk

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// Hour is one replayed machine-hour whose feature vector is ready.
type Hour struct {
	Machine int
	Time    time.Time
	// X is the feature vector; it is reused after the visit returns.
	X []float64
	// Telemetry is the hour's reading.
	Telemetry dataset.AzureTelemetry
}

// Replay streams d's telemetry in time order (machines in id order within
// an hour) through a Builder, feeding each error and maintenance record
// once the replay reaches its hour, and calls visit for every machine-hour
// whose vector is ready. This is how the ingest path would see the data.
func Replay(ctx context.Context, d *dataset.AzurePdM, visit func(Hour) error) error {
	b := NewBuilder(d.Machines)
	tel := slices.Clone(d.Telemetry)
	slices.SortStableFunc(tel, func(a, b dataset.AzureTelemetry) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Machine, b.Machine))
	})
	type event struct {
		e     dataset.AzureEvent
		maint bool
	}
	withTelemetry := map[int]bool{}
	for _, r := range tel {
		withTelemetry[r.Machine] = true
	}
	var events []event
	for _, e := range d.Errors {
		if withTelemetry[e.Machine] {
			events = append(events, event{e, false})
		}
	}
	for _, e := range d.Maintenance {
		if withTelemetry[e.Machine] {
			events = append(events, event{e, true})
		}
	}
	slices.SortStableFunc(events, func(a, b event) int { return a.e.Time.Compare(b.e.Time) })
	var x []float64
	next := 0
	for i, r := range tel {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		for ; next < len(events) && !events[next].e.Time.After(r.Time); next++ {
			ev := events[next]
			var err error
			if ev.maint {
				err = b.Maintenance(ev.e)
			} else {
				err = b.Error(ev.e)
			}
			if err != nil {
				return err
			}
		}
		var ready bool
		var err error
		x, ready, err = b.Telemetry(r, x)
		if err != nil {
			return err
		}
		if !ready {
			continue
		}
		if err := visit(Hour{Machine: r.Machine, Time: r.Time, X: x, Telemetry: r}); err != nil {
			return err
		}
	}
	return nil
}

// Labeler answers whether a machine fails within Horizon after an hour.
type Labeler struct {
	failures map[int][]time.Time // sorted
}

// NewLabeler indexes the failure table.
func NewLabeler(failures []dataset.AzureEvent) *Labeler {
	l := &Labeler{failures: map[int][]time.Time{}}
	for _, f := range failures {
		l.failures[f.Machine] = append(l.failures[f.Machine], f.Time)
	}
	for _, ts := range l.failures {
		slices.SortFunc(ts, time.Time.Compare)
	}
	return l
}

// Label reports whether machine has a failure in (t, t+Horizon].
func (l *Labeler) Label(machine int, t time.Time) bool {
	ts := l.failures[machine]
	i, _ := slices.BinarySearchFunc(ts, t, func(a, t time.Time) int {
		if a.After(t) {
			return 1
		}
		return -1
	})
	return i < len(ts) && !ts[i].After(t.Add(Horizon))
}

// Table is the labelled machine-hours of a dataset.
type Table struct {
	X       [][]float64
	Y       []bool
	Machine []int
	Time    []time.Time
}

// Len is the number of rows.
func (t *Table) Len() int { return len(t.Y) }

// BuildTable replays d and labels every ready machine-hour.
func BuildTable(ctx context.Context, d *dataset.AzurePdM) (*Table, error) {
	l := NewLabeler(d.Failures)
	t := &Table{}
	err := Replay(ctx, d, func(h Hour) error {
		t.X = append(t.X, slices.Clone(h.X))
		t.Y = append(t.Y, l.Label(h.Machine, h.Time))
		t.Machine = append(t.Machine, h.Machine)
		t.Time = append(t.Time, h.Time)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Between returns the rows whose hour is in [from, to) and whose label
// window ends before embargo (zero embargo: no limit), sharing the vectors.
// The embargo keeps a training row from being labelled by a failure inside
// the period that follows.
func (t *Table) Between(from, to, embargo time.Time) *Table {
	out := &Table{}
	for i, ts := range t.Time {
		if ts.Before(from) || !ts.Before(to) {
			continue
		}
		if !embargo.IsZero() && !ts.Add(Horizon).Before(embargo) {
			continue
		}
		out.X = append(out.X, t.X[i])
		out.Y = append(out.Y, t.Y[i])
		out.Machine = append(out.Machine, t.Machine[i])
		out.Time = append(out.Time, ts)
	}
	return out
}

// Positives counts the rows labelled true.
func (t *Table) Positives() int {
	n := 0
	for _, y := range t.Y {
		if y {
			n++
		}
	}
	return n
}
