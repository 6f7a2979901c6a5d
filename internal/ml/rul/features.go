// Package rul estimates the remaining useful life (RUL) of a degrading
// machine from its sensor history, as in NASA's C-MAPSS turbofan data: a
// streaming feature builder that takes one cycle at a time, a piecewise-
// linear training target capped at Config.Cap, gradient-boosted regression
// trees for the point estimate and conformalized quantile trees for an
// interval around it.
package rul

import (
	"cmp"
	"fmt"
	"math"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// Sensors are the zero-based indexes into dataset.CMAPSSCycle.Sensors of
// the sensors the features use: the fourteen that vary in FD001 (s2, s3,
// s4, s7, s8, s9, s11, s12, s13, s14, s15, s17, s20, s21). s1, s5, s10,
// s16, s18 and s19 are constant and s6 takes two values.
var Sensors = []int{1, 2, 3, 6, 7, 8, 10, 11, 12, 13, 14, 16, 19, 20}

// Config sets the features and the target.
type Config struct {
	// Short is the short rolling window in cycles (default 10).
	Short int `json:"short"`
	// Long is the long rolling window in cycles (default 30).
	Long int `json:"long"`
	// Baseline is the number of first cycles whose mean is an engine's
	// own healthy baseline (default 15).
	Baseline int `json:"baseline"`
	// Cap is the most RUL the target says: an engine is taken as healthy,
	// with RUL Cap, until Cap cycles before its failure (default 125).
	Cap float64 `json:"cap"`
}

// DefaultConfig returns the default configuration.
func DefaultConfig() Config { return Config{Short: 10, Long: 30, Baseline: 15, Cap: 125} }

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Short = cmp.Or(c.Short, d.Short)
	c.Long = cmp.Or(c.Long, d.Long)
	c.Baseline = cmp.Or(c.Baseline, d.Baseline)
	c.Cap = cmp.Or(c.Cap, d.Cap)
	return c
}

func (c Config) validate() error {
	if c.Short < 2 || c.Long < c.Short || c.Long > 1000 || c.Baseline < 1 || c.Baseline > 1000 || !(c.Cap > 0) || math.IsInf(c.Cap, 0) {
		return fmt.Errorf("rul: config %+v: want 2 ≤ short ≤ long ≤ 1000, 1 ≤ baseline ≤ 1000 and a positive cap", c)
	}
	return nil
}

// perSensor is the number of features per sensor.
const perSensor = 6

// NumFeatures is the length of a feature vector.
func NumFeatures() int { return 1 + perSensor*len(Sensors) }

// FeatureNames names the features in the order Builder.Update returns
// them.
func FeatureNames() []string {
	names := []string{"age"}
	for _, s := range Sensors {
		p := fmt.Sprintf("s%d_", s+1)
		names = append(names, p+"mean_short", p+"mean_long", p+"std_long", p+"slope_long", p+"slope_all", p+"drift")
	}
	return names
}

// Builder turns an engine's cycles, one at a time, into feature vectors.
// Every feature depends only on the cycles seen so far, so the vector
// after cycle t is what a streaming service can compute at t:
//
//   - age: cycles seen;
//   - per sensor: the mean over the last Short cycles and over the last
//     Long, the standard deviation and least-squares slope over the last
//     Long, the least-squares slope over every cycle so far, and the drift
//     of the short mean from the mean of the first Baseline cycles.
//
// Windows not yet full use the cycles there are. The unit id and the
// engine's total length are never features. Once made, a Builder does
// not allocate. It is not safe for concurrent use.
type Builder struct {
	cfg  Config
	n    int         // cycles seen
	ring [][]float64 // [sensor][Long], the last Long readings
	// Per sensor: baseline sum, and the sums Σy and Σt·y over every
	// cycle (t from 0) for the whole-history slope.
	base, sumY, sumTY []float64
	out               []float64
}

// NewBuilder returns a Builder for cfg (zero fields take their defaults).
func NewBuilder(cfg Config) (*Builder, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	b := &Builder{
		cfg:   cfg,
		ring:  make([][]float64, len(Sensors)),
		base:  make([]float64, len(Sensors)),
		sumY:  make([]float64, len(Sensors)),
		sumTY: make([]float64, len(Sensors)),
		out:   make([]float64, NumFeatures()),
	}
	for i := range b.ring {
		b.ring[i] = make([]float64, cfg.Long)
	}
	return b, nil
}

// Reset forgets every cycle, for the next engine.
func (b *Builder) Reset() {
	b.n = 0
	clear(b.base)
	clear(b.sumY)
	clear(b.sumTY)
}

// Cycles returns the number of cycles seen since the last Reset.
func (b *Builder) Cycles() int { return b.n }

// Update adds the next cycle's sensor readings (s1…s21) and returns the
// feature vector after it. The slice is the Builder's own and is
// overwritten by the next Update.
func (b *Builder) Update(sensors *[dataset.CMAPSSSensors]float64) []float64 {
	t := b.n
	b.n++
	pos := t % b.cfg.Long
	for i, s := range Sensors {
		v := sensors[s]
		b.ring[i][pos] = v
		if t < b.cfg.Baseline {
			b.base[i] += v
		}
		b.sumY[i] += v
		b.sumTY[i] += float64(t) * v
	}
	out := b.out
	out[0] = float64(b.n)
	kl := min(b.n, b.cfg.Long)
	ks := min(b.n, b.cfg.Short)
	nb := min(b.n, b.cfg.Baseline)
	for i := range Sensors {
		ring := b.ring[i]
		// Walk the last kl readings from the oldest, with time 0..kl−1.
		var sy, sty, shortSum float64
		for j := 0; j < kl; j++ {
			v := ring[(t-kl+1+j+b.cfg.Long)%b.cfg.Long]
			sy += v
			sty += float64(j) * v
			if j >= kl-ks {
				shortSum += v
			}
		}
		meanL := sy / float64(kl)
		var ss float64
		for j := 0; j < kl; j++ {
			d := ring[(t-kl+1+j+b.cfg.Long)%b.cfg.Long] - meanL
			ss += d * d
		}
		meanS := shortSum / float64(ks)
		f := out[1+perSensor*i : 1+perSensor*(i+1)]
		f[0] = meanS
		f[1] = meanL
		f[2] = math.Sqrt(ss / float64(kl))
		f[3] = slope(kl, sy, sty)
		f[4] = slope(b.n, b.sumY[i], b.sumTY[i])
		f[5] = meanS - b.base[i]/float64(nb)
	}
	return out
}

// slope is the least-squares slope of k values at times 0..k−1 with sum sy
// and time-weighted sum sty; 0 for fewer than two values.
func slope(k int, sy, sty float64) float64 {
	if k < 2 {
		return 0
	}
	n := float64(k)
	st := n * (n - 1) / 2
	stt := (n - 1) * n * (2*n - 1) / 6
	return (n*sty - st*sy) / (n*stt - st*st)
}

// Target is the piecewise-linear training target: the cycles left until
// failure, at most cap.
func Target(cyclesLeft, cap float64) float64 { return min(cyclesLeft, cap) }

// Rows are feature vectors of many engines' cycles with their targets.
type Rows struct {
	X [][]float64
	// Y is the capped target, TrueRUL the uncapped cycles left.
	Y, TrueRUL []float64
	// Engine is each row's index into the engines it was built from,
	// for grouping folds; it is never a feature.
	Engine []int
}

// TrainingRows builds a row for every cycle of run-to-failure engines: an
// engine's last cycle is its failure, so the cycles left at cycle c are
// last − c.
func TrainingRows(engines []dataset.CMAPSSEngine, cfg Config) (*Rows, error) {
	cfg = cfg.withDefaults()
	b, err := NewBuilder(cfg)
	if err != nil {
		return nil, err
	}
	r := new(Rows)
	for e, eng := range engines {
		b.Reset()
		last := eng.Cycles[len(eng.Cycles)-1].Cycle
		for i := range eng.Cycles {
			c := &eng.Cycles[i]
			x := append([]float64(nil), b.Update(&c.Sensors)...)
			left := float64(last - c.Cycle)
			r.X = append(r.X, x)
			r.Y = append(r.Y, Target(left, cfg.Cap))
			r.TrueRUL = append(r.TrueRUL, left)
			r.Engine = append(r.Engine, e)
		}
	}
	return r, nil
}

// LastFeatures returns the feature vector of each engine at its last
// cycle, which is where the C-MAPSS test set asks for the RUL.
func LastFeatures(engines []dataset.CMAPSSEngine, cfg Config) ([][]float64, error) {
	b, err := NewBuilder(cfg)
	if err != nil {
		return nil, err
	}
	out := make([][]float64, len(engines))
	for e, eng := range engines {
		b.Reset()
		var x []float64
		for i := range eng.Cycles {
			x = b.Update(&eng.Cycles[i].Sensors)
		}
		out[e] = append([]float64(nil), x...)
	}
	return out, nil
}
