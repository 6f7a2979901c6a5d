package schedule

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// DefaultMaxEvaluations bounds the job orders Plan's local search decodes.
const DefaultMaxEvaluations = 400

// exhaustiveJobs is the batch size up to which Plan tries every order.
const exhaustiveJobs = 6

// Planned is the outcome for one job of a Plan.
type Planned struct {
	Assignment Assignment
	// Err is set when the job could not be placed; it wraps
	// ErrNoQualifiedTechnician, ErrNoSlot or ErrInvalidJob.
	Err error
}

// Result is the outcome of Plan.
type Result struct {
	// Jobs holds one outcome per input job, in input order.
	Jobs []Planned
	// Order lists the input indexes in the order the jobs claimed slots.
	Order []int
	// WeightedLateness is Σ weight × lateness in hours over placed jobs.
	WeightedLateness float64
	// Evaluations is the number of job orders decoded.
	Evaluations int
}

// PlanOptions tunes Plan.
type PlanOptions struct {
	Options
	// MaxEvaluations bounds the job orders decoded by the local search;
	// 0 means DefaultMaxEvaluations.
	MaxEvaluations int
}

// Plan places jobs together on techs' calendars, minimising the total
// weighted lateness (then the weighted completion time, then the number of
// unplaced jobs first of all). Jobs claim slots one at a time, each taking
// its earliest-finishing slot as Assign would; Plan chooses the order. Up to
// six jobs it tries every order. Beyond, it starts from the best of four
// priority rules (input order, weighted earliest due date, weighted shortest
// processing time, Apparent Tardiness Cost) and improves it by moving single
// jobs to other positions (first improvement) until no move helps or
// MaxEvaluations orders have been decoded.
func Plan(jobs []Job, techs []Technician, opts PlanOptions) (Result, error) {
	cals, err := prepare(techs)
	if err != nil {
		return Result{}, err
	}
	p := &planner{jobs: jobs, cals: cals, opts: opts.Options, base: make([][]Interval, len(cals))}
	for i, c := range cals {
		p.base[i] = c.bookings
	}
	if len(jobs) == 0 {
		return Result{Jobs: []Planned{}, Order: []int{}}, nil
	}
	maxEval := opts.MaxEvaluations
	if maxEval <= 0 {
		maxEval = DefaultMaxEvaluations
	}

	var best *decoded
	if len(jobs) <= exhaustiveJobs {
		order := identity(len(jobs))
		permute(order, 0, func(o []int) {
			if d := p.decode(o); best == nil || d.score.less(best.score) {
				best = d
			}
		})
	} else {
		for _, o := range p.seeds() {
			if d := p.decode(o); best == nil || d.score.less(best.score) {
				best = d
			}
		}
		best = p.improve(best, maxEval)
	}
	res := Result{Jobs: best.jobs, Order: best.order, WeightedLateness: best.score.lateness, Evaluations: p.evals}
	return res, nil
}

// score orders candidate plans: fewer unplaced jobs, then less weighted
// lateness, then less weighted completion time.
type score struct {
	unplaced   int
	lateness   float64 // Σ w × lateness, hours
	completion float64 // Σ w × (end − earliest start), hours
}

const scoreEpsilon = 1e-9

func (s score) less(t score) bool {
	if s.unplaced != t.unplaced {
		return s.unplaced < t.unplaced
	}
	if math.Abs(s.lateness-t.lateness) > scoreEpsilon {
		return s.lateness < t.lateness
	}
	return s.completion < t.completion-scoreEpsilon
}

type planner struct {
	jobs []Job
	cals []*calendar
	opts Options
	base [][]Interval
	// scratch holds each calendar's bookings during a decode.
	scratch [][]Interval
	evals   int
}

type decoded struct {
	order []int
	jobs  []Planned
	score score
}

// decode places the jobs in order, each claiming its best slot.
func (p *planner) decode(order []int) *decoded {
	p.evals++
	if p.scratch == nil {
		p.scratch = make([][]Interval, len(p.cals))
	}
	for i, c := range p.cals {
		// Reuse last decode's slice: book may grow it, never p.base.
		c.bookings = append(p.scratch[i][:0], p.base[i]...)
	}
	defer func() {
		for i, c := range p.cals {
			p.scratch[i] = c.bookings
		}
	}()
	byID := make(map[string]*calendar, len(p.cals))
	for _, c := range p.cals {
		byID[c.tech.ID] = c
	}
	d := &decoded{order: slices.Clone(order), jobs: make([]Planned, len(p.jobs))}
	for _, j := range order {
		job := p.jobs[j]
		a, err := assign(job, p.cals, p.opts)
		if err != nil {
			d.jobs[j].Err = err
			d.score.unplaced++
			continue
		}
		byID[a.TechnicianID].book(Interval{a.Start, a.End})
		d.jobs[j].Assignment = a
		d.score.lateness += job.weight() * a.Lateness.Hours()
		d.score.completion += job.weight() * a.End.Sub(job.EarliestStart).Hours()
	}
	return d
}

// improve runs an iterated local search from start: descend with
// first-improvement insertion and swap moves, then, while the evaluation
// budget lasts, perturb the best order with a few random swaps and descend
// again, keeping the result when it is better. The random source is seeded
// from the batch size, so a plan is reproducible.
func (p *planner) improve(start *decoded, maxEval int) *decoded {
	best := p.descend(start, maxEval)
	r := rand.New(rand.NewPCG(uint64(len(start.order)), 0x5eed))
	n := len(start.order)
	for p.evals < maxEval {
		order := slices.Clone(best.order)
		for range 2 + r.IntN(2) {
			i, j := r.IntN(n), r.IntN(n)
			order[i], order[j] = order[j], order[i]
		}
		if d := p.descend(p.decode(order), maxEval); d.score.less(best.score) {
			best = d
		}
	}
	return best
}

// descend applies improving moves to cur until none improves it or the
// budget is spent. The moves take the job at i and insert it at j, or (for
// j > i+1) swap the jobs at i and j; an adjacent swap is an insertion.
func (p *planner) descend(cur *decoded, maxEval int) *decoded {
	n := len(cur.order)
	try := func(cand []int) {
		if d := p.decode(cand); d.score.less(cur.score) {
			cur = d
		}
	}
	for {
		before := cur
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if p.evals >= maxEval {
					return cur
				}
				if i != j && j != i-1 { // moving i to i-1 is moving i-1 to i
					try(moveTo(cur.order, i, j))
				}
				if j > i+1 && p.evals < maxEval {
					swapped := slices.Clone(cur.order)
					swapped[i], swapped[j] = swapped[j], swapped[i]
					try(swapped)
				}
			}
		}
		if cur == before {
			return cur
		}
	}
}

// moveTo returns a copy of order with the element at i moved to position j.
func moveTo(order []int, i, j int) []int {
	out := make([]int, 0, len(order))
	v := order[i]
	rest := slices.Delete(slices.Clone(order), i, i+1)
	out = append(out, rest[:j]...)
	out = append(out, v)
	return append(out, rest[j:]...)
}

// seeds returns the starting orders: input, weighted EDD, WSPT and ATC.
func (p *planner) seeds() [][]int {
	n := len(p.jobs)
	start := p.jobs[0].EarliestStart
	var meanP float64
	for _, j := range p.jobs {
		if j.EarliestStart.Before(start) {
			start = j.EarliestStart
		}
		meanP += j.Duration.Hours() / float64(n)
	}
	due := func(j Job) time.Time {
		if j.Deadline.IsZero() {
			return time.Unix(1<<40, 0) // after any real deadline
		}
		return j.Deadline
	}
	edd := identity(n)
	slices.SortStableFunc(edd, func(a, b int) int {
		if c := due(p.jobs[a]).Compare(due(p.jobs[b])); c != 0 {
			return c
		}
		return cmp.Compare(p.jobs[b].weight(), p.jobs[a].weight())
	})
	wspt := identity(n)
	ratio := func(j Job) float64 { return j.weight() / j.Duration.Hours() }
	slices.SortStableFunc(wspt, func(a, b int) int { return cmp.Compare(ratio(p.jobs[b]), ratio(p.jobs[a])) })
	// Apparent Tardiness Cost with look-ahead K = 2: urgent, short, heavy
	// jobs first; jobs without a deadline have no urgency.
	const k = 2.0
	atcIndex := func(j Job) float64 {
		if j.Deadline.IsZero() {
			return 0
		}
		slack := math.Max(j.Deadline.Sub(start).Hours()-j.Duration.Hours(), 0)
		return ratio(j) * math.Exp(-slack/(k*meanP))
	}
	atc := identity(n)
	slices.SortStableFunc(atc, func(a, b int) int { return cmp.Compare(atcIndex(p.jobs[b]), atcIndex(p.jobs[a])) })
	return [][]int{identity(n), edd, wspt, atc}
}

func identity(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

// permute calls fn with every permutation of o[k:] (Heap-free recursive
// swapping; o is restored on return).
func permute(o []int, k int, fn func([]int)) {
	if k == len(o) {
		fn(o)
		return
	}
	for i := k; i < len(o); i++ {
		o[k], o[i] = o[i], o[k]
		permute(o, k+1, fn)
		o[k], o[i] = o[i], o[k]
	}
}
