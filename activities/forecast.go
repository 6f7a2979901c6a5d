package activities

import (
	"context"
	"fmt"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/forecast"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// ForecastInput is what the failure forecast looks at.
type ForecastInput struct {
	TenantID string
	AssetID  string
	Evidence incident.Evidence
	Severity anomaly.Severity
	Now      time.Time
}

// forecastHorizon bounds how far ahead the forecast looks.
const forecastHorizon = 14 * 24 * time.Hour

// Forecast estimates when the asset fails and sets the work order's
// deadline and priority from the pessimistic estimate (deadline). When the
// asset's type has a model bound as modelkind.RUL (or, failing that,
// modelkind.BearingHealth) and its champion can score, the forecast is the
// model's (modelForecast): its remaining life and interval turned into
// time. Otherwise, and saying why in Detail and Fallback, it projects the
// worst sensor with a damped-trend Holt model over its recent readings
// (trendForecast). Read-only; retries are harmless.
func (a *Incidents) Forecast(ctx context.Context, in ForecastInput) (incident.Forecast, error) {
	asset, err := a.DB.AssetOf(ctx, in.TenantID, in.AssetID)
	if err != nil {
		return incident.Forecast{SensorID: in.Evidence.MostSevereSensor(), Method: incident.ForecastNone}, err
	}
	repair := time.Duration(repairMinutes(asset)) * time.Minute
	f, why, err := a.modelForecast(ctx, in, asset, repair)
	if err != nil {
		return incident.Forecast{SensorID: in.Evidence.MostSevereSensor(), Method: incident.ForecastNone}, err
	}
	if f != nil {
		return *f, nil
	}
	t, err := a.trendForecast(ctx, in, repair)
	if why != "" {
		t.Fallback = why
		t.Detail = why + "; trend projection instead: " + t.Detail
	}
	return t, err
}

// trendForecast projects the worst sensor with a damped-trend Holt model
// over its recent readings and sets the deadline and priority from the
// pessimistic crossing time. A forecast needs a trend toward the limit
// that reaches it by more than the noise (forecast.Model.TimeToThreshold);
// without one the deadline comes from the severity. The deadline leaves at
// least the repair's duration.
func (a *Incidents) trendForecast(ctx context.Context, in ForecastInput, repair time.Duration) (incident.Forecast, error) {
	sensorID := in.Evidence.MostSevereSensor()
	f := incident.Forecast{SensorID: sensorID, Method: incident.ForecastNone}
	s, err := a.DB.SensorOf(ctx, in.TenantID, in.AssetID, sensorID)
	if err != nil {
		return f, err
	}
	se := in.Evidence.BySensor[sensorID]
	rising := se == nil || se.Direction >= 0
	limit := s.AlarmHigh
	if !rising {
		limit = s.AlarmLow
	}
	if limit == nil && rising && s.WarnHigh != nil {
		limit = s.WarnHigh
	}
	pts, err := a.DB.RecentPoints(ctx, in.TenantID, in.AssetID, sensorID, in.Now.Add(-6*time.Hour), 600)
	if err != nil {
		return f, err
	}
	ttl := time.Duration(-1) // unknown
	switch {
	case limit == nil:
		f.Detail = "sensor has no alarm limit in the anomalies' direction; deadline from severity"
	case len(pts) > 0 && (rising && pts[len(pts)-1].Value >= *limit || !rising && pts[len(pts)-1].Value <= *limit):
		f.Limit, f.Reached, ttl = *limit, true, 0
		f.Method = incident.ForecastObserved
		f.Detail = fmt.Sprintf("%s is already past its alarm limit %g", sensorID, *limit)
	case len(pts) < 8:
		f.Limit = *limit
		f.Detail = fmt.Sprintf("only %d recent readings; no forecast, deadline from severity", len(pts))
	default:
		f.Limit = *limit
		step := pts[len(pts)-1].TS.Sub(pts[0].TS) / time.Duration(len(pts)-1)
		if step <= 0 {
			step = time.Second
		}
		y := make([]float64, len(pts))
		for i, p := range pts {
			y[i] = p.Value
		}
		m, err := forecast.Fit(y, forecast.Options{})
		if err != nil {
			f.Detail = "forecast model did not fit: " + err.Error() + "; deadline from severity"
			break
		}
		horizon := int(min(forecastHorizon/step, 20000))
		c := m.TimeToThreshold(*limit, rising, horizon, 0.9)
		if !c.Found() {
			trend := m.Trend() * float64(time.Minute) / float64(step)
			why := "its trend points away from"
			if rising && trend > 0 || !rising && trend < 0 {
				why = fmt.Sprintf("its trend does not reach, within %s and by more than its noise (σ %.3g),", (time.Duration(horizon) * step).Round(time.Minute), m.Sigma)
			}
			f.Detail = fmt.Sprintf("no forecast: %s at %.4g, trend %+.3g per minute: %s the limit %g; deadline from severity",
				sensorID, pts[len(pts)-1].Value, trend, why, *limit)
			break
		}
		f.Method = incident.ForecastDampedHolt
		earliest, central := time.Duration(c.Earliest)*step, time.Duration(c.Steps)*step
		f.Earliest, f.TimeToLimit = incident.Duration(earliest), incident.Duration(central)
		latest := "beyond " + (time.Duration(horizon) * step).Round(time.Minute).String()
		if c.Latest > 0 {
			l := time.Duration(c.Latest) * step
			f.Latest = incident.Duration(l)
			latest = l.Round(time.Second).String()
		}
		ttl = earliest
		f.Detail = fmt.Sprintf("%s forecast to reach %g in %s (90%% interval %s to %s)", sensorID, *limit,
			central.Round(time.Second), earliest.Round(time.Second), latest)
	}
	f.Priority, f.Deadline = deadline(in.Severity, ttl, repair, in.Now)
	return f, nil
}

// deadline turns severity and a pessimistic time to failure (negative:
// unknown) into a priority and a deadline, for every forecast method: the
// trend's earliest crossing of the limit or a model's lower bound
// (fromEstimate). Act before that time, keeping a fifth of it as margin,
// and never later than the severity's own response time. The deadline
// always leaves the repair's duration: a deadline nobody can meet helps no
// one.
func deadline(sev anomaly.Severity, ttl, repair time.Duration, now time.Time) (workorder.Priority, time.Time) {
	response := map[anomaly.Severity]time.Duration{
		anomaly.Critical: 4 * time.Hour, anomaly.Major: 24 * time.Hour, anomaly.Minor: 72 * time.Hour, anomaly.Warning: 7 * 24 * time.Hour,
	}[sev]
	if response == 0 {
		response = 7 * 24 * time.Hour
	}
	lead := response
	if ttl >= 0 {
		lead = min(response, max(ttl*4/5, time.Hour))
	}
	priority := workorder.Low
	switch {
	case lead <= 8*time.Hour:
		priority = workorder.Critical
	case lead <= 48*time.Hour:
		priority = workorder.High
	case lead <= 5*24*time.Hour:
		priority = workorder.Medium
	}
	return priority, now.Add(max(lead, repair))
}
