package bearing

import (
	"fmt"
	"math"
)

// SigmaRule is the plain baseline detector the health index is compared
// with: the alarm threshold is the mean plus k population standard
// deviations of the RMS of the first healthy snapshots, and the alarm is
// raised by sustain snapshots in a row above it (after the healthy ones).
type SigmaRule struct {
	Threshold float64
	// FirstAlarm is the index of the first snapshot of the first
	// sustained exceedance, -1 when there is none.
	FirstAlarm int
	// Alarm marks the snapshots in sustained alarm.
	Alarm []bool
}

// RMSSigmaRule applies the rule to a run's RMS series.
func RMSSigmaRule(rms []float64, healthy int, k float64, sustain int) (*SigmaRule, error) {
	if healthy < 2 || healthy > len(rms) || sustain < 1 || !(k > 0) {
		return nil, fmt.Errorf("bearing: sigma rule with %d healthy of %d snapshots, k %v, sustain %d", healthy, len(rms), k, sustain)
	}
	var mean, m2 float64
	for _, v := range rms[:healthy] {
		mean += v
	}
	mean /= float64(healthy)
	for _, v := range rms[:healthy] {
		m2 += (v - mean) * (v - mean)
	}
	r := &SigmaRule{Threshold: mean + k*math.Sqrt(m2/float64(healthy)), FirstAlarm: -1, Alarm: make([]bool, len(rms))}
	streak := 0
	for i := healthy; i < len(rms); i++ {
		if rms[i] > r.Threshold {
			streak++
		} else {
			streak = 0
		}
		if streak >= sustain {
			r.Alarm[i] = true
			if r.FirstAlarm < 0 {
				r.FirstAlarm = i - sustain + 1
			}
		}
	}
	return r, nil
}
