package gbdt

import "container/heap"

// leaf is a leaf of the tree being grown, with its best split.
type leaf struct {
	node       int32
	lo, hi     int // its rows are t.rows[lo:hi]
	g, h       float64
	depth      int
	hist       []hbin // [feature*256 + bin]
	gain       float64
	feature    int
	bin        int // split: bins <= bin go left
	leftG      float64
	leftH      float64
	leftN      int
	splittable bool
}

const histStride = 256

// minHessian is the smallest hessian sum a child may have, as in
// scikit-learn (min_hessian_to_split).
const minHessian = 1e-3

func (t *trainer) newHist() []hbin {
	if n := len(t.hists); n > 0 {
		h := t.hists[n-1]
		t.hists = t.hists[:n-1]
		clear(h)
		return h
	}
	return make([]hbin, len(t.bins)*histStride)
}

func (t *trainer) freeHist(h []hbin) { t.hists = append(t.hists, h) }

func (t *trainer) buildHist(l *leaf) {
	l.hist = t.newHist()
	rows := t.rows[l.lo:l.hi]
	for f, col := range t.bins {
		hist := l.hist[f*histStride : (f+1)*histStride]
		for _, r := range rows {
			b := &hist[col[r]]
			b.g += t.g[r]
			b.h += t.h[r]
			b.n++
		}
	}
}

// findSplit sets l's best split from its histogram.
func (t *trainer) findSplit(l *leaf) {
	l.splittable = false
	n := l.hi - l.lo
	if n < 2*t.p.MinSamplesLeaf || (t.p.MaxDepth > 0 && l.depth >= t.p.MaxDepth) {
		return
	}
	lambda := t.p.L2
	parent := l.g * l.g / (l.h + lambda)
	best := 0.0
	for f := range t.bins {
		hist := l.hist[f*histStride : f*histStride+t.nbins[f]]
		var gl, hl float64
		nl := 0
		for b := 0; b < len(hist)-1; b++ {
			gl += hist[b].g
			hl += hist[b].h
			nl += hist[b].n
			nr := n - nl
			if nl < t.p.MinSamplesLeaf {
				continue
			}
			if nr < t.p.MinSamplesLeaf {
				break
			}
			hr := l.h - hl
			if hl < minHessian || hr < minHessian {
				continue
			}
			gr := l.g - gl
			gain := gl*gl/(hl+lambda) + gr*gr/(hr+lambda) - parent
			if gain > best {
				best = gain
				l.splittable = true
				l.gain, l.feature, l.bin = gain, f, b
				l.leftG, l.leftH, l.leftN = gl, hl, nl
			}
		}
	}
}

// leafHeap orders open leaves by decreasing split gain, for container/heap.
type leafHeap []*leaf

func (h leafHeap) Len() int           { return len(h) }
func (h leafHeap) Less(i, j int) bool { return h[i].gain > h[j].gain }
func (h leafHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *leafHeap) Push(x any)        { *h = append(*h, x.(*leaf)) }
func (h *leafHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// grow grows one tree from root, best split first, and adds its leaf
// values to the training rows' raw predictions.
func (t *trainer) grow(root int32) {
	for i := range t.rows {
		t.rows[i] = int32(i)
	}
	r := &leaf{node: root, lo: 0, hi: len(t.rows)}
	for i := range t.g {
		r.g += t.g[i]
		r.h += t.h[i]
	}
	t.buildHist(r)
	t.findSplit(r)
	var done []*leaf
	open := &leafHeap{}
	if r.splittable {
		heap.Push(open, r)
	} else {
		done = append(done, r)
	}
	leaves := 1
	for open.Len() > 0 && leaves < t.p.MaxLeafNodes {
		l := heap.Pop(open).(*leaf)
		left, right := t.split(l)
		leaves++
		for _, c := range []*leaf{left, right} {
			if c.splittable {
				heap.Push(open, c)
			} else {
				done = append(done, c)
			}
		}
	}
	done = append(done, *open...)
	for _, l := range done {
		v := -t.p.LearningRate * l.g / (l.h + t.p.L2)
		if t.p.Loss == LossQuantile {
			t.resid = t.resid[:0]
			for _, r := range t.rows[l.lo:l.hi] {
				t.resid = append(t.resid, t.y[r]-t.raw[r])
			}
			v = t.p.LearningRate * quantile(t.resid, t.p.Quantile)
		}
		t.b.SetLeaf(l.node, v)
		for _, r := range t.rows[l.lo:l.hi] {
			t.raw[r] += v
		}
		t.freeHist(l.hist)
	}
}

// split partitions l's rows, makes its two children, and finds their
// splits; the smaller child's histogram is built, the larger one's is the
// parent's minus it.
func (t *trainer) split(l *leaf) (*leaf, *leaf) {
	col := t.bins[l.feature]
	rows := t.rows[l.lo:l.hi]
	nl, nr := 0, 0
	for _, r := range rows {
		if int(col[r]) <= l.bin {
			rows[nl] = r
			nl++
		} else {
			t.scratch[nr] = r
			nr++
		}
	}
	copy(rows[nl:], t.scratch[:nr])
	ln, rn := t.b.Split(l.node, l.feature, t.edges[l.feature][l.bin])
	left := &leaf{node: ln, lo: l.lo, hi: l.lo + nl, g: l.leftG, h: l.leftH, depth: l.depth + 1}
	right := &leaf{node: rn, lo: l.lo + nl, hi: l.hi, g: l.g - l.leftG, h: l.h - l.leftH, depth: l.depth + 1}
	small, large := left, right
	if nl > nr {
		small, large = right, left
	}
	t.buildHist(small)
	large.hist = l.hist
	for i := range large.hist {
		large.hist[i].g -= small.hist[i].g
		large.hist[i].h -= small.hist[i].h
		large.hist[i].n -= small.hist[i].n
	}
	l.hist = nil
	t.findSplit(left)
	t.findSplit(right)
	return left, right
}
