package rul

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/ml/gbdt"
)

// DefaultParams are the point model's parameters, chosen by the
// engine-grouped cross-validation over the FD001 training engines that
// docs/ML.md records (never on the test set).
func DefaultParams() gbdt.Params {
	p := gbdt.DefaultParams()
	p.Loss = gbdt.LossSquared
	p.EarlyStopping = false
	p.LearningRate = 0.05
	p.MaxIter = 300
	p.MaxLeafNodes = 15
	p.MinSamplesLeaf = 50
	return p
}

// quantileParams are the interval models' parameters: p with the
// quantile loss at q.
func quantileParams(p gbdt.Params, q float64) gbdt.Params {
	p.Loss, p.Quantile = gbdt.LossQuantile, q
	return p
}

// Options configure Train.
type Options struct {
	Config Config
	// Params are the point model's parameters (DefaultParams when zero);
	// the quantile models use the same with the quantile loss.
	Params gbdt.Params
	// Coverage is the intervals' nominal coverage (default 0.8).
	Coverage float64
	// Folds is the number of engine-grouped folds whose held-out rows
	// calibrate the intervals (default 5).
	Folds int
	// Bins is the number of equal-width bins over [0, Cap] of the
	// quantile interval's midpoint that get their own conformal margin
	// (default 5; 1 for a single margin).
	Bins int
	// Calibration chooses the held-out cycles the margins are computed
	// from and their weights (default CalibrateEngines), and Cuts the
	// number of cut-offs per engine under CalibrateCuts (default 5).
	Calibration Calibration
	Cuts        int
	// Seed shuffles the engines into folds and draws the cut-offs.
	Seed uint64
	// Progress, when set, is called after each model fitted.
	Progress func(done, total int)
}

func (o Options) withDefaults() Options {
	o.Config = o.Config.withDefaults()
	if o.Params.MaxIter == 0 {
		o.Params = DefaultParams()
	}
	o.Params.Loss = cmp.Or(o.Params.Loss, gbdt.LossSquared)
	o.Coverage = cmp.Or(o.Coverage, 0.8)
	o.Folds = cmp.Or(o.Folds, 5)
	o.Bins = cmp.Or(o.Bins, 5)
	o.Calibration = cmp.Or(o.Calibration, CalibrateEngines)
	o.Cuts = cmp.Or(o.Cuts, 5)
	return o
}

// Folds assigns each of n engines to one of k folds, shuffled by seed.
func Folds(n, k int, seed uint64) []int {
	perm := rand.New(rand.NewPCG(seed, 0x52554c)).Perm(n)
	fold := make([]int, n)
	for i, e := range perm {
		fold[e] = i % k
	}
	return fold
}

// split returns the rows of r in fold f (test) and the others (train).
func (r *Rows) split(fold []int, f int) (trainX [][]float64, trainY []float64, test []int) {
	for i, e := range r.Engine {
		if fold[e] == f {
			test = append(test, i)
		} else {
			trainX = append(trainX, r.X[i])
			trainY = append(trainY, r.Y[i])
		}
	}
	return trainX, trainY, test
}

// Train fits the point and quantile models to every cycle of the
// run-to-failure engines and sets the conformal margin from the
// quantile models' out-of-fold residuals: for each of Folds engine-grouped
// folds, quantile models fitted without the fold's engines bound its rows,
// and Margin is the conformal quantile of max(lower − y, y − upper) over
// all held-out rows, Margins the same per bin of the interval's midpoint.
func Train(ctx context.Context, engines []dataset.CMAPSSEngine, o Options) (*Model, error) {
	start := time.Now()
	o = o.withDefaults()
	if err := o.check(len(engines)); err != nil {
		return nil, err
	}
	rows, err := TrainingRows(engines, o.Config)
	if err != nil {
		return nil, err
	}
	return trainRows(ctx, rows, len(engines), o, start)
}

// TrainRows fits the model as Train does to rows built elsewhere: runs to
// failure (an asset's cycles up to a confirmed failure) numbered from 0 in
// Rows.Engine, each run's rows contiguous and in cycle order, X the
// feature vectors a Builder with o.Config makes (FeatureNames) and Y the
// capped cycles left (Target). The runs group the folds and the
// calibration as Train's engines do.
func TrainRows(ctx context.Context, rows *Rows, o Options) (*Model, error) {
	start := time.Now()
	o = o.withDefaults()
	if err := o.Config.validate(); err != nil {
		return nil, err
	}
	runs, err := rows.runs()
	if err != nil {
		return nil, err
	}
	if err := o.check(runs); err != nil {
		return nil, err
	}
	return trainRows(ctx, rows, runs, o, start)
}

// check rejects options that cannot train on n engines or runs.
func (o Options) check(n int) error {
	if !(o.Coverage > 0 && o.Coverage < 1) || o.Folds < 2 || o.Folds > n {
		return fmt.Errorf("rul: coverage %v, %d folds for %d engines", o.Coverage, o.Folds, n)
	}
	if !o.Calibration.valid() || o.Cuts < 1 || o.Bins < 1 {
		return fmt.Errorf("rul: calibration %q, %d cuts, %d bins", o.Calibration, o.Cuts, o.Bins)
	}
	return nil
}

// runs checks that r's rows are grouped as TrainRows needs and returns
// the number of runs.
func (r *Rows) runs() (int, error) {
	n := len(r.Y)
	if n == 0 || len(r.X) != n || len(r.Engine) != n {
		return 0, fmt.Errorf("rul: %d feature vectors, %d targets and %d run indexes: want as many, and some", len(r.X), n, len(r.Engine))
	}
	runs := 0
	for i, e := range r.Engine {
		switch {
		case i > 0 && e == r.Engine[i-1]:
		case e == runs:
			runs++
		default:
			return 0, fmt.Errorf("rul: row %d is of run %d after run %d: want each run's rows together, runs numbered from 0 in order", i, e, r.Engine[max(i-1, 0)])
		}
		if len(r.X[i]) != NumFeatures() {
			return 0, fmt.Errorf("rul: row %d has %d features, want %d", i, len(r.X[i]), NumFeatures())
		}
	}
	return runs, nil
}

// trainRows is the one training path of Train and TrainRows: rows of
// engines runs, o checked, start when the training began.
func trainRows(ctx context.Context, rows *Rows, engines int, o Options, start time.Time) (*Model, error) {
	alpha := 1 - o.Coverage
	lo, hi := quantileParams(o.Params, alpha/2), quantileParams(o.Params, 1-alpha/2)
	total, done := 2*o.Folds+3, 0
	step := func() {
		done++
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	fold := Folds(engines, o.Folds, o.Seed)
	// Every fit is independent: the fold models (lower and upper per fold)
	// and the three final ones run on GOMAXPROCS workers.
	type job struct {
		fold int // -1: the final models on every row
		p    gbdt.Params
		out  **gbdt.Model
	}
	foldModels := make([][2]*gbdt.Model, o.Folds)
	m := &Model{Config: o.Config, Coverage: o.Coverage, Params: o.Params}
	var jobs []job
	for f := 0; f < o.Folds; f++ {
		for i, p := range []gbdt.Params{lo, hi} {
			jobs = append(jobs, job{f, p, &foldModels[f][i]})
		}
	}
	jobs = append(jobs, job{-1, o.Params, &m.Point}, job{-1, lo, &m.Lower}, job{-1, hi, &m.Upper})
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan job)
	)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				X, y := rows.X, rows.Y
				if j.fold >= 0 {
					X, y, _ = rows.split(fold, j.fold)
				}
				g, err := gbdt.TrainRegressor(X, y, j.p)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("rul: fold %d: %w", j.fold, err)
				}
				*j.out = g
				step()
				mu.Unlock()
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- j
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if firstErr != nil {
		return nil, firstErr
	}
	for k := 1; k < o.Bins; k++ {
		m.Edges = append(m.Edges, o.Config.Cap*float64(k)/float64(o.Bins))
	}
	// Rows of an engine are contiguous and in cycle order.
	engineLen, position := make([]int, engines), make([]int, len(rows.Y))
	for r, e := range rows.Engine {
		position[r] = engineLen[e]
		engineLen[e]++
	}
	held := make([]heldOut, 0, len(rows.Y))
	heldY := make([]float64, 0, len(rows.Y))
	for f := 0; f < o.Folds; f++ {
		ms := foldModels[f]
		_, _, test := rows.split(fold, f)
		for _, r := range test {
			x, yv := rows.X[r], rows.Y[r]
			lq, uq := ms[0].Score(x), min(ms[1].Score(x), o.Config.Cap)
			e := rows.Engine[r]
			held = append(held, heldOut{score: max(lq-yv, yv-uq), lq: lq, uq: uq, bin: bin(m.Edges, (lq+uq)/2), engine: e, fold: f, position: position[r]})
			heldY = append(heldY, yv)
		}
	}
	w := calibWeights(held, engineLen, o.Calibration, o.Cuts, o.Seed)
	all := func(heldOut) bool { return true }
	cal := calibrate(held, w, o.Bins, o.Coverage, all)
	m.Margin, m.Margins = cal.margin, cal.margins
	m.Info.CVBinRows = make([]int, o.Bins)
	m.Info.CVBinCoverageMarginal = make([]float64, o.Bins)
	binW := make([]float64, o.Bins)
	var covered, wsum float64
	for i, h := range held {
		m.Info.CVBinRows[h.bin]++
		binW[h.bin] += w[i]
		wsum += w[i]
		if h.score <= m.Margin {
			m.Info.CVBinCoverageMarginal[h.bin] += w[i]
		}
		if h.score <= cal.of(h.bin) {
			covered += w[i]
		}
	}
	for b := range binW {
		if binW[b] > 0 {
			m.Info.CVBinCoverageMarginal[b] /= binW[b]
		}
	}
	if o.Bins == 1 {
		m.Edges, m.Margins = nil, nil
	}
	m.Info.Calibration = o.Calibration
	m.Info.CVCoverage = covered / wsum
	// The test-like held-out coverage of each calibration method, the
	// figures that chose the default (docs/ML.md).
	for _, c := range []Calibration{CalibrateCycles, CalibrateEngines, CalibrateCuts} {
		for _, b := range slices.Compact([]int{1, o.Bins}) {
			r := cutCoverage(held, heldY, engineLen, o.Folds, c, o.Cuts, b, o)
			m.Info.CutCV = append(m.Info.CutCV, r)
			if c == o.Calibration && b == o.Bins {
				m.Info.CutCoverage = r.Coverage
			}
		}
	}
	m.Params.Progress = nil
	m.Info.Engines, m.Info.Rows, m.Info.Folds = engines, len(rows.Y), o.Folds
	m.Info.Seconds = time.Since(start).Seconds()
	return m, nil
}

// minBinRows is the fewest held-out rows a bin needs for its own margin.
const minBinRows = 100

// conformal returns the ⌈(n+1)·coverage⌉-th smallest of the n scores, the
// split-conformal quantile.
func conformal(scores []float64, coverage float64) float64 {
	return weightedConformal(scores, nil, coverage)
}

// CVResult is the engine-grouped cross-validation of one parameter set.
type CVResult struct {
	Params gbdt.Params `json:"params"`
	// RMSE is the out-of-fold RMSE against the capped target over every
	// cycle of the held-out engines, and FoldRMSE per fold.
	RMSE     float64   `json:"rmse"`
	FoldRMSE []float64 `json:"fold_rmse"`
	Seconds  float64   `json:"seconds"`
}

// CrossValidate scores point-model parameters by engine-grouped k-fold
// cross-validation over training rows: no engine has rows on both sides
// of a fold.
func CrossValidate(ctx context.Context, rows *Rows, cap float64, p gbdt.Params, k int, seed uint64) (*CVResult, error) {
	if len(rows.Engine) == 0 {
		return nil, errors.New("rul: no rows")
	}
	start := time.Now()
	fold := Folds(rows.Engine[len(rows.Engine)-1]+1, k, seed)
	res := &CVResult{Params: p}
	var se float64
	for f := 0; f < k; f++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		X, y, test := rows.split(fold, f)
		m, err := gbdt.TrainRegressor(X, y, p)
		if err != nil {
			return nil, fmt.Errorf("rul: fold %d: %w", f, err)
		}
		var fse float64
		for _, r := range test {
			d := clamp(m.Score(rows.X[r]), 0, cap) - rows.Y[r]
			fse += d * d
		}
		se += fse
		res.FoldRMSE = append(res.FoldRMSE, math.Sqrt(fse/float64(len(test))))
	}
	res.Params.Progress = nil
	res.RMSE = math.Sqrt(se / float64(len(rows.Y)))
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// PHM08 is the PHM 2008 challenge's score of one prediction error
// d = predicted − true: exp(−d/13) − 1 when early (d < 0), exp(d/10) − 1
// when late, so late predictions cost more.
func PHM08(d float64) float64 {
	if d < 0 {
		return math.Exp(-d/13) - 1
	}
	return math.Exp(d/10) - 1
}

// Unit is one test engine's estimate at its last cycle.
type Unit struct {
	Unit  int     `json:"unit"`
	RUL   float64 `json:"rul"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	// TrueRUL is the truth, when known.
	TrueRUL *float64 `json:"true_rul,omitempty"`
}

// Metrics are the figures over test engines with known truth.
type Metrics struct {
	// RMSE and PHM08 (the sum over engines) compare the estimates with
	// the uncapped true RUL, as the literature does.
	RMSE  float64 `json:"rmse"`
	PHM08 float64 `json:"phm08"`
	// Coverage is the share of engines whose interval holds the capped
	// truth min(true, Cap), the quantity the model estimates;
	// CoverageUncapped the share holding the true RUL itself.
	Coverage         float64 `json:"coverage"`
	CoverageUncapped float64 `json:"coverage_uncapped"`
	// MeanWidth is the intervals' mean width in cycles.
	MeanWidth float64 `json:"mean_width"`
}

// Score computes the metrics of units against truth[i] for units[i].
func Score(units []Unit, truth []float64, cap float64) (Metrics, error) {
	if len(units) != len(truth) || len(units) == 0 {
		return Metrics{}, fmt.Errorf("rul: %d estimates for %d true values", len(units), len(truth))
	}
	var m Metrics
	var se float64
	for i, u := range units {
		d := u.RUL - truth[i]
		se += d * d
		m.PHM08 += PHM08(d)
		if c := min(truth[i], cap); u.Lower <= c && c <= u.Upper {
			m.Coverage++
		}
		if u.Lower <= truth[i] && truth[i] <= u.Upper {
			m.CoverageUncapped++
		}
		m.MeanWidth += u.Upper - u.Lower
	}
	n := float64(len(units))
	m.RMSE = math.Sqrt(se / n)
	m.Coverage /= n
	m.CoverageUncapped /= n
	m.MeanWidth /= n
	return m, nil
}

// Evaluate estimates the RUL of each test engine at its last cycle and,
// when truth is not nil (one value per engine, in order), scores the
// estimates.
func Evaluate(m *Model, engines []dataset.CMAPSSEngine, truth []int) ([]Unit, *Metrics, error) {
	X, err := LastFeatures(engines, m.Config)
	if err != nil {
		return nil, nil, err
	}
	units := make([]Unit, len(engines))
	for i, x := range X {
		r, lo, hi := m.Predict(x)
		units[i] = Unit{Unit: engines[i].Unit, RUL: r, Lower: lo, Upper: hi}
	}
	if truth == nil {
		return units, nil, nil
	}
	if len(truth) != len(engines) {
		return nil, nil, fmt.Errorf("rul: %d true values for %d engines", len(truth), len(engines))
	}
	tv := make([]float64, len(truth))
	for i, v := range truth {
		tv[i] = float64(v)
		units[i].TrueRUL = &tv[i]
	}
	met, err := Score(units, tv, m.Config.Cap)
	if err != nil {
		return nil, nil, err
	}
	return units, &met, nil
}
