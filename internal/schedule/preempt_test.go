package schedule

import (
	"slices"
	"testing"
	"time"
)

// TestAssignPreempting: a critical job that would queue behind lighter,
// not-yet-started work takes its slot instead; work in progress and work of
// equal weight stay where they are.
func TestAssignPreempting(t *testing.T) {
	week := shifts("08:00", "16:00", time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday)
	prev := Interval{at(time.Monday, 8, 0), at(time.Monday, 10, 0)}   // medium preventive job, not started
	other := Interval{at(time.Monday, 10, 0), at(time.Monday, 16, 0)} // the rest of the day
	critical := Job{ID: "crit", Duration: 2 * time.Hour, EarliestStart: at(time.Monday, 8, 0), Deadline: at(time.Monday, 10, 0), Weight: 8}
	tests := []struct {
		name      string
		movable   []Movable
		job       Job
		start     time.Time
		late      bool
		displaced []string
	}{
		{"displaces the lighter job that has not started", []Movable{{ID: "prev", Interval: prev, Weight: 2}, {ID: "other", Interval: other, Weight: 2}},
			critical, at(time.Monday, 8, 0), false, []string{"prev"}},
		{"never work in progress (not movable)", nil, critical, at(time.Tuesday, 8, 0), true, nil},
		{"not work of the same weight", []Movable{{ID: "prev", Interval: prev, Weight: 8}, {ID: "other", Interval: other, Weight: 8}},
			critical, at(time.Tuesday, 8, 0), true, nil},
		{"not when the job is on time anyway", []Movable{{ID: "prev", Interval: prev, Weight: 2}},
			Job{ID: "crit", Duration: 2 * time.Hour, EarliestStart: at(time.Monday, 8, 0), Deadline: at(time.Tuesday, 12, 0), Weight: 8},
			at(time.Tuesday, 8, 0), false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			techs := []Technician{{ID: "ada", Week: week, Bookings: []Interval{prev, other}, Movable: tc.movable}}
			p, err := AssignPreempting(tc.job, techs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !p.Start.Equal(tc.start) || p.Late != tc.late || !slices.Equal(p.Displaced, tc.displaced) {
				t.Errorf("got %s late=%v displacing %v; want %s late=%v displacing %v", p.Start, p.Late, p.Displaced, tc.start, tc.late, tc.displaced)
			}
		})
	}
}

// TestAssignPreemptingPrefersFreeTime: with a second technician free in
// time, nothing is displaced.
func TestAssignPreemptingPrefersFreeTime(t *testing.T) {
	week := shifts("08:00", "16:00", time.Monday)
	job := Job{ID: "crit", Duration: 2 * time.Hour, EarliestStart: at(time.Monday, 8, 0), Deadline: at(time.Monday, 10, 0), Weight: 8}
	busy := Interval{at(time.Monday, 8, 0), at(time.Monday, 16, 0)}
	techs := []Technician{
		{ID: "ada", Week: week, Bookings: []Interval{busy}, Movable: []Movable{{ID: "prev", Interval: busy, Weight: 1}}},
		{ID: "bob", Week: week},
	}
	p, err := AssignPreempting(job, techs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.TechnicianID != "bob" || len(p.Displaced) != 0 || p.Late {
		t.Errorf("got %+v; want bob's free morning", p)
	}
}
