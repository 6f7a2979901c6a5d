package report

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/forecast"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Limits of an asset chart.
const (
	// MaxChartSensors is how many sensors (by id) an asset chart shows.
	MaxChartSensors = 8
	// RawWindow is the longest window charted from raw readings; longer
	// ones use the hourly rollup.
	RawWindow = 48 * time.Hour
	// maxRawPoints caps the raw readings of one sensor; beyond it the
	// chart falls back to the rollup.
	maxRawPoints = 20000
	// maxBuckets caps the aggregated points of one sensor; the bucket width
	// is the smallest whole number of hours that keeps under it.
	maxBuckets = 1500
	// maxAnomalies caps the anomalies drawn per asset (the newest).
	maxAnomalies = 5000
	// ForecastLevel is the prediction interval drawn around forecasts, the
	// one the incident workflow's forecast uses.
	ForecastLevel = 0.9
	// forecastHistory and forecastPoints are the readings a forecast is
	// fitted on, as in the incident workflow's forecast activity.
	forecastHistory = 6 * time.Hour
	forecastPoints  = 600
	// maxForecastAhead bounds how far a drawn forecast reaches.
	maxForecastAhead = 14 * 24 * time.Hour
)

// BucketStep is the aggregation width of an asset chart over w: zero (raw
// readings) up to RawWindow, otherwise whole hours, at most maxBuckets per
// sensor.
func BucketStep(w Window) time.Duration {
	d := w.Duration()
	if d <= RawWindow {
		return 0
	}
	hours := math.Ceil(d.Hours() / maxBuckets)
	return time.Duration(hours) * time.Hour
}

// LoadAssetData reads what AssetChart draws for one asset of tenant over w.
func LoadAssetData(ctx context.Context, db *store.DB, tenant, assetID string, w Window) (AssetData, error) {
	d := AssetData{AssetID: assetID, Window: w}
	asset, err := db.GetAsset(ctx, tenant, assetID)
	if err != nil {
		return d, fmt.Errorf("report: chart of %s: %w", assetID, err)
	}
	d.Name = asset.Name
	sensors, err := db.ListSensors(ctx, tenant, assetID)
	if err != nil {
		return d, fmt.Errorf("report: chart of %s: %w", assetID, err)
	}
	if len(sensors) > MaxChartSensors {
		sensors = sensors[:MaxChartSensors]
	}
	if len(sensors) == 0 {
		return d, nil
	}
	ids := make([]string, len(sensors))
	index := map[string]int{}
	for i, s := range sensors {
		ids[i] = s.ID
		index[s.ID] = i
		d.Sensors = append(d.Sensors, SensorData{SensorID: s.ID, Unit: s.Unit,
			WarnLow: s.WarnLow, WarnHigh: s.WarnHigh, AlarmLow: s.AlarmLow, AlarmHigh: s.AlarmHigh})
	}
	if err := loadReadings(ctx, db, tenant, assetID, ids, w, d.Sensors); err != nil {
		return d, err
	}
	err = db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		if err := loadAnomalies(ctx, tx, assetID, w, index, d.Sensors); err != nil {
			return fmt.Errorf("anomalies: %w", err)
		}
		if err := loadForecasts(ctx, tx, assetID, w, index, d.Sensors); err != nil {
			return fmt.Errorf("forecasts: %w", err)
		}
		return nil
	})
	if err != nil {
		return d, fmt.Errorf("report: chart of %s: %w", assetID, err)
	}
	return d, nil
}

// loadReadings fills the sensors' points (raw) or buckets.
func loadReadings(ctx context.Context, db *store.DB, tenant, assetID string, ids []string, w Window, into []SensorData) error {
	step := BucketStep(w)
	q := store.ReadingsQuery{AssetID: assetID, SensorIDs: ids, From: w.From, To: w.To, Step: step, Limit: maxRawPoints}
	if step > 0 {
		q.Limit = maxBuckets + 1
	}
	series, err := db.QueryReadings(ctx, tenant, q)
	if err != nil {
		return fmt.Errorf("report: readings of %s: %w", assetID, err)
	}
	truncated := false
	for _, s := range series {
		truncated = truncated || (step == 0 && s.Truncated)
	}
	if truncated { // too many raw readings: hourly rollup instead
		step = time.Hour
		q.Step, q.Limit = step, maxBuckets+1
		if series, err = db.QueryReadings(ctx, tenant, q); err != nil {
			return fmt.Errorf("report: readings of %s: %w", assetID, err)
		}
	}
	for _, s := range series {
		for i := range into {
			if into[i].SensorID == s.SensorID {
				into[i].Points, into[i].Buckets, into[i].Step = s.Points, s.Buckets, step
			}
		}
	}
	return nil
}

func loadAnomalies(ctx context.Context, tx pgx.Tx, assetID string, w Window, index map[string]int, into []SensorData) error {
	rows, err := tx.Query(ctx, `
		SELECT sensor_id, ts, value, severity FROM (
			SELECT sensor_id, ts, value, severity FROM anomalies
			WHERE asset_id = $1 AND ts >= $2 AND ts < $3
			ORDER BY ts DESC LIMIT $4) a
		ORDER BY ts, sensor_id`, assetID, w.From, w.To, maxAnomalies)
	if err != nil {
		return err
	}
	var sensor string
	var a AnomalyPoint
	_, err = pgx.ForEachRow(rows, []any{&sensor, &a.TS, &a.Value, &a.Severity}, func() error {
		if i, ok := index[sensor]; ok {
			into[i].Anomalies = append(into[i].Anomalies, a)
		}
		return nil
	})
	return err
}

// storedForecast is the part of an incident's forecast the chart needs.
type storedForecast struct {
	SensorID string  `json:"sensor_id"`
	Limit    float64 `json:"limit"`
	Method   string  `json:"method"`
}

// loadForecasts redraws the forecasts of the asset's incidents opened in
// the window: the incident workflow records the forecast's outcome, not
// its course, so the same model is fitted again on the readings it saw
// (those of the 6 hours before the forecast's log entry, or before the
// incident's last anomaly when the log has none).
func loadForecasts(ctx context.Context, tx pgx.Tx, assetID string, w Window, index map[string]int, into []SensorData) error {
	rows, err := tx.Query(ctx, `
		SELECT i.id, i.summary->'forecast',
			coalesce((SELECT max(l.at) FROM maintenance_log l WHERE l.incident_id = i.id AND l.event = $4),
				(i.summary->'evidence'->>'last')::timestamptz)
		FROM incidents i
		WHERE i.asset_id = $1 AND i.opened_at >= $2 AND i.opened_at < $3
		  AND i.summary->'forecast'->>'method' = $5
		ORDER BY i.opened_at, i.id`, assetID, w.From, w.To, incident.EventForecast, incident.ForecastDampedHolt)
	if err != nil {
		return err
	}
	type pending struct {
		incident string
		f        storedForecast
		at       time.Time
	}
	var todo []pending
	var id string
	var raw json.RawMessage
	var at *time.Time
	_, err = pgx.ForEachRow(rows, []any{&id, &raw, &at}, func() error {
		var f storedForecast
		if at == nil || json.Unmarshal(raw, &f) != nil {
			return nil
		}
		if _, ok := index[f.SensorID]; ok {
			todo = append(todo, pending{id, f, *at})
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range todo {
		rows, err := tx.Query(ctx, `
			SELECT ts, value FROM (
				SELECT r.ts, r.value FROM readings r JOIN sensors s ON s.key = r.sensor_key
				WHERE s.asset_id = $1 AND s.id = $2 AND r.ts >= $3 AND r.ts <= $4
				ORDER BY r.ts DESC LIMIT $5) x
			ORDER BY ts`, assetID, p.f.SensorID, p.at.Add(-forecastHistory), p.at, forecastPoints)
		if err != nil {
			return err
		}
		pts, err := pgx.CollectRows(rows, pgx.RowToStructByPos[store.Point])
		if err != nil {
			return err
		}
		ahead := min(maxForecastAhead, max(w.To.Sub(p.at)+w.Duration()/2, time.Hour))
		if band, ok := Forecast(pts, p.f.Limit, ForecastLevel, ahead); ok {
			band.IncidentID = p.incident
			i := index[p.f.SensorID]
			into[i].Forecasts = append(into[i].Forecasts, band)
		}
	}
	return nil
}

// maxBandPoints caps the steps of a drawn forecast.
const maxBandPoints = 300

// Forecast fits the damped-trend model of internal/ml/forecast to pts and
// returns its course from the last reading until the mean forecast reaches
// limit (or for ahead when it does not), with the prediction interval at
// level. It needs at least 8 readings.
func Forecast(pts []store.Point, limit, level float64, ahead time.Duration) (ForecastBand, bool) {
	n := len(pts)
	if n < 8 {
		return ForecastBand{}, false
	}
	step := pts[n-1].TS.Sub(pts[0].TS) / time.Duration(n-1)
	if step <= 0 {
		step = time.Second
	}
	y := make([]float64, n)
	for i, p := range pts {
		y[i] = p.Value
	}
	m, err := forecast.Fit(y, forecast.Options{})
	if err != nil {
		return ForecastBand{}, false
	}
	last := pts[n-1]
	horizon := int(min(ahead/step, 20000))
	if horizon < 1 {
		return ForecastBand{}, false
	}
	rising := limit >= last.Value
	h := horizon
	if c := m.TimeToThreshold(limit, rising, horizon, level); c.Steps > 0 {
		h = c.Steps
	}
	steps := m.Forecast(h, level)
	every := max(1, (len(steps)+maxBandPoints-1)/maxBandPoints)
	band := ForecastBand{At: last.TS, Limit: limit, Level: level,
		Points: []BandPoint{{TS: last.TS, Mean: last.Value, Lower: last.Value, Upper: last.Value}}}
	for i, s := range steps {
		if i%every != 0 && i != len(steps)-1 {
			continue
		}
		band.Points = append(band.Points, BandPoint{TS: last.TS.Add(time.Duration(s.Step) * step), Mean: s.Mean, Lower: s.Lower, Upper: s.Upper})
	}
	return band, true
}
