package tree

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// stump builds x0 <= 1 ? (x1 <= 5 ? 10 : 20) : 30, plus a constant tree 0.5.
func stump() *Ensemble {
	b := NewBuilder(2)
	r := b.Root()
	l, rr := b.Split(r, 0, 1)
	ll, lr := b.Split(l, 1, 5)
	b.SetLeaf(ll, 10)
	b.SetLeaf(lr, 20)
	b.SetLeaf(rr, 30)
	c := b.Root()
	b.SetLeaf(c, 0.5)
	return b.Ensemble()
}

func TestSum(t *testing.T) {
	e := stump()
	tests := []struct {
		x    []float64
		want float64
	}{
		{[]float64{0, 0}, 10.5},
		{[]float64{1, 5}, 10.5}, // thresholds are inclusive on the left
		{[]float64{1, 6}, 20.5},
		{[]float64{2, 0}, 30.5},
		{[]float64{nanValue(), 0}, 10.5}, // NaN goes left
	}
	for _, tt := range tests {
		if got := e.Sum(tt.x); got != tt.want {
			t.Errorf("Sum(%v) = %v, want %v", tt.x, got, tt.want)
		}
	}
	if got := e.Nodes[e.Leaf(0, []float64{1, 6})].Value; got != 20 {
		t.Errorf("Leaf value = %v", got)
	}
	if allocs := testing.AllocsPerRun(100, func() { e.Sum([]float64{0, 0}) }); allocs != 0 {
		t.Errorf("Sum allocates %v times", allocs)
	}
}

func nanValue() float64 {
	var z float64
	return z / z
}

func TestJSONRoundTrip(t *testing.T) {
	e := stump()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var d Ensemble
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, x := range [][]float64{{0, 0}, {1, 6}, {3, 3}} {
		if d.Sum(x) != e.Sum(x) {
			t.Errorf("decoded Sum(%v) = %v, want %v", x, d.Sum(x), e.Sum(x))
		}
	}
}

func TestValidateRejects(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"cycle", `{"num_features":1,"roots":[0],"feature":[0,-1,-1],"left":[0,0,0],"value":[1,0,0]}`, "out of order"},
		{"feature", `{"num_features":1,"roots":[0],"feature":[3,-1,-1],"left":[1,0,0],"value":[1,0,0]}`, "feature 3"},
		{"root", `{"num_features":1,"roots":[7],"feature":[-1],"left":[0],"value":[1]}`, "root 7"},
		{"lengths", `{"num_features":1,"roots":[0],"feature":[-1],"left":[],"value":[1]}`, "lengths"},
		{"no trees", `{"num_features":1,"roots":[],"feature":[],"left":[],"value":[]}`, "no trees"},
		{"syntax", `{"num_features":`, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Ensemble
			err := json.Unmarshal([]byte(tt.body), &e)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

// randomEnsemble grows trees with random splits of random depth.
func randomEnsemble(trees, depth int, r *rand.Rand) *Ensemble {
	b := NewBuilder(5)
	var grow func(i int32, d int)
	grow = func(i int32, d int) {
		if d == depth || r.IntN(6) == 0 {
			b.SetLeaf(i, r.NormFloat64())
			return
		}
		l, rr := b.Split(i, r.IntN(5), r.NormFloat64())
		grow(l, d+1)
		grow(rr, d+1)
	}
	for t := 0; t < trees; t++ {
		grow(b.Root(), 0)
	}
	return b.Ensemble()
}

// TestSumMatchesWalk checks the interleaved fixed-depth walk against a
// plain walk of each tree, for tree counts that leave every remainder
// modulo four.
func TestSumMatchesWalk(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trees := 1; trees <= 9; trees++ {
		e := randomEnsemble(trees, 1+r.IntN(9), r)
		for k := 0; k < 200; k++ {
			x := make([]float64, 5)
			for j := range x {
				x[j] = r.NormFloat64()
			}
			var want float64
			for tr := range e.Roots {
				want += e.Nodes[e.Leaf(tr, x)].Value
			}
			if got := e.Sum(x); math.Abs(got-want) > 1e-12 {
				t.Fatalf("%d trees: Sum = %v, walk = %v", trees, got, want)
			}
		}
	}
}

func BenchmarkSum(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	e := randomEnsemble(100, 8, r)
	xs := make([][]float64, 1024)
	for i := range xs {
		xs[i] = []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var s float64
	for i := 0; i < b.N; i++ {
		s += e.Sum(xs[i&1023])
	}
	_ = s
}
