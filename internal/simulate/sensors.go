package simulate

import (
	"math"
	"slices"

	"github.com/smartmaint/smartmaint/internal/dataset"
)

// AssetType is the type of every simulated asset.
const AssetType = "milling-machine"

// The sensors of a simulated milling machine, in the order of Sensors.
const (
	AirTemp = iota
	ProcessTemp
	Speed
	Torque
	ToolWear
	numSensors
)

// Limits from the AI4I 2020 failure model (Matzka 2020): a machine fails by
// heat dissipation when process minus air temperature is below 8.6 K while
// the spindle turns slower than 1380 rpm; by power when torque times angular
// speed leaves 3500–9000 W; by overstrain when tool wear times torque exceeds
// 11,000/12,000/13,000 min·Nm for the L/M/H variants; and its tool is
// replaced or fails between 200 and 240 min of wear.
const (
	HeatDissipationMinDeltaK = 8.6
	HeatDissipationMaxRPM    = 1380
	PowerMinW                = 3500
	PowerMaxW                = 9000
	ToolWearWarnMin          = 200
	ToolWearFailMin          = 240
)

// OverstrainLimit is the tool wear × torque [min·Nm] past which a machine of
// the AI4I quality variant ('L', 'M' or 'H') fails by overstrain.
func OverstrainLimit(variant byte) float64 {
	switch variant {
	case 'H':
		return 13000
	case 'M':
		return 12000
	}
	return 11000
}

// SensorSpec is a simulated sensor as registered with
// POST /api/v1/assets/{id}/sensors.
type SensorSpec struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Unit      string   `json:"unit"`
	MinValid  *float64 `json:"min_valid"`
	MaxValid  *float64 `json:"max_valid"`
	WarnLow   *float64 `json:"warn_low,omitempty"`
	WarnHigh  *float64 `json:"warn_high,omitempty"`
	AlarmLow  *float64 `json:"alarm_low,omitempty"`
	AlarmHigh *float64 `json:"alarm_high,omitempty"`
	// Counter marks a value that only counts up between resets (tool wear):
	// spikes and stuck readings are not injected on it.
	Counter bool `json:"-"`

	value func(dataset.AI4I) float64
}

// Value is the sensor's reading in record r.
func (s SensorSpec) Value(r dataset.AI4I) float64 { return s.value(r) }

// Sensors returns the five sensors of a milling machine with thresholds
// derived from records: warnings beyond the 1st/99th percentiles, alarms
// beyond the 0.1th/99.9th, except tool wear, whose warning (200 min) and
// alarm (240 min) are the AI4I tool-wear failure window. Valid ranges are
// what the physical quantity can be, not what the dataset saw.
func Sensors(records []dataset.AI4I) []SensorSpec {
	specs := []SensorSpec{
		AirTemp:     {ID: "air_temp", Kind: "temperature", Unit: "K", MinValid: ptr(223.15), MaxValid: ptr(373.15), value: func(r dataset.AI4I) float64 { return r.AirTempK }},
		ProcessTemp: {ID: "process_temp", Kind: "temperature", Unit: "K", MinValid: ptr(223.15), MaxValid: ptr(473.15), value: func(r dataset.AI4I) float64 { return r.ProcessTemp }},
		Speed:       {ID: "speed", Kind: "rotational_speed", Unit: "rpm", MinValid: ptr(0), MaxValid: ptr(10000), value: func(r dataset.AI4I) float64 { return r.RPM }},
		Torque:      {ID: "torque", Kind: "torque", Unit: "Nm", MinValid: ptr(0), MaxValid: ptr(200), value: func(r dataset.AI4I) float64 { return r.TorqueNm }},
		ToolWear:    {ID: "tool_wear", Kind: "tool_wear", Unit: "min", MinValid: ptr(0), MaxValid: ptr(1000), Counter: true, value: func(r dataset.AI4I) float64 { return r.ToolWearMin }},
	}
	for i := range specs {
		s := &specs[i]
		if s.Counter {
			s.WarnHigh, s.AlarmHigh = ptr(ToolWearWarnMin), ptr(ToolWearFailMin)
			continue
		}
		v := make([]float64, len(records))
		for j, r := range records {
			v[j] = s.value(r)
		}
		slices.Sort(v)
		s.AlarmLow, s.WarnLow = ptr(percentile(v, 0.1)), ptr(percentile(v, 1))
		s.WarnHigh, s.AlarmHigh = ptr(percentile(v, 99)), ptr(percentile(v, 99.9))
	}
	return specs
}

// percentile is the nearest-rank p-th percentile of sorted, rounded to the
// dataset's resolution of 0.1.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return math.Round(sorted[i]*10) / 10
}

// median returns the sensor's median over records.
func (s SensorSpec) median(records []dataset.AI4I) float64 {
	v := make([]float64, len(records))
	for i, r := range records {
		v[i] = s.value(r)
	}
	slices.Sort(v)
	return percentile(v, 50)
}

func ptr(v float64) *float64 { return &v }

// deref returns *p, or def when p is nil.
func deref(p *float64, def float64) float64 {
	if p == nil {
		return def
	}
	return *p
}
