package incident

import (
	"time"

	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Forecast methods.
const (
	// ForecastNone: no forecast; the deadline comes from the severity.
	ForecastNone = "none"
	// ForecastObserved: the worst sensor is already past its alarm limit.
	ForecastObserved = "observed"
	// ForecastDampedHolt: a damped-trend Holt projection of the worst
	// sensor to its alarm limit.
	ForecastDampedHolt = "damped-holt"
	// ForecastRUL: the remaining useful life and its interval from the
	// champion of the model bound to the asset type as modelkind.RUL.
	ForecastRUL = "rul"
	// ForecastBearingHealth: the time until the vibration trend of the
	// worst bearing, judged by the champion bound as
	// modelkind.BearingHealth, reaches the failure level.
	ForecastBearingHealth = "bearing_health"
)

// Forecast estimates when the asset fails — its worst sensor reaches its
// alarm limit, or a bound model's remaining life runs out — and from it
// the work's deadline and priority.
type Forecast struct {
	SensorID string  `json:"sensor_id"`
	Limit    float64 `json:"limit,omitempty"`
	// TimeToLimit is the central estimate; Earliest and Latest bound it
	// with the interval (Latest 0: past the forecast horizon). All zero
	// without a forecast (Method ForecastNone), and zero with Reached when
	// the limit is already passed. For a model's forecast they are the
	// model's estimate and interval (Estimate) turned into time.
	TimeToLimit Duration `json:"time_to_limit"`
	Earliest    Duration `json:"earliest"`
	Latest      Duration `json:"latest,omitempty"`
	Reached     bool     `json:"reached"`
	Method      string   `json:"method"`
	// Model and ModelVersion name the registered model whose champion
	// made the forecast (methods ForecastRUL and ForecastBearingHealth).
	Model        string `json:"model,omitempty"`
	ModelVersion int    `json:"model_version,omitempty"`
	// Estimate is the model's own figure and interval, in its unit.
	Estimate *Estimate `json:"estimate,omitempty"`
	// Fallback says why a model bound to the asset type did not make the
	// forecast (no champion, missing readings, …); empty otherwise.
	Fallback string `json:"fallback,omitempty"`
	// Deadline is never earlier than the forecast's time plus the repair's
	// duration.
	Deadline time.Time          `json:"deadline"`
	Priority workorder.Priority `json:"priority"`
	Detail   string             `json:"detail"`
}

// Units of an Estimate.
const (
	// UnitCycles: operating cycles (a RUL model's).
	UnitCycles = "cycles"
	// UnitHours: hours (a bearing's vibration trend).
	UnitHours = "hours"
)

// Sources of an Estimate.
const (
	// SourceFinding: the model detector's latest finding in the evidence.
	SourceFinding = "finding"
	// SourceReadings: scored when forecasting, from the stored readings.
	SourceReadings = "readings"
)

// Estimate is a model's remaining life: Value with the interval [Lower,
// Upper] (Upper 0: unbounded), in Unit, each unit lasting Per.
type Estimate struct {
	Value float64 `json:"value"`
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper,omitempty"`
	// Unit is UnitCycles for a RUL model, UnitHours for a bearing's trend.
	Unit string `json:"unit"`
	// Per is how long one unit lasts on this asset.
	Per Duration `json:"per"`
	// Coverage is the interval's nominal coverage (0.9 for 90%), 0 when
	// the model does not say.
	Coverage float64 `json:"coverage,omitempty"`
	// Source says where the estimate came from: SourceFinding or
	// SourceReadings.
	Source string `json:"source"`
	// Basis says, for people, what the estimate and its conversion to
	// time rest on.
	Basis string `json:"basis"`
}
