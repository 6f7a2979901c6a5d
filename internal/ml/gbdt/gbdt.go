// Package gbdt is gradient-boosted decision trees: a classifier for binary
// labels (failure / no failure) and, with TrainRegressor, a regressor under
// squared-error or quantile (pinball) loss, built the way LightGBM and
// scikit-learn's HistGradientBoostingClassifier and
// HistGradientBoostingRegressor are:
//
//   - features are binned once into at most 255 quantile bins, so split
//     finding scans histograms of gradient and hessian sums instead of
//     sorted values, and a child's histogram is its parent's minus its
//     sibling's;
//   - trees grow leaf-wise (best gain first) up to MaxLeafNodes leaves,
//     each split maximising G_L²/(H_L+λ) + G_R²/(H_R+λ) − G²/(H+λ) under the
//     loss's gradients and hessians, leaves set to −η·G/(H+λ) (for the
//     quantile loss, whose hessian is zero, η times the leaf's quantile of
//     the residuals, as scikit-learn does);
//   - class weights (for example "balanced") scale each row's gradient and
//     hessian to counter the rarity of failures;
//   - with EarlyStopping, a ValidationFraction of the rows (stratified for
//     the classifier) is held out and boosting stops once its loss has not
//     improved by Tol for NIterNoChange iterations; the model keeps the
//     best iteration.
//
// Scoring walks the flattened trees (package tree) without allocating.
package gbdt

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/smartmaint/smartmaint/internal/ml/metrics"
	"github.com/smartmaint/smartmaint/internal/ml/tree"
)

// Params configure training. DefaultParams gives scikit-learn's defaults;
// zero numeric fields are replaced by those defaults.
type Params struct {
	LearningRate       float64 `json:"learning_rate"`
	MaxIter            int     `json:"max_iter"`
	MaxLeafNodes       int     `json:"max_leaf_nodes"`
	MaxDepth           int     `json:"max_depth"` // 0: no limit
	MinSamplesLeaf     int     `json:"min_samples_leaf"`
	L2                 float64 `json:"l2_regularization"`
	MaxBins            int     `json:"max_bins"` // at most 255
	EarlyStopping      bool    `json:"early_stopping"`
	ValidationFraction float64 `json:"validation_fraction"`
	NIterNoChange      int     `json:"n_iter_no_change"`
	Tol                float64 `json:"tol"`
	// ClassWeight is "" (every row weighs 1) or "balanced" (each class
	// weighs n / (2·n_class), scikit-learn's convention).
	ClassWeight string `json:"class_weight"`
	Seed        uint64 `json:"seed"`
	// Loss is LossLog ("" means LossLog) for Train, LossSquared ("" means
	// LossSquared) or LossQuantile for TrainRegressor.
	Loss string `json:"loss,omitempty"`
	// Quantile is the quantile in (0, 1) that LossQuantile fits.
	Quantile float64 `json:"quantile,omitempty"`

	// Progress, when set, is called after each boosting iteration with the
	// number done and the maximum.
	Progress func(done, max int) `json:"-"`
}

// Losses.
const (
	// LossLog is the binary logistic loss of the classifier.
	LossLog = "log_loss"
	// LossSquared is the squared error ½(y−f)²: the model predicts the
	// conditional mean.
	LossSquared = "squared_error"
	// LossQuantile is the pinball loss of Params.Quantile q: q·(y−f) when
	// y ≥ f, (1−q)·(f−y) otherwise; the model predicts the conditional
	// q-quantile.
	LossQuantile = "quantile"
)

// regression reports whether the loss is a regression loss.
func (p Params) regression() bool { return p.Loss == LossSquared || p.Loss == LossQuantile }

// DefaultParams are scikit-learn 1.2's HistGradientBoostingClassifier
// defaults, with early stopping on.
func DefaultParams() Params {
	return Params{
		LearningRate:       0.1,
		MaxIter:            100,
		MaxLeafNodes:       31,
		MinSamplesLeaf:     20,
		MaxBins:            255,
		EarlyStopping:      true,
		ValidationFraction: 0.1,
		NIterNoChange:      10,
		Tol:                1e-7,
	}
}

func (p Params) withDefaults() Params {
	d := DefaultParams()
	p.LearningRate = cmp.Or(p.LearningRate, d.LearningRate)
	p.MaxIter = cmp.Or(p.MaxIter, d.MaxIter)
	p.MaxLeafNodes = cmp.Or(p.MaxLeafNodes, d.MaxLeafNodes)
	p.MinSamplesLeaf = cmp.Or(p.MinSamplesLeaf, d.MinSamplesLeaf)
	p.MaxBins = cmp.Or(p.MaxBins, d.MaxBins)
	p.ValidationFraction = cmp.Or(p.ValidationFraction, d.ValidationFraction)
	p.NIterNoChange = cmp.Or(p.NIterNoChange, d.NIterNoChange)
	p.Tol = cmp.Or(p.Tol, d.Tol)
	return p
}

func (p Params) validate() error {
	switch {
	case p.LearningRate <= 0:
		return fmt.Errorf("gbdt: learning rate %v must be positive", p.LearningRate)
	case p.MaxIter < 1 || p.MaxLeafNodes < 2 || p.MinSamplesLeaf < 1 || p.NIterNoChange < 1:
		return errors.New("gbdt: max iter, min samples leaf and n iter no change must be at least 1, max leaf nodes at least 2")
	case p.MaxBins < 2 || p.MaxBins > 255:
		return fmt.Errorf("gbdt: max bins %d outside 2..255", p.MaxBins)
	case p.L2 < 0 || p.MaxDepth < 0:
		return errors.New("gbdt: l2 regularization and max depth must not be negative")
	case p.ValidationFraction <= 0 || p.ValidationFraction >= 1:
		return fmt.Errorf("gbdt: validation fraction %v outside (0, 1)", p.ValidationFraction)
	case p.ClassWeight != "" && p.ClassWeight != "balanced":
		return fmt.Errorf("gbdt: class weight %q: want \"\" or \"balanced\"", p.ClassWeight)
	case p.Loss != "" && p.Loss != LossLog && !p.regression():
		return fmt.Errorf("gbdt: unknown loss %q", p.Loss)
	case p.Loss == LossQuantile && !(p.Quantile > 0 && p.Quantile < 1):
		return fmt.Errorf("gbdt: quantile %v outside (0, 1)", p.Quantile)
	case p.regression() && p.ClassWeight != "":
		return errors.New("gbdt: class weight applies only to the classifier")
	}
	return nil
}

// Model is a trained classifier or regressor. It is safe for concurrent
// use.
type Model struct {
	ens    tree.Ensemble
	base   float64 // initial log-odds, or initial value of a regressor
	reg    bool    // a regressor: Score is Raw
	params Params
	info   Info
}

// Info describes how training went.
type Info struct {
	// Iterations is the number of trees kept.
	Iterations int `json:"iterations"`
	// ValidationLoss is the held-out loss (log loss, half squared error or
	// pinball loss) at the kept iteration (0 without early stopping).
	ValidationLoss float64 `json:"validation_loss,omitempty"`
}

// Score returns the predicted probability of the positive class, or for a
// regressor the predicted value. x must hold NumFeatures values. It does
// not allocate.
func (m *Model) Score(x []float64) float64 {
	if m.reg {
		return m.Raw(x)
	}
	return sigmoid(m.Raw(x))
}

// Raw returns the predicted log-odds of the positive class, or for a
// regressor the predicted value.
func (m *Model) Raw(x []float64) float64 {
	if len(m.ens.Roots) == 0 {
		return m.base
	}
	return m.base + m.ens.Sum(x)
}

// NumFeatures is the length of the input vectors.
func (m *Model) NumFeatures() int { return m.ens.NumFeatures }

// Regressor reports whether the model was trained by TrainRegressor.
func (m *Model) Regressor() bool { return m.reg }

// Params returns the parameters the model was trained with.
func (m *Model) Params() Params { return m.params }

// Info describes the training run.
func (m *Model) Info() Info { return m.info }

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// Train fits a classifier to rows X with labels y. p.Loss must be "" or
// LossLog.
func Train(X [][]float64, y []bool, p Params) (*Model, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	if p.regression() {
		return nil, fmt.Errorf("gbdt: Train fits the classifier; loss %q needs TrainRegressor", p.Loss)
	}
	if len(X) != len(y) {
		return nil, fmt.Errorf("gbdt: %d rows but %d labels", len(X), len(y))
	}
	if _, err := tree.CheckMatrix(X, 2); err != nil {
		return nil, fmt.Errorf("gbdt: %w", err)
	}
	pos := 0
	for _, v := range y {
		if v {
			pos++
		}
	}
	if pos == 0 || pos == len(y) {
		return nil, metrics.ErrOneClass
	}
	weight := [2]float64{1, 1} // negative, positive
	if p.ClassWeight == "balanced" {
		n := float64(len(y))
		weight = [2]float64{n / (2 * float64(len(y)-pos)), n / (2 * float64(pos))}
	}

	trainRows := make([]int, len(X))
	for i := range trainRows {
		trainRows[i] = i
	}
	var valRows []int
	if p.EarlyStopping {
		var err error
		trainRows, valRows, err = metrics.StratifiedSplit(y, p.ValidationFraction, p.Seed)
		if err != nil {
			return nil, fmt.Errorf("gbdt: early stopping: %w", err)
		}
	}
	target := make([]float64, len(y))
	for i, v := range y {
		if v {
			target[i] = 1
		}
	}
	t := newTrainer(X, target, y, trainRows, weight, p)
	return t.run(valRows)
}

// TrainRegressor fits a regressor to rows X with targets y under p.Loss:
// LossSquared (also for "") or LossQuantile at p.Quantile. Score then
// returns the predicted value. With EarlyStopping the validation rows are
// a random ValidationFraction of the rows.
func TrainRegressor(X [][]float64, y []float64, p Params) (*Model, error) {
	p.Loss = cmp.Or(p.Loss, LossSquared)
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return nil, err
	}
	if !p.regression() {
		return nil, fmt.Errorf("gbdt: TrainRegressor needs a regression loss, not %q", p.Loss)
	}
	if len(X) != len(y) {
		return nil, fmt.Errorf("gbdt: %d rows but %d targets", len(X), len(y))
	}
	if _, err := tree.CheckMatrix(X, 2); err != nil {
		return nil, fmt.Errorf("gbdt: %w", err)
	}
	for i, v := range y {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("gbdt: target %d is %v", i, v)
		}
	}
	perm := make([]int, len(X))
	for i := range perm {
		perm[i] = i
	}
	var valRows []int
	trainRows := perm
	if p.EarlyStopping {
		rand.New(rand.NewPCG(p.Seed, 0x9b)).Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		nv := max(1, min(int(float64(len(perm))*p.ValidationFraction+0.5), len(perm)-1))
		valRows, trainRows = slices.Clone(perm[:nv]), slices.Clone(perm[nv:])
		slices.Sort(valRows)
		slices.Sort(trainRows)
	}
	t := newTrainer(X, y, nil, trainRows, [2]float64{1, 1}, p)
	return t.run(valRows)
}

type trainer struct {
	p       Params
	X       [][]float64
	target  []float64 // every row's target: 0 or 1 for the classifier
	labels  []bool    // the classifier's labels, nil for a regressor
	y       []float64 // targets of the training rows
	w       []float64 // weights of the training rows
	bins    [][]uint8 // [feature][training row]
	edges   [][]float64
	nbins   []int
	g, h    []float64
	raw     []float64
	rows    []int32 // training row positions, partitioned per leaf
	scratch []int32
	resid   []float64 // a leaf's residuals, for the quantile loss
	hists   [][]hbin  // free list
	b       *tree.Builder
	weight  [2]float64
}

type hbin struct {
	g, h float64
	n    int
}

func newTrainer(X [][]float64, target []float64, labels []bool, rows []int, weight [2]float64, p Params) *trainer {
	nf := len(X[0])
	t := &trainer{
		p:       p,
		X:       X,
		target:  target,
		labels:  labels,
		y:       make([]float64, len(rows)),
		w:       make([]float64, len(rows)),
		bins:    make([][]uint8, nf),
		edges:   make([][]float64, nf),
		nbins:   make([]int, nf),
		g:       make([]float64, len(rows)),
		h:       make([]float64, len(rows)),
		raw:     make([]float64, len(rows)),
		rows:    make([]int32, len(rows)),
		scratch: make([]int32, len(rows)),
		b:       tree.NewBuilder(nf),
		weight:  weight,
	}
	for i, r := range rows {
		t.y[i] = target[r]
		t.w[i] = weight[0]
		if labels != nil && labels[r] {
			t.w[i] = weight[1]
		}
	}
	col := make([]float64, len(rows))
	for f := 0; f < nf; f++ {
		for i, r := range rows {
			col[i] = X[r][f]
		}
		t.edges[f] = binEdges(col, p.MaxBins)
		t.nbins[f] = len(t.edges[f]) + 1
		t.bins[f] = make([]uint8, len(rows))
		for i, v := range col {
			t.bins[f][i] = uint8(sort.SearchFloat64s(t.edges[f], v))
		}
	}
	return t
}

// binEdges returns the upper edges of a feature's bins: bin b holds the
// values in (edges[b−1], edges[b]], the last bin everything above. With at
// most maxBins distinct values the edges are the midpoints between them;
// otherwise they are quantiles, as scikit-learn's _BinMapper does.
func binEdges(col []float64, maxBins int) []float64 {
	s := slices.Clone(col)
	slices.Sort(s)
	distinct := slices.Compact(slices.Clone(s))
	if len(distinct) <= maxBins {
		edges := make([]float64, len(distinct)-1)
		for i := range edges {
			edges[i] = (distinct[i] + distinct[i+1]) / 2
		}
		return edges
	}
	edges := make([]float64, 0, maxBins-1)
	for k := 1; k < maxBins; k++ {
		// Percentile with the "midpoint" rule.
		pos := float64(k) / float64(maxBins) * float64(len(s)-1)
		lo, hi := int(math.Floor(pos)), int(math.Ceil(pos))
		edges = append(edges, (s[lo]+s[hi])/2)
	}
	return slices.Compact(edges)
}

func (t *trainer) run(valRows []int) (*Model, error) {
	p := t.p
	var sw, swy float64
	for i := range t.y {
		sw += t.w[i]
		swy += t.w[i] * t.y[i]
	}
	var base float64
	switch p.Loss {
	case LossSquared:
		base = swy / sw
	case LossQuantile:
		base = quantile(slices.Clone(t.y), p.Quantile)
	default:
		prior := min(max(swy/sw, 1e-15), 1-1e-15)
		base = math.Log(prior / (1 - prior))
	}
	for i := range t.raw {
		t.raw[i] = base
	}
	valRaw := make([]float64, len(valRows))
	for i := range valRaw {
		valRaw[i] = base
	}
	best, bestIter := math.Inf(1), 0
	for it := 0; it < p.MaxIter; it++ {
		t.gradients()
		root := t.b.Root()
		t.grow(root)
		if len(valRows) > 0 {
			treeIdx := len(t.b.E.Roots) - 1
			loss := 0.0
			var wsum float64
			for i, r := range valRows {
				valRaw[i] += t.b.E.Nodes[t.b.E.Leaf(treeIdx, t.X[r])].Value
				w := t.weight[0]
				if t.labels != nil && t.labels[r] {
					w = t.weight[1]
				}
				loss += w * t.loss(t.target[r], valRaw[i])
				wsum += w
			}
			loss /= wsum
			if loss < best-p.Tol {
				best, bestIter = loss, it+1
			}
			if p.Progress != nil {
				p.Progress(it+1, p.MaxIter)
			}
			if it+1-bestIter >= p.NIterNoChange {
				break
			}
			continue
		}
		if p.Progress != nil {
			p.Progress(it+1, p.MaxIter)
		}
	}
	e := t.b.E
	info := Info{Iterations: len(e.Roots)}
	if len(valRows) > 0 {
		// Keep the trees up to the best validation loss.
		info = Info{Iterations: bestIter, ValidationLoss: best}
		if bestIter < len(e.Roots) {
			if bestIter == 0 {
				e.Nodes, e.Roots = nil, nil
			} else {
				e.Nodes = e.Nodes[:e.Roots[bestIter]]
				e.Roots = e.Roots[:bestIter]
			}
		}
	}
	m := &Model{base: base, reg: p.regression(), params: p, info: info}
	m.params.Progress = nil
	m.ens.NumFeatures = e.NumFeatures
	if len(e.Roots) > 0 {
		m.ens = *t.b.Ensemble()
	}
	return m, nil
}

// gradients sets each training row's gradient and hessian of the loss at
// its current raw prediction.
func (t *trainer) gradients() {
	switch t.p.Loss {
	case LossSquared:
		for i := range t.raw {
			t.g[i], t.h[i] = t.raw[i]-t.y[i], 1
		}
	case LossQuantile:
		// The pinball loss has no curvature; with a unit hessian the
		// split gain is that of the gradients, and grow replaces the
		// leaf values by the residuals' quantile. At y = f the
		// subgradient taken is −q, as scikit-learn takes it: the other
		// choice gives every row of a target piled at its quantile (a
		// capped target at its cap) the same gradient, and no split
		// would ever gain.
		q := t.p.Quantile
		for i := range t.raw {
			if t.y[i] >= t.raw[i] {
				t.g[i] = -q
			} else {
				t.g[i] = 1 - q
			}
			t.h[i] = 1
		}
	default:
		for i := range t.raw {
			pr := sigmoid(t.raw[i])
			t.g[i] = t.w[i] * (pr - t.y[i])
			t.h[i] = t.w[i] * pr * (1 - pr)
		}
	}
}

// loss is one row's loss at raw prediction f.
func (t *trainer) loss(y, f float64) float64 {
	switch t.p.Loss {
	case LossSquared:
		return (y - f) * (y - f) / 2
	case LossQuantile:
		if y >= f {
			return t.p.Quantile * (y - f)
		}
		return (1 - t.p.Quantile) * (f - y)
	}
	pr := min(max(sigmoid(f), 1e-15), 1-1e-15)
	return -(y*math.Log(pr) + (1-y)*math.Log(1-pr))
}

// quantile returns the q-quantile of v by linear interpolation (numpy's
// default), reordering v.
func quantile(v []float64, q float64) float64 {
	slices.Sort(v)
	pos := q * float64(len(v)-1)
	lo := int(math.Floor(pos))
	if lo+1 >= len(v) {
		return v[len(v)-1]
	}
	return v[lo] + (pos-float64(lo))*(v[lo+1]-v[lo])
}

// wire is the serialized form of a Model.
type wire struct {
	Params      Params         `json:"params"`
	Info        Info           `json:"info"`
	Base        float64        `json:"base_log_odds"`
	Trees       *tree.Ensemble `json:"trees,omitempty"`
	NumFeatures int            `json:"num_features"`
}

// MarshalBinary encodes the model (as JSON).
func (m *Model) MarshalBinary() ([]byte, error) {
	w := wire{Params: m.params, Info: m.info, Base: m.base, NumFeatures: m.ens.NumFeatures}
	if len(m.ens.Roots) > 0 {
		w.Trees = &m.ens
	}
	return json.Marshal(w)
}

// UnmarshalBinary decodes a model written by MarshalBinary, validating its
// trees.
func (m *Model) UnmarshalBinary(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("gbdt: decode: %w", err)
	}
	if math.IsNaN(w.Base) || math.IsInf(w.Base, 0) {
		return fmt.Errorf("gbdt: decode: base log-odds %v", w.Base)
	}
	switch w.Params.Loss {
	case "", LossLog, LossSquared:
	case LossQuantile:
		if !(w.Params.Quantile > 0 && w.Params.Quantile < 1) {
			return fmt.Errorf("gbdt: decode: quantile %v", w.Params.Quantile)
		}
	default:
		return fmt.Errorf("gbdt: decode: unknown loss %q", w.Params.Loss)
	}
	d := Model{base: w.Base, reg: w.Params.regression(), params: w.Params, info: w.Info}
	d.ens.NumFeatures = w.NumFeatures
	if w.Trees != nil {
		if w.Trees.NumFeatures != w.NumFeatures {
			return fmt.Errorf("gbdt: decode: trees over %d features, model over %d", w.Trees.NumFeatures, w.NumFeatures)
		}
		d.ens = *w.Trees
	}
	if d.ens.NumFeatures <= 0 {
		return fmt.Errorf("gbdt: decode: %d features", d.ens.NumFeatures)
	}
	*m = d
	return nil
}
