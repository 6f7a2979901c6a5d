// Package iforest is the Isolation Forest anomaly detector of Liu, Ting and
// Zhou (2008): anomalies are few and different, so random axis-parallel
// splits isolate them in fewer steps than normal points.
//
// Each tree is grown on a subsample of ψ rows drawn without replacement,
// splitting on a random feature at a value drawn uniformly between the
// node's minimum and maximum, down to the height limit ⌈log₂ ψ⌉. A point's
// path length h(x) is the depth of the leaf it reaches plus c(n), the
// average path length of an unsuccessful binary-search-tree lookup among the
// n training rows left in that leaf. The anomaly score is
//
//	s(x) = 2^(−E[h(x)] / c(ψ))
//
// in (0, 1]: near 1 for anomalies, well below 0.5 for normal points. As in
// scikit-learn, a feature that is constant within a node is skipped in
// favour of another one.
//
// Trees are stored flattened (see package tree), each leaf holding its
// depth + c(n), so Score is one pass of array walks and does not allocate.
package iforest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"github.com/smartmaint/smartmaint/internal/ml/tree"
)

// Params configure training. Zero values take the defaults of Liu et al.
// (and scikit-learn): 100 trees, subsamples of 256 rows.
type Params struct {
	// Trees is the number of isolation trees.
	Trees int `json:"trees"`
	// Subsample is ψ, the rows drawn for each tree (capped at the rows
	// available).
	Subsample int `json:"subsample"`
	// Contamination is the expected share of anomalies in the training data,
	// in [0, 0.5). It sets Threshold to the training scores' (1 −
	// Contamination) quantile; 0 keeps the paper's fixed threshold 0.5
	// (scikit-learn's contamination="auto").
	Contamination float64 `json:"contamination"`
	// Seed makes training reproducible.
	Seed uint64 `json:"seed"`
}

func (p Params) withDefaults() Params {
	p.Trees = cmp.Or(p.Trees, 100)
	p.Subsample = cmp.Or(p.Subsample, 256)
	return p
}

// Forest is a trained Isolation Forest. It is safe for concurrent use.
type Forest struct {
	ens       tree.Ensemble
	subsample int     // ψ actually used
	norm      float64 // c(ψ) · number of trees
	threshold float64
	params    Params
}

// Train grows a forest on the rows of X, each with the same number of
// features.
func Train(X [][]float64, p Params) (*Forest, error) {
	p = p.withDefaults()
	switch {
	case p.Trees < 1 || p.Subsample < 2:
		return nil, fmt.Errorf("iforest: trees %d and subsample %d must be at least 1 and 2", p.Trees, p.Subsample)
	case p.Contamination < 0 || p.Contamination >= 0.5:
		return nil, fmt.Errorf("iforest: contamination %v outside [0, 0.5)", p.Contamination)
	}
	nf, err := tree.CheckMatrix(X, 2)
	if err != nil {
		return nil, fmt.Errorf("iforest: %w", err)
	}
	psi := min(p.Subsample, len(X))
	g := grower{
		X:        X,
		b:        tree.NewBuilder(nf),
		rng:      rand.New(rand.NewPCG(p.Seed, 0x1f0e_57ee_d00d_0001)),
		maxDepth: int(math.Ceil(math.Log2(float64(psi)))),
		features: make([]int, nf),
	}
	rows := make([]int, len(X))
	for t := 0; t < p.Trees; t++ {
		for i := range rows {
			rows[i] = i
		}
		// Partial Fisher–Yates: the first psi entries are a sample
		// without replacement.
		for i := 0; i < psi; i++ {
			j := i + g.rng.IntN(len(rows)-i)
			rows[i], rows[j] = rows[j], rows[i]
		}
		sample := append([]int(nil), rows[:psi]...)
		g.grow(g.b.Root(), sample, 0)
	}
	f := &Forest{
		ens:       *g.b.Ensemble(),
		subsample: psi,
		norm:      AveragePathLength(psi) * float64(p.Trees),
		threshold: 0.5,
		params:    p,
	}
	if p.Contamination > 0 {
		scores := make([]float64, len(X))
		for i, x := range X {
			scores[i] = f.Score(x)
		}
		f.threshold = Quantile(scores, 1-p.Contamination)
	}
	return f, nil
}

type grower struct {
	X        [][]float64
	b        *tree.Builder
	rng      *rand.Rand
	maxDepth int
	features []int
}

func (g *grower) grow(node int32, rows []int, depth int) {
	if depth >= g.maxDepth || len(rows) <= 1 {
		g.b.SetLeaf(node, float64(depth)+AveragePathLength(len(rows)))
		return
	}
	for i := range g.features {
		g.features[i] = i
	}
	// Draw features without replacement until one varies in this node.
	for k := len(g.features); k > 0; k-- {
		j := g.rng.IntN(k)
		f := g.features[j]
		g.features[j] = g.features[k-1]
		lo, hi := g.X[rows[0]][f], g.X[rows[0]][f]
		for _, r := range rows[1:] {
			v := g.X[r][f]
			lo, hi = min(lo, v), max(hi, v)
		}
		if lo == hi {
			continue
		}
		split := lo + g.rng.Float64()*(hi-lo)
		if split >= hi { // guard against rounding up to hi
			split = lo
		}
		// Partition: rows with x <= split first.
		n := 0
		for i, r := range rows {
			if g.X[r][f] <= split {
				rows[i], rows[n] = rows[n], rows[i]
				n++
			}
		}
		left, right := g.b.Split(node, f, split)
		g.grow(left, rows[:n], depth+1)
		g.grow(right, rows[n:], depth+1)
		return
	}
	// Every feature is constant: the rows are duplicates.
	g.b.SetLeaf(node, float64(depth)+AveragePathLength(len(rows)))
}

// Score returns the anomaly score s(x) in (0, 1]; higher is more anomalous.
// x must hold NumFeatures values. It does not allocate.
func (f *Forest) Score(x []float64) float64 {
	return math.Exp2(-f.ens.Sum(x) / f.norm)
}

// PathLength returns E[h(x)], the mean path length over the trees.
func (f *Forest) PathLength(x []float64) float64 {
	return f.ens.Sum(x) / float64(len(f.ens.Roots))
}

// Threshold is the score at and above which a point is an anomaly.
func (f *Forest) Threshold() float64 { return f.threshold }

// SetThreshold overrides the anomaly threshold, for example one picked on a
// validation set.
func (f *Forest) SetThreshold(t float64) { f.threshold = t }

// IsAnomaly reports whether Score(x) reaches the threshold.
func (f *Forest) IsAnomaly(x []float64) bool { return f.Score(x) >= f.threshold }

// NumFeatures is the length of the input vectors.
func (f *Forest) NumFeatures() int { return f.ens.NumFeatures }

// Params returns the parameters the forest was trained with, defaults
// filled in.
func (f *Forest) Params() Params { return f.params }

// AveragePathLength is c(n) = 2H(n−1) − 2(n−1)/n, the average path length
// of an unsuccessful search in a binary search tree of n keys, with
// H(i) ≈ ln i + γ; c(1) = 0 and c(2) = 1.
func AveragePathLength(n int) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	m := float64(n - 1)
	return 2*(math.Log(m)+0.5772156649015329) - 2*m/float64(n)
}

// Quantile is the q-quantile of values with linear interpolation between
// order statistics (numpy's default); values is not modified.
func Quantile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	if lo >= len(s)-1 {
		return s[len(s)-1]
	}
	return s[lo] + (pos-float64(lo))*(s[lo+1]-s[lo])
}

// wire is the serialized form of a Forest.
type wire struct {
	Params    Params         `json:"params"`
	Subsample int            `json:"subsample_used"`
	Threshold float64        `json:"threshold"`
	Trees     *tree.Ensemble `json:"trees"`
}

// MarshalBinary encodes the forest (as JSON).
func (f *Forest) MarshalBinary() ([]byte, error) {
	return json.Marshal(wire{Params: f.params, Subsample: f.subsample, Threshold: f.threshold, Trees: &f.ens})
}

// UnmarshalBinary decodes a forest written by MarshalBinary, validating its
// trees.
func (f *Forest) UnmarshalBinary(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("iforest: decode: %w", err)
	}
	if w.Trees == nil {
		return errors.New("iforest: decode: no trees")
	}
	if w.Subsample < 2 {
		return fmt.Errorf("iforest: decode: subsample %d", w.Subsample)
	}
	*f = Forest{
		ens:       *w.Trees,
		subsample: w.Subsample,
		norm:      AveragePathLength(w.Subsample) * float64(len(w.Trees.Roots)),
		threshold: w.Threshold,
		params:    w.Params,
	}
	return nil
}
