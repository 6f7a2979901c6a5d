package schedule

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// roundTheClock is one technician working every hour, so Plan reduces to
// the textbook single-machine weighted tardiness problem.
func roundTheClock() Technician {
	return Technician{ID: "t", Skills: []string{"mech"}, Week: shifts("00:00", "24:00", everyDay...)}
}

func TestPlanSingleMachine(t *testing.T) {
	t0 := at(time.Monday, 0, 0)
	h := func(n float64) time.Duration { return time.Duration(n * float64(time.Hour)) }
	job := func(id string, p, d, w float64) Job {
		return Job{ID: id, Skills: []string{"mech"}, Duration: h(p), EarliestStart: t0, Deadline: t0.Add(h(d)), Weight: w}
	}
	tests := []struct {
		name  string
		jobs  []Job
		want  float64 // optimal Σ w·T in hours, worked out by hand
		order []string
	}{
		{
			// EDD runs A first: B is 1h late at weight 10 = 10. B first: A is
			// 2h late at weight 1 = 2.
			name:  "heavy short job before the earlier-due light one",
			jobs:  []Job{job("A", 4, 4, 1), job("B", 2, 5, 10)},
			want:  2,
			order: []string{"B", "A"},
		},
		{
			name:  "all on time in due-date order",
			jobs:  []Job{job("C", 1, 6, 1), job("A", 1, 1, 1), job("B", 2, 3, 1)},
			want:  0,
			order: []string{"A", "B", "C"},
		},
		{
			// Some job is late in every order; the best runs the heavy job
			// first: H, L1, L2 = 0 + (4-2)·2 + (5-2)·1 = 7 (L1, H, L2 = 8).
			name:  "overloaded",
			jobs:  []Job{job("L1", 1, 2, 2), job("L2", 1, 2, 1), job("H", 3, 3, 5)},
			want:  7,
			order: []string{"H", "L1", "L2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Plan(tt.jobs, []Technician{roundTheClock()}, PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(res.WeightedLateness-tt.want) > 1e-9 {
				t.Errorf("weighted lateness = %v, want %v", res.WeightedLateness, tt.want)
			}
			var order []string
			for _, i := range res.Order {
				order = append(order, tt.jobs[i].ID)
			}
			if !slices.Equal(order, tt.order) {
				t.Errorf("order = %v, want %v", order, tt.order)
			}
			checkPlan(t, tt.jobs, []Technician{roundTheClock()}, res)
		})
	}
}

// randomInstance builds techs with two weeks of office hours, random skills
// and bookings, and jobs due within a few days.
func randomInstance(r *rand.Rand, nTechs, nJobs, bookingsPerDay int) ([]Technician, []Job) {
	skills := []string{"mech", "elec", "hyd"}
	monday := at(time.Monday, 0, 0)
	techs := make([]Technician, nTechs)
	for i := range techs {
		t := officeHours(fmt.Sprintf("t%03d", i))
		t.Skills = []string{skills[r.IntN(len(skills))], skills[r.IntN(len(skills))]}
		for day := range 14 {
			for range bookingsPerDay {
				start := monday.Add(time.Duration(day)*24*time.Hour + 8*time.Hour + time.Duration(r.IntN(16))*30*time.Minute)
				t.Bookings = append(t.Bookings, Interval{start, start.Add(time.Duration(1+r.IntN(4)) * 30 * time.Minute)})
			}
		}
		techs[i] = t
	}
	jobs := make([]Job, nJobs)
	for i := range jobs {
		jobs[i] = Job{
			ID:            fmt.Sprintf("j%02d", i),
			Skills:        []string{skills[r.IntN(len(skills))]},
			Duration:      time.Duration(1+r.IntN(10)) * 30 * time.Minute,
			EarliestStart: monday.Add(7 * time.Hour),
			Deadline:      monday.Add(time.Duration(9+r.IntN(40)) * time.Hour),
			Weight:        float64(1 + r.IntN(5)),
		}
	}
	return techs, jobs
}

// checkPlan verifies that every placed job is inside its technician's
// shifts, after its earliest start, qualified, and overlaps nothing.
func checkPlan(t *testing.T, jobs []Job, techs []Technician, res Result) {
	t.Helper()
	booked := map[string][]Interval{}
	for _, tech := range techs {
		booked[tech.ID] = slices.Clone(tech.Bookings)
	}
	var total float64
	for i, p := range res.Jobs {
		if p.Err != nil {
			continue
		}
		a, job := p.Assignment, jobs[i]
		if a.JobID != job.ID || a.Start.Before(job.EarliestStart) {
			t.Errorf("job %s: assignment %+v", job.ID, a)
		}
		if !job.Splittable && a.End.Sub(a.Start) != job.Duration {
			t.Errorf("job %s: span %s, want %s", job.ID, a.End.Sub(a.Start), job.Duration)
		}
		ti := slices.IndexFunc(techs, func(x Technician) bool { return x.ID == a.TechnicianID })
		if ti < 0 {
			t.Fatalf("job %s: unknown technician %q", job.ID, a.TechnicianID)
		}
		for _, s := range job.Skills {
			if !slices.Contains(techs[ti].Skills, s) {
				t.Errorf("job %s needs %s; %s lacks it", job.ID, s, a.TechnicianID)
			}
		}
		for _, b := range booked[a.TechnicianID] {
			if a.Start.Before(b.End) && b.Start.Before(a.End) {
				t.Errorf("job %s [%s, %s) overlaps booking [%s, %s) of %s", job.ID, a.Start, a.End, b.Start, b.End, a.TechnicianID)
			}
		}
		booked[a.TechnicianID] = append(booked[a.TechnicianID], Interval{a.Start, a.End})
		total += job.weight() * a.Lateness.Hours()
	}
	if math.Abs(total-res.WeightedLateness) > 1e-6 {
		t.Errorf("reported weighted lateness %v, recomputed %v", res.WeightedLateness, total)
	}
}

// bruteForce decodes every order of the jobs and returns the best score.
func bruteForce(t *testing.T, jobs []Job, techs []Technician) score {
	t.Helper()
	cals, err := prepare(techs)
	if err != nil {
		t.Fatal(err)
	}
	p := &planner{jobs: jobs, cals: cals, base: make([][]Interval, len(cals))}
	for i, c := range cals {
		p.base[i] = c.bookings
	}
	var best *decoded
	permute(identity(len(jobs)), 0, func(o []int) {
		if d := p.decode(o); best == nil || d.score.less(best.score) {
			best = d
		}
	})
	return best.score
}

func TestPlanLocalSearchMatchesBruteForce(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes every order of 8 jobs")
	}
	// Two or three technicians for eight jobs due within two days: some
	// lateness is unavoidable and the order decides how much. The first three
	// instances trapped a plain insertion-move descent (84 h against an
	// optimum of 41 h for the first).
	for _, c := range []struct {
		seed, stream uint64
		techs        int
	}{{103, 3, 2}, {104, 3, 2}, {119, 3, 2}, {0, 1, 3}} {
		t.Run(fmt.Sprint("seed", c.seed), func(t *testing.T) {
			techs, jobs := randomInstance(rand.New(rand.NewPCG(c.seed, c.stream)), c.techs, 8, 2)
			for i := range techs {
				techs[i].Skills = []string{"mech", "elec", "hyd"}
			}
			res, err := Plan(jobs, techs, PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, jobs, techs, res)
			want := bruteForce(t, jobs, techs)
			t.Logf("weighted lateness %.2f h (optimum %.2f h) after %d evaluations", res.WeightedLateness, want.lateness, res.Evaluations)
			if res.WeightedLateness > want.lateness+1e-9 {
				t.Errorf("weighted lateness %.3f, brute-force optimum %.3f", res.WeightedLateness, want.lateness)
			}
		})
	}
}

func TestPlanReportsInfeasibleJobs(t *testing.T) {
	techs := []Technician{officeHours("a"), officeHours("b")}
	mon := at(time.Monday, 7, 0)
	jobs := []Job{
		{ID: "ok", Skills: []string{"mech"}, Duration: 2 * time.Hour, EarliestStart: mon},
		{ID: "skill", Skills: []string{"hyd"}, Duration: time.Hour, EarliestStart: mon},
		{ID: "long", Skills: []string{"mech"}, Duration: 12 * time.Hour, EarliestStart: mon},
		{ID: "bad", Duration: 0, EarliestStart: mon},
	}
	for _, n := range []int{len(jobs), 10} { // exhaustive and local-search paths
		t.Run(fmt.Sprint(n, " jobs"), func(t *testing.T) {
			all := slices.Clone(jobs)
			for i := len(all); i < n; i++ {
				all = append(all, Job{ID: fmt.Sprint("extra", i), Skills: []string{"mech"}, Duration: time.Hour, EarliestStart: mon})
			}
			res, err := Plan(all, techs, PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Jobs[0].Err != nil || res.Jobs[0].Assignment.TechnicianID == "" {
				t.Errorf("feasible job: %+v", res.Jobs[0])
			}
			for i, want := range []error{ErrNoQualifiedTechnician, ErrNoSlot, ErrInvalidJob} {
				if got := res.Jobs[i+1].Err; !errors.Is(got, want) {
					t.Errorf("job %s: err = %v, want %v", all[i+1].ID, got, want)
				}
			}
			checkPlan(t, all, techs, res)
		})
	}
}

func TestPlanLargeBatchIsConsistent(t *testing.T) {
	techs, jobs := randomInstance(rand.New(rand.NewPCG(7, 7)), 10, 30, 3)
	res, err := Plan(jobs, techs, PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkPlan(t, jobs, techs, res)
	// The search starts from the best priority rule, so it is never worse.
	cals, _ := prepare(techs)
	p := &planner{jobs: jobs, cals: cals, base: make([][]Interval, len(cals))}
	for i, c := range cals {
		p.base[i] = c.bookings
	}
	for _, o := range p.seeds() {
		if d := p.decode(o); d.score.lateness < res.WeightedLateness-1e-9 {
			t.Errorf("seed order scores %.2f, better than the plan's %.2f", d.score.lateness, res.WeightedLateness)
		}
	}
	if len(res.Order) != len(jobs) || res.Evaluations > DefaultMaxEvaluations {
		t.Errorf("order %v, %d evaluations", res.Order, res.Evaluations)
	}
}

func TestPlanEmpty(t *testing.T) {
	res, err := Plan(nil, []Technician{officeHours("a")}, PlanOptions{})
	if err != nil || len(res.Jobs) != 0 || res.WeightedLateness != 0 {
		t.Errorf("Plan(nil) = %+v, %v", res, err)
	}
}
