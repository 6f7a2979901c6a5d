// Package tree holds decision-tree ensembles flattened into one array of
// nodes, the form the Isolation Forest and the gradient-boosted trees score
// with: walking a tree is index arithmetic over contiguous memory, with no
// pointers to chase and no allocation.
package tree

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Node is one node of a flattened tree. An internal node sends x to
// Left when x[Feature] > Value is false (x[Feature] <= Value, or NaN) and
// to Left+1 otherwise; a leaf has Feature -1 and carries its output in
// Value.
type Node struct {
	Value   float64
	Feature int32
	Left    int32
}

// IsLeaf reports whether n is a leaf.
func (n Node) IsLeaf() bool { return n.Feature < 0 }

// Ensemble is a set of trees over NumFeatures inputs. Roots[t] is the index
// of tree t's root in Nodes. Children always follow their parent, so every
// walk ends.
//
// Sum scores with a compiled copy of the trees that Compile builds: leaves
// become nodes that loop onto themselves, so four trees are walked side by
// side for a fixed number of steps with no data-dependent branch, which
// keeps the processor's pipeline full where a per-node branch would be
// mispredicted half the time.
type Ensemble struct {
	Nodes       []Node
	Roots       []int32
	NumFeatures int

	fast  []fastNode // Nodes with leaves as self-loops
	leaf  []float64  // leaf outputs by node index
	depth []int32    // max depth of each group of four trees
}

type fastNode struct {
	value   float64
	feature int32
	left    int32
}

// Compile prepares the trees for Sum. Builders and decoders call it; call it
// again after changing Nodes by hand.
func (e *Ensemble) Compile() {
	e.fast = make([]fastNode, len(e.Nodes))
	e.leaf = make([]float64, len(e.Nodes))
	for i, n := range e.Nodes {
		if n.Feature < 0 {
			e.fast[i] = fastNode{value: math.Inf(1), left: int32(i)}
			e.leaf[i] = n.Value
		} else {
			e.fast[i] = fastNode{value: n.Value, feature: n.Feature, left: n.Left}
		}
	}
	e.depth = make([]int32, (len(e.Roots)+3)/4)
	d := make([]int32, len(e.Nodes))
	for i := range e.Nodes { // parents precede children
		if n := e.Nodes[i]; n.Feature >= 0 {
			d[n.Left], d[n.Left+1] = d[i]+1, d[i]+1
		}
	}
	for t, r := range e.Roots {
		e.depth[t/4] = max(e.depth[t/4], treeDepth(e.Nodes, d, r))
	}
}

// treeDepth is the deepest leaf below root, given each node's depth d
// measured from its own root.
func treeDepth(nodes []Node, d []int32, root int32) int32 {
	best := int32(0)
	stack := []int32{root}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if n := nodes[i]; n.Feature >= 0 {
			stack = append(stack, n.Left, n.Left+1)
		} else {
			best = max(best, d[i])
		}
	}
	return best
}

// Leaf returns the index of the leaf that tree t sends x to.
func (e *Ensemble) Leaf(t int, x []float64) int32 {
	i := e.Roots[t]
	for {
		n := e.Nodes[i]
		if n.Feature < 0 {
			return i
		}
		i = n.Left
		if x[n.Feature] > n.Value {
			i++
		}
	}
}

// Sum adds the leaf values x reaches in every tree. It does not allocate;
// x must hold at least NumFeatures values, and the ensemble must be
// compiled.
func (e *Ensemble) Sum(x []float64) float64 {
	f, leaf, roots := e.fast, e.leaf, e.Roots
	var s float64
	t := 0
	for ; t+4 <= len(roots); t += 4 {
		a, b, c, d := roots[t], roots[t+1], roots[t+2], roots[t+3]
		for k := e.depth[t/4]; k > 0; k-- {
			na, nb, nc, nd := &f[a], &f[b], &f[c], &f[d]
			var ra, rb, rc, rd int32
			if x[na.feature] > na.value {
				ra = 1
			}
			if x[nb.feature] > nb.value {
				rb = 1
			}
			if x[nc.feature] > nc.value {
				rc = 1
			}
			if x[nd.feature] > nd.value {
				rd = 1
			}
			a, b, c, d = na.left+ra, nb.left+rb, nc.left+rc, nd.left+rd
		}
		s += leaf[a] + leaf[b] + leaf[c] + leaf[d]
	}
	for ; t < len(roots); t++ {
		a := roots[t]
		for k := e.depth[t/4]; k > 0; k-- {
			n := &f[a]
			var r int32
			if x[n.feature] > n.value {
				r = 1
			}
			a = n.left + r
		}
		s += leaf[a]
	}
	return s
}

// Builder appends trees to an Ensemble.
type Builder struct {
	E *Ensemble
}

// NewBuilder starts an ensemble over numFeatures inputs.
func NewBuilder(numFeatures int) *Builder {
	return &Builder{E: &Ensemble{NumFeatures: numFeatures}}
}

// Root starts a new tree with one leaf and returns its index.
func (b *Builder) Root() int32 {
	i := int32(len(b.E.Nodes))
	b.E.Nodes = append(b.E.Nodes, Node{Feature: -1})
	b.E.Roots = append(b.E.Roots, i)
	return i
}

// Split turns leaf i into an internal node on feature ≤ threshold and
// returns the indexes of its two new leaves.
func (b *Builder) Split(i int32, feature int, threshold float64) (left, right int32) {
	left = int32(len(b.E.Nodes))
	b.E.Nodes = append(b.E.Nodes, Node{Feature: -1}, Node{Feature: -1})
	b.E.Nodes[i] = Node{Value: threshold, Feature: int32(feature), Left: left}
	return left, left + 1
}

// SetLeaf sets the output of leaf i.
func (b *Builder) SetLeaf(i int32, v float64) { b.E.Nodes[i].Value = v }

// Ensemble compiles and returns the trees built so far.
func (b *Builder) Ensemble() *Ensemble {
	b.E.Compile()
	return b.E
}

// Validate checks that the ensemble is well formed: roots and children in
// range, children after their parent, features below NumFeatures, finite
// values. Decoders call it so that a damaged model file cannot make Sum
// panic or loop.
func (e *Ensemble) Validate() error {
	if e.NumFeatures <= 0 {
		return fmt.Errorf("tree: %d features", e.NumFeatures)
	}
	if len(e.Roots) == 0 {
		return errors.New("tree: no trees")
	}
	n := int32(len(e.Nodes))
	for t, r := range e.Roots {
		if r < 0 || r >= n {
			return fmt.Errorf("tree: root %d of tree %d out of range", r, t)
		}
	}
	for i, nd := range e.Nodes {
		if math.IsNaN(nd.Value) || math.IsInf(nd.Value, 0) {
			return fmt.Errorf("tree: node %d has value %v", i, nd.Value)
		}
		if nd.Feature < 0 {
			continue
		}
		if int(nd.Feature) >= e.NumFeatures {
			return fmt.Errorf("tree: node %d splits on feature %d of %d", i, nd.Feature, e.NumFeatures)
		}
		if nd.Left <= int32(i) || nd.Left+1 >= n {
			return fmt.Errorf("tree: node %d has children %d,%d out of order or range", i, nd.Left, nd.Left+1)
		}
	}
	return nil
}

// CheckMatrix checks that X is training input for a tree model: at least
// minRows rows, all with the same non-zero number of finite values. It
// returns that number.
func CheckMatrix(X [][]float64, minRows int) (features int, err error) {
	if len(X) < minRows {
		return 0, fmt.Errorf("need at least %d rows, got %d", minRows, len(X))
	}
	nf := len(X[0])
	if nf == 0 {
		return 0, errors.New("rows have no features")
	}
	for i, row := range X {
		if len(row) != nf {
			return 0, fmt.Errorf("row %d has %d features, row 0 has %d", i, len(row), nf)
		}
		for j, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, fmt.Errorf("row %d feature %d is %v", i, j, v)
			}
		}
	}
	return nf, nil
}

// wire is the JSON form: one array per field, which is compact and
// diff-friendly.
type wire struct {
	NumFeatures int       `json:"num_features"`
	Roots       []int32   `json:"roots"`
	Feature     []int32   `json:"feature"`
	Left        []int32   `json:"left"`
	Value       []float64 `json:"value"`
}

// MarshalJSON encodes the ensemble.
func (e *Ensemble) MarshalJSON() ([]byte, error) {
	w := wire{
		NumFeatures: e.NumFeatures,
		Roots:       e.Roots,
		Feature:     make([]int32, len(e.Nodes)),
		Left:        make([]int32, len(e.Nodes)),
		Value:       make([]float64, len(e.Nodes)),
	}
	for i, n := range e.Nodes {
		w.Feature[i], w.Left[i], w.Value[i] = n.Feature, n.Left, n.Value
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes and validates an ensemble.
func (e *Ensemble) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return fmt.Errorf("tree: %w", err)
	}
	if len(w.Left) != len(w.Feature) || len(w.Value) != len(w.Feature) {
		return fmt.Errorf("tree: node arrays of lengths %d, %d, %d", len(w.Feature), len(w.Left), len(w.Value))
	}
	d := Ensemble{NumFeatures: w.NumFeatures, Roots: w.Roots, Nodes: make([]Node, len(w.Feature))}
	for i := range d.Nodes {
		d.Nodes[i] = Node{Value: w.Value[i], Feature: w.Feature[i], Left: w.Left[i]}
	}
	if err := d.Validate(); err != nil {
		return err
	}
	d.Compile()
	*e = d
	return nil
}
