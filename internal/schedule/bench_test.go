package schedule

import (
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkAssign schedules one job over 50 technicians, each with two weeks
// of office hours and three bookings per day (2,100 bookings in all). The
// bookings come sorted and disjoint, as the store returns them; "unsorted"
// makes Assign sort and merge them first.
func BenchmarkAssign(b *testing.B) {
	for _, c := range []struct {
		name, tz string
		sorted   bool
	}{
		{"UTC", "UTC", true}, {"Europe/Berlin", "Europe/Berlin", true}, {"unsorted", "UTC", false},
	} {
		b.Run(c.name, func(b *testing.B) {
			techs, jobs := randomInstance(rand.New(rand.NewPCG(1, 2)), 50, 1, 3)
			loc := mustLoc(b, c.tz)
			for i := range techs {
				techs[i].Location = loc
				if c.sorted {
					techs[i].Bookings, _ = mergeIntervals(techs[i].Bookings)
				}
			}
			job := jobs[0]
			job.Duration = 3 * time.Hour
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Assign(job, techs, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlan re-plans 20 jobs together over the same 50 technicians with
// the default evaluation budget.
func BenchmarkPlan(b *testing.B) {
	techs, jobs := randomInstance(rand.New(rand.NewPCG(1, 2)), 50, 20, 3)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Plan(jobs, techs, PlanOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
