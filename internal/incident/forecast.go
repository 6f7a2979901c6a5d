package incident

import (
	"time"

	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Forecast methods.
const (
	// ForecastNone: no forecast; the deadline comes from the severity.
	ForecastNone = "none"
	// ForecastDampedHolt: a damped-trend Holt projection of the worst
	// sensor to its alarm limit.
	ForecastDampedHolt = "damped-holt"
)

// Forecast estimates when the asset's worst sensor reaches its alarm
// limit, and from it the work's deadline and priority.
type Forecast struct {
	SensorID string  `json:"sensor_id"`
	Limit    float64 `json:"limit,omitempty"`
	// TimeToLimit is the central estimate; Earliest and Latest bound it
	// with the 90% interval (Latest 0: past the forecast horizon). All zero
	// without a forecast (Method ForecastNone), and zero with Reached when
	// the limit is already passed.
	TimeToLimit Duration `json:"time_to_limit"`
	Earliest    Duration `json:"earliest"`
	Latest      Duration `json:"latest,omitempty"`
	Reached     bool     `json:"reached"`
	Method      string   `json:"method"`
	// Deadline is never earlier than the forecast's time plus the repair's
	// duration.
	Deadline time.Time          `json:"deadline"`
	Priority workorder.Priority `json:"priority"`
	Detail   string             `json:"detail"`
}
