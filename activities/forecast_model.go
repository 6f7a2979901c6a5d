package activities

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/bearing"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// CycleSecondsKey is the asset metadata key that says how long one
// operating cycle of the asset lasts, in seconds, for a RUL model that
// counts its remaining life in cycles. Without it the period is measured
// from the stored readings (cyclePeriod).
const CycleSecondsKey = "cycle_seconds"

// modelLookback bounds how far back the stored readings a model's
// forecast reads go.
const modelLookback = 14 * 24 * time.Hour

// maxBearingSnapshots bounds the snapshots a bearing forecast replays.
const maxBearingSnapshots = 5000

// forecastKinds are the bound model kinds that forecast, in the order they
// are tried.
var forecastKinds = []modelkind.Kind{modelkind.RUL, modelkind.BearingHealth}

// lifePredictor is a remaining-useful-life model with an interval
// (rul.Model).
type lifePredictor interface {
	Predict(x []float64) (rul, lower, upper float64)
}

// modelForecast is the forecast of the first model bound to the asset's
// type as one of forecastKinds whose champion can score; nil when none
// can, with the reasons (empty when none is bound). An error is the
// database's, worth a retry.
func (a *Incidents) modelForecast(ctx context.Context, in ForecastInput, asset store.Asset, repair time.Duration) (*incident.Forecast, string, error) {
	if a.Registry == nil || a.Bindings == nil {
		return nil, "", nil
	}
	var whys []string
	for _, kind := range forecastKinds {
		b, err := a.Bindings.Get(ctx, in.TenantID, asset.Type, kind)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		v, err := a.Registry.Resolve(ctx, in.TenantID, b.Model, registry.Champion)
		if errors.Is(err, store.ErrNotFound) {
			whys = append(whys, fmt.Sprintf("the %s model %s has no champion", kind, b.Model))
			continue
		}
		if err != nil {
			return nil, "", err
		}
		var est *incident.Estimate
		var why string
		if kind == modelkind.RUL {
			est, why, err = a.rulEstimate(ctx, in, asset, &b, v)
		} else {
			est, why, err = a.bearingEstimate(ctx, in, &b, v)
		}
		if err != nil {
			return nil, "", err
		}
		if est == nil {
			whys = append(whys, fmt.Sprintf("the %s model %s v%d cannot forecast: %s", kind, b.Model, v.Version, why))
			continue
		}
		f := fromEstimate(kind, b.Model, v.Version, *est, in.Severity, repair, in.Now)
		f.SensorID = in.Evidence.MostSevereSensor()
		return &f, "", nil
	}
	return nil, strings.Join(whys, "; "), nil
}

// fromEstimate turns a model's remaining life into the forecast: each
// bound of the estimate times est.Per is a time to failure, and the work
// is planned against the pessimistic one, the lower bound, by the same
// deadline rule as every forecast (a fifth of it kept as margin, at least
// the repair's duration, never later than the severity's response time).
func fromEstimate(kind modelkind.Kind, model string, version int, est incident.Estimate, sev anomaly.Severity, repair time.Duration, now time.Time) incident.Forecast {
	method := incident.ForecastRUL
	if kind == modelkind.BearingHealth {
		method = incident.ForecastBearingHealth
	}
	per := time.Duration(est.Per)
	f := incident.Forecast{Method: method, Model: model, ModelVersion: version, Estimate: &est,
		TimeToLimit: lifeTime(est.Value, per), Earliest: lifeTime(est.Lower, per), Reached: est.Value <= 0}
	upper := "unbounded"
	latest := "no bound"
	if est.Upper > 0 {
		f.Latest = lifeTime(est.Upper, per)
		upper = strconv.FormatFloat(est.Upper, 'g', 4, 64)
		latest = time.Duration(f.Latest).Round(time.Second).String()
	}
	f.Priority, f.Deadline = deadline(sev, time.Duration(f.Earliest), repair, now)
	interval := "interval"
	if est.Coverage > 0 {
		interval = fmt.Sprintf("%.0f%% interval", 100*est.Coverage)
	}
	f.Detail = fmt.Sprintf("%s v%d (%s): remaining life %.4g %s, %s [%.4g, %s]; %s, that is %s (%s to %s); work planned against the lower bound",
		model, version, method, est.Value, est.Unit, interval, est.Lower, upper, est.Basis,
		time.Duration(f.TimeToLimit).Round(time.Second), time.Duration(f.Earliest).Round(time.Second), latest)
	return f
}

// maxLife caps a time to failure: a remaining life of years plans like
// one of ten.
const maxLife = 10 * 365 * 24 * time.Hour

// lifeTime is units of per as a duration, at least 0 and at most maxLife.
func lifeTime(units float64, per time.Duration) incident.Duration {
	d := units * float64(per)
	if !(d > 0) {
		return 0
	}
	return incident.Duration(min(d, float64(maxLife)))
}

// rulEstimate is the remaining life the RUL champion v gives the asset
// now: from the detector's latest finding of that version in the
// evidence, aged by the cycles since, or else scored from the latest
// stored reading of each feature. nil with the reason when neither works.
func (a *Incidents) rulEstimate(ctx context.Context, in ForecastInput, asset store.Asset, b *binding.Binding, v registry.Version) (*incident.Estimate, string, error) {
	per, basis, err := a.cyclePeriod(ctx, in, asset, b, v.Features)
	if err != nil || per <= 0 {
		return nil, basis, err
	}
	basis = fmt.Sprintf("one cycle every %s (%s)", per, basis)
	est, at := rulFinding(in.Evidence, b.Model, v.Version)
	if est != nil {
		aged := max(in.Now.Sub(at), 0)
		cycles := float64(aged) / float64(per)
		est.Value, est.Lower = max(est.Value-cycles, 0), max(est.Lower-cycles, 0)
		if est.Upper > 0 {
			est.Upper = max(est.Upper-cycles, 0)
		}
		basis = fmt.Sprintf("the detector's finding at %s, %.3g cycles ago; %s", at.UTC().Format(time.RFC3339), cycles, basis)
	} else {
		m, why := a.loadModel(ctx, v)
		if why != "" {
			return nil, why, nil
		}
		p, ok := m.Scorer.(lifePredictor)
		if !ok {
			return nil, fmt.Sprintf("its %q model gives no interval", m.Meta.Kind), nil
		}
		x, why, err := a.latestVector(ctx, in, asset, b, m.Meta.FeatureNames)
		if x == nil {
			return nil, why, err
		}
		value, lower, upper := p.Predict(x)
		est = &incident.Estimate{Value: value, Lower: lower, Upper: upper, Source: incident.SourceReadings}
		if r, ok := m.Scorer.(*rul.Model); ok {
			est.Coverage = r.Coverage
		}
		basis = fmt.Sprintf("scored from the latest stored reading of each of its %d features; %s", len(x), basis)
	}
	if c, ok := v.Params["coverage"].(float64); ok && est.Coverage == 0 {
		est.Coverage = c
	}
	est.Unit, est.Per, est.Basis = incident.UnitCycles, incident.Duration(per), basis
	return est, "", nil
}

// rulFinding is the estimate of the newest RUL finding of model's version
// in the evidence (detect.ReasonValues), and when it was made; nil when
// there is none.
func rulFinding(e incident.Evidence, model string, version int) (*incident.Estimate, time.Time) {
	for _, an := range slices.Backward(e.Recent) {
		kv := detect.ReasonValues(an.Reason, modelkind.RUL)
		if kv == nil || kv["model"] != model || kv["version"] != strconv.Itoa(version) {
			continue
		}
		var est incident.Estimate
		var errs []error
		for _, f := range []struct {
			key string
			v   *float64
		}{{"rul", &est.Value}, {"lower", &est.Lower}, {"upper", &est.Upper}} {
			var err error
			*f.v, err = strconv.ParseFloat(kv[f.key], 64)
			errs = append(errs, err)
		}
		if errors.Join(errs...) != nil {
			continue
		}
		est.Source = incident.SourceFinding
		return &est, an.TS
	}
	return nil, time.Time{}
}

// cyclePeriod is how long one cycle of the asset lasts, and what that
// rests on: the asset's CycleSecondsKey metadata; else the readings of the
// model's "age" feature (the cycles seen, rul.FeatureNames), time over
// cycles between its oldest and newest recent reading; else the median
// spacing of the readings of the model's first sensor feature, taken as
// one reading per cycle (as the simulator sends them). 0 with the reason
// when none of these says.
func (a *Incidents) cyclePeriod(ctx context.Context, in ForecastInput, asset store.Asset, b *binding.Binding, features []string) (time.Duration, string, error) {
	if v, ok := detect.MetadataValue(asset.Metadata, CycleSecondsKey); ok && v > 0 {
		return time.Duration(v * float64(time.Second)), "the asset's " + CycleSecondsKey + " metadata", nil
	}
	if slices.Contains(features, "age") {
		if src := b.Source("age"); !strings.HasPrefix(src, binding.MetadataFeature) {
			pts, err := a.DB.RecentPoints(ctx, in.TenantID, in.AssetID, src, in.Now.Add(-modelLookback), 500)
			if err != nil {
				return 0, "", err
			}
			if n := len(pts); n >= 2 && pts[n-1].Value > pts[0].Value {
				span := pts[n-1].TS.Sub(pts[0].TS)
				cycles := pts[n-1].Value - pts[0].Value
				return time.Duration(float64(span) / cycles), fmt.Sprintf("%.4g cycles of its age feature (sensor %s) in %s", cycles, src, span.Round(time.Second)), nil
			}
		}
	}
	for _, name := range features {
		src := b.Source(name)
		if strings.HasPrefix(src, binding.MetadataFeature) {
			continue
		}
		pts, err := a.DB.RecentPoints(ctx, in.TenantID, in.AssetID, src, in.Now.Add(-modelLookback), 500)
		if err != nil {
			return 0, "", err
		}
		if len(pts) < 2 {
			break
		}
		gaps := make([]time.Duration, len(pts)-1)
		for i := range gaps {
			gaps[i] = pts[i+1].TS.Sub(pts[i].TS)
		}
		slices.Sort(gaps)
		if g := gaps[len(gaps)/2]; g > 0 {
			return g, fmt.Sprintf("the median spacing of %d readings of sensor %s, taken as one reading per cycle", len(pts), src), nil
		}
		break
	}
	return 0, "no cycle period: too few readings to measure it; set the asset's " + CycleSecondsKey + " metadata", nil
}

// loadModel reads and decodes v's model file; the reason when it cannot.
func (a *Incidents) loadModel(ctx context.Context, v registry.Version) (modelfile.Model, string) {
	data, err := a.Registry.Load(ctx, v)
	if err != nil {
		return modelfile.Model{}, "its model file cannot be read: " + err.Error()
	}
	m, err := modelfile.Unmarshal(data)
	if err != nil {
		return modelfile.Model{}, "its model file cannot be decoded: " + err.Error()
	}
	return m, ""
}

// latestVector is the model's feature vector from the latest stored
// reading of each feature's source (metadata features from the asset),
// refused when a feature has none within modelLookback or the readings
// are further apart than a detector snapshot.
func (a *Incidents) latestVector(ctx context.Context, in ForecastInput, asset store.Asset, b *binding.Binding, names []string) ([]float64, string, error) {
	x := make([]float64, len(names))
	var missing []string
	var oldest, newest time.Time
	for i, name := range names {
		src := b.Source(name)
		if spec, ok := strings.CutPrefix(src, binding.MetadataFeature); ok {
			v, ok := detect.MetadataValue(asset.Metadata, spec)
			if !ok {
				missing = append(missing, src)
			}
			x[i] = v
			continue
		}
		pts, err := a.DB.RecentPoints(ctx, in.TenantID, in.AssetID, src, in.Now.Add(-modelLookback), 1)
		if err != nil {
			return nil, "", err
		}
		if len(pts) == 0 {
			missing = append(missing, src)
			continue
		}
		x[i] = pts[0].Value
		if ts := pts[0].TS; oldest.IsZero() || ts.Before(oldest) {
			oldest = ts
		}
		if ts := pts[0].TS; ts.After(newest) {
			newest = ts
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Sprintf("no recent value of %d of its %d features (%s)", len(missing), len(names), abbreviate(missing, 5)), nil
	}
	if spread := newest.Sub(oldest); spread > detect.DefaultSnapshotWindow {
		return nil, fmt.Sprintf("the latest readings of its features are %s apart, not one snapshot", spread.Round(time.Second)), nil
	}
	return x, "", nil
}

// abbreviate lists the first n of items and how many more there are.
func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}

// bearingEstimate replays the stored snapshots of the asset's bearings
// (modelLookback, at most maxBearingSnapshots) through the bearing health
// champion v (bearing.Monitor) and takes the time to failure of the
// bearing whose estimate is soonest: the exponential trend of its RMS
// since its first sustained alarm, extrapolated to the failure level
// (HealthConfig.FailureRatio times its baseline RMS), with the trend's
// 90% interval. nil with the reason when no bearing has alarmed: without
// an alarm there is no degradation trend to extrapolate.
func (a *Incidents) bearingEstimate(ctx context.Context, in ForecastInput, b *binding.Binding, v registry.Version) (*incident.Estimate, string, error) {
	m, why := a.loadModel(ctx, v)
	if why != "" {
		return nil, why, nil
	}
	h, ok := m.Scorer.(*bearing.HealthModel)
	if !ok {
		return nil, fmt.Sprintf("its %q model is not a bearing health model", m.Meta.Kind), nil
	}
	mon, err := bearing.NewMonitorFromModel(h)
	if err != nil {
		return nil, err.Error(), nil
	}
	names := h.FeatureNames()
	series := make([][]store.Point, len(names))
	for i, name := range names {
		src := b.Source(name)
		if strings.HasPrefix(src, binding.MetadataFeature) {
			return nil, fmt.Sprintf("feature %s comes from metadata (%s), not a sensor", name, src), nil
		}
		if series[i], err = a.DB.RecentPoints(ctx, in.TenantID, in.AssetID, src, in.Now.Add(-modelLookback), maxBearingSnapshots); err != nil {
			return nil, "", err
		}
		if len(series[i]) == 0 {
			return nil, fmt.Sprintf("no recent reading of its feature %s (sensor %s)", name, src), nil
		}
	}
	n := mon.Bearings()
	x := make([]bearing.Indicators, n)
	status := make([]bearing.Status, n)
	pos := make([]int, len(names))
	snapshots := 0
	for _, p := range series[0] {
		if !alignSnapshot(series, pos, p.TS, detect.DefaultSnapshotWindow) {
			continue
		}
		for bi := range x {
			j := bi * len(bearing.IndicatorNames)
			x[bi] = bearing.Indicators{RMS: series[j][pos[j]].Value, Kurtosis: series[j+1][pos[j+1]].Value, CrestFactor: series[j+2][pos[j+2]].Value}
		}
		if err := mon.Update(p.TS, x, status); err != nil {
			return nil, err.Error(), nil
		}
		snapshots++
	}
	worst := -1
	health := math.Inf(-1)
	for bi, s := range status {
		if s.TTF.Valid && (worst < 0 || s.TTF.Low < status[worst].TTF.Low) {
			worst = bi
		}
		if !math.IsNaN(s.Health) {
			health = max(health, s.Health)
		}
	}
	if worst < 0 {
		return nil, fmt.Sprintf("no bearing has a sustained alarm over the last %d snapshots (highest health index %.3g, alarm above %g): the trend it would extrapolate starts with an alarm",
			snapshots, health, mon.Config().Threshold), nil
	}
	t := status[worst].TTF
	est := &incident.Estimate{Value: t.Hours, Lower: t.Low, Unit: incident.UnitHours, Per: incident.Duration(time.Hour), Coverage: 0.9, Source: incident.SourceReadings,
		Basis: fmt.Sprintf("bearing %d's RMS trend since its first sustained alarm (RMS now %.3g× its baseline) extrapolated to %g× its baseline, over %d stored snapshots — an exponential trend that was far too late on the IMS run-to-failure test (docs/ML.md), so the severity's response time bounds the deadline",
			worst+1, status[worst].RMSRatio, mon.Config().FailureRatio, snapshots)}
	if !math.IsInf(t.High, 1) {
		est.Upper = t.High
	}
	return est, "", nil
}

// alignSnapshot moves each series' position to its latest point at or
// before at+window and reports whether every one is within window of at.
func alignSnapshot(series [][]store.Point, pos []int, at time.Time, window time.Duration) bool {
	ok := true
	for j, s := range series {
		for pos[j]+1 < len(s) && !s[pos[j]+1].TS.After(at.Add(window)) {
			pos[j]++
		}
		if d := s[pos[j]].TS.Sub(at); d > window || d < -window {
			ok = false
		}
	}
	return ok
}
