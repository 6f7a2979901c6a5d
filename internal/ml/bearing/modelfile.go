package bearing

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
)

// KindHealth is the model file kind of a HealthModel.
const KindHealth = modelfile.KindBearingHealth

func init() {
	modelfile.Register(KindHealth, func(body []byte) (modelfile.Scorer, error) {
		h := new(HealthModel)
		if err := h.UnmarshalBinary(body); err != nil {
			return nil, err
		}
		return h, nil
	})
}

// ModelKind is KindHealth.
func (h *HealthModel) ModelKind() string { return KindHealth }

// AlarmThreshold is the health index above which a snapshot is abnormal
// (Config.Threshold with its default): what a detector serving the model
// compares Score with when nothing else sets a threshold.
func (h *HealthModel) AlarmThreshold() float64 { return h.Config.withDefaults().Threshold }

// AlarmSustain is how many abnormal snapshots in a row raise the alarm
// (Config.Sustain with its default).
func (h *HealthModel) AlarmSustain() int { return h.Config.withDefaults().Sustain }

// ModelParams are the monitor settings, recorded as the model file's
// parameters.
func (h *HealthModel) ModelParams() any { return h.Config }

// MarshalBinary encodes the model as JSON.
func (h *HealthModel) MarshalBinary() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(h)
}

// UnmarshalBinary decodes a model MarshalBinary wrote.
func (h *HealthModel) UnmarshalBinary(b []byte) error {
	var m HealthModel
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("bearing: health model: %w", err)
	}
	if err := m.validate(); err != nil {
		return err
	}
	*h = m
	return nil
}

// FeatureNames are the inputs of Score: b1_rms, b1_kurtosis,
// b1_crest_factor, b2_rms, ….
func (h *HealthModel) FeatureNames() []string {
	var names []string
	for b := 1; b <= h.Bearings; b++ {
		for _, n := range IndicatorNames {
			names = append(names, fmt.Sprintf("b%d_%s", b, n))
		}
	}
	return names
}

// NumFeatures is three indicators per bearing.
func (h *HealthModel) NumFeatures() int { return h.Bearings * numIndicators }

// maxStackBearings is how many bearings Score handles without allocating.
const maxStackBearings = 16

// Score is the largest health index over the bearings of one snapshot (x
// as in FeatureNames), NaN when none is running; a single snapshot, with
// no alarm streak (use a Monitor for that). It is safe for concurrent use
// and does not allocate for up to 16 bearings.
func (h *HealthModel) Score(x []float64) float64 {
	n := h.Bearings
	if len(x) != n*numIndicators {
		return math.NaN()
	}
	var devBuf [maxStackBearings * numIndicators]float64
	var runBuf [maxStackBearings]bool
	dev, running := devBuf[:], runBuf[:]
	if n > maxStackBearings {
		dev, running = make([]float64, n*numIndicators), make([]bool, n)
	}
	dev, running = dev[:n*numIndicators], running[:n]
	stop := h.Config.withDefaults().StoppedRatio
	for b := 0; b < n; b++ {
		ok := !(x[b*numIndicators] < stop*math.Exp(h.Median[b][0]))
		for c := 0; c < numIndicators; c++ {
			v := x[b*numIndicators+c]
			if !(v > 0) || math.IsInf(v, 0) {
				ok = false
				break
			}
			dev[b*numIndicators+c] = math.Log(v) - h.Median[b][c]
		}
		running[b] = ok
	}
	s := math.NaN()
	for b := 0; b < n; b++ {
		if running[b] {
			z := h.health(b, dev, running)
			if math.IsNaN(s) || z > s {
				s = z
			}
		}
	}
	return s
}
