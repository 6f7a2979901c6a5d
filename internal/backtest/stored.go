package backtest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/anomaly"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// DatasetStored names the report of a replay of stored readings.
const DatasetStored = "stored"

// Defaults of a stored-readings replay.
const (
	// DefaultSustain is how many anomalous readings of one sensor in a row
	// make a sustained alarm.
	DefaultSustain = 3
	// DefaultRobustThreshold and DefaultRobustAlpha are the ingest path's
	// robust z-score settings.
	DefaultRobustThreshold = detect.DefaultRobustThreshold
	DefaultRobustAlpha     = detect.DefaultRobustAlpha
	// DefaultChartBuckets is how many time buckets the report's chart
	// data has.
	DefaultChartBuckets = 120
	// storedPage is the readings read per query, roughly.
	storedPage = 5000
	// storedWarm is how many readings per sensor before the resume point
	// re-teach the detectors on a resumed replay.
	storedWarm = 200
	// storedAlarmTimes caps the alarm times the report lists.
	storedAlarmTimes = 50
)

// StoredOptions say which stored readings to replay and how.
type StoredOptions struct {
	Tenant  string
	AssetID string
	// Sensors restricts the replay; empty means every sensor of the asset.
	Sensors []string
	// From and To bound the readings replayed, [From, To).
	From, To time.Time
	// Model is the model version the model detector scores with (whatever
	// the asset type's model name); nil replays without a model detector.
	Model *registry.Loaded[modelfile.Model]
	// FailureAt is when the asset failed, for the lead time; nil when
	// unknown.
	FailureAt *time.Time
	// Sustain is the k of "k anomalous readings of a sensor in a row"
	// (DefaultSustain when zero).
	Sustain int
	// RobustThreshold and RobustAlpha configure the robust z-score
	// (DefaultRobustThreshold and DefaultRobustAlpha when zero);
	// SnapshotWindow the model detector (detect.DefaultSnapshotWindow).
	RobustThreshold, RobustAlpha float64
	SnapshotWindow               time.Duration
	// ChartBuckets is the resolution of the chart data
	// (DefaultChartBuckets when zero).
	ChartBuckets int
	// PageRows is about how many readings each query reads (5,000 when
	// zero); a checkpoint follows every page.
	PageRows int
	// Resume continues a replay from a checkpoint Checkpoint was given,
	// warming the detectors on the readings just before it.
	Resume *StoredCheckpoint
	// Checkpoint, when set, is called after each page of readings with the
	// state to resume from; an error stops the replay.
	Checkpoint func(StoredCheckpoint) error
}

// StoredReport is the outcome of a replay of an asset's stored readings:
// small whatever the number of readings. Its JSON form is the contract in
// docs/ML.md.
type StoredReport struct {
	Dataset string    `json:"dataset"` // "stored"
	AssetID string    `json:"asset_id"`
	Sensors []string  `json:"sensors"`
	From    time.Time `json:"from"`
	To      time.Time `json:"to"`
	// Model is the model version replayed; nil when there was none.
	Model *StoredModel `json:"model"`
	// ModelFeaturesMissing are the model's sensor features that are not
	// among the sensors replayed: while any is missing the model detector
	// never completes a snapshot and stays silent.
	ModelFeaturesMissing []string `json:"model_features_missing,omitempty"`
	Detectors            []string `json:"detectors"`
	Sustain              int      `json:"sustain"`
	Readings             int64    `json:"readings"`
	// Anomalies counts anomalous readings; BySeverity by their combined
	// severity, ByDetector by each detector that flagged them (a reading
	// two detectors flag counts for both).
	Anomalies  int64            `json:"anomalies"`
	BySeverity map[string]int64 `json:"anomalies_by_severity"`
	ByDetector map[string]int64 `json:"anomalies_by_detector"`
	// Alarms counts sustained alarms: runs of Sustain anomalous readings of
	// one sensor in a row, each counted once.
	Alarms       int          `json:"alarms"`
	AlarmsPerDay float64      `json:"alarms_per_day"`
	FirstAlarm   *StoredAlarm `json:"first_alarm"`
	// AlarmTimes are when the first alarms were raised (at most 50).
	AlarmTimes []time.Time `json:"alarm_times"`
	// FailureAt is the failure given; Caught says whether an alarm was
	// raised before it and LeadTimeHours how long before it the first
	// alarm was raised (nil when none was).
	FailureAt     *time.Time `json:"failure_at"`
	Caught        *bool      `json:"caught"`
	LeadTimeHours *float64   `json:"lead_time_hours"`
	// Chart is the data of the report's charts.
	Chart StoredChart `json:"chart"`
}

// StoredModel names a model version.
type StoredModel struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// StoredAlarm is a sustained alarm: Start is the first reading of the
// run, RaisedAt the Sustain-th, when a k-in-a-row rule raises it.
type StoredAlarm struct {
	SensorID  string    `json:"sensor_id"`
	Start     time.Time `json:"start"`
	RaisedAt  time.Time `json:"raised_at"`
	Severity  string    `json:"severity"`
	Detectors []string  `json:"detectors"`
	Reason    string    `json:"reason"`
}

// StoredChart is the replay at chart resolution: per time bucket, each
// sensor's mean and the share of readings found anomalous (nil where a
// bucket had no readings).
type StoredChart struct {
	Start         time.Time      `json:"start"`
	BucketSeconds float64        `json:"bucket_seconds"`
	AnomalyShare  []*float64     `json:"anomaly_share"`
	Sensors       []StoredSeries `json:"sensors"`
}

// StoredSeries is one sensor's bucket means.
type StoredSeries struct {
	SensorID string     `json:"sensor_id"`
	Unit     string     `json:"unit"`
	Mean     []*float64 `json:"mean"`
}

// StoredCheckpoint is the state of a replay between two pages: everything
// it has counted and where it stopped. It is JSON-encodable (an
// activity's heartbeat details).
type StoredCheckpoint struct {
	// Cursor: every reading before it has been replayed.
	Cursor time.Time `json:"cursor"`
	// Done counts the readings replayed; Total estimates the readings of
	// the range from the hourly rollup.
	Done  int64 `json:"done"`
	Total int64 `json:"total"`

	Anomalies  int64                 `json:"anomalies"`
	BySeverity map[string]int64      `json:"by_severity"`
	ByDetector map[string]int64      `json:"by_detector"`
	Alarms     int                   `json:"alarms"`
	FirstAlarm *StoredAlarm          `json:"first_alarm,omitempty"`
	AlarmTimes []time.Time           `json:"alarm_times,omitempty"`
	Runs       map[string]*storedRun `json:"runs,omitempty"`
	// Sums, Counts per sensor and bucket; Flagged per bucket.
	Sums    map[string][]float64 `json:"sums"`
	Counts  map[string][]int64   `json:"counts"`
	Flagged []int64              `json:"flagged"`
}

// storedRun is a sensor's current run of anomalous readings.
type storedRun struct {
	Len       int       `json:"len"`
	Start     time.Time `json:"start"`
	Severity  string    `json:"severity"`
	Detectors []string  `json:"detectors"`
	Reason    string    `json:"reason"`
}

// Stored replays an asset's stored readings of [From, To) in time order
// (ties by sensor) through the ingest path's detectors — the sensors'
// current limits, the robust z-score and, with Model, the model detector
// — and reports the anomalies, the sustained alarms and, with FailureAt,
// whether and how early the failure was caught.
func Stored(ctx context.Context, db *store.DB, o StoredOptions) (*StoredReport, error) {
	if !o.To.After(o.From) {
		return nil, fmt.Errorf("backtest: stored: to %s not after from %s", o.To.Format(time.RFC3339), o.From.Format(time.RFC3339))
	}
	if o.Sustain <= 0 {
		o.Sustain = DefaultSustain
	}
	if o.RobustThreshold <= 0 {
		o.RobustThreshold = DefaultRobustThreshold
	}
	if o.RobustAlpha <= 0 {
		o.RobustAlpha = DefaultRobustAlpha
	}
	if o.ChartBuckets <= 0 {
		o.ChartBuckets = DefaultChartBuckets
	}
	if o.PageRows <= 0 {
		o.PageRows = storedPage
	}
	asset, err := db.AssetOf(ctx, o.Tenant, o.AssetID)
	if err != nil {
		return nil, fmt.Errorf("backtest: stored: %w", err)
	}
	all, err := db.ListSensors(ctx, o.Tenant, o.AssetID)
	if err != nil {
		return nil, fmt.Errorf("backtest: stored: %w", err)
	}
	var sensors []*store.Sensor
	for i := range all {
		if len(o.Sensors) == 0 || slices.Contains(o.Sensors, all[i].ID) {
			sensors = append(sensors, &all[i])
		}
	}
	for _, id := range o.Sensors {
		if !slices.ContainsFunc(sensors, func(s *store.Sensor) bool { return s.ID == id }) {
			return nil, fmt.Errorf("backtest: stored: asset %q has no sensor %q: %w", o.AssetID, id, store.ErrNotFound)
		}
	}
	r := &storedReplay{o: o, db: db, asset: &asset, byKey: map[int64]*store.Sensor{}}
	for _, s := range sensors {
		r.byKey[s.Key] = s
		r.keys = append(r.keys, s.Key)
	}
	r.detectors = []detect.Detector{detect.Threshold{}, detect.NewRobustZ(o.RobustThreshold, o.RobustAlpha)}
	if o.Model != nil {
		r.detectors = append(r.detectors, detect.NewModel(fixedModel{o.Model}, fixedAsset{&asset}, o.SnapshotWindow))
	}
	r.width = o.To.Sub(o.From) / time.Duration(o.ChartBuckets)
	if r.width <= 0 {
		r.width = 1
	}
	if err := r.run(ctx); err != nil {
		return nil, err
	}
	return r.report(sensors), nil
}

type storedReplay struct {
	o         StoredOptions
	db        *store.DB
	asset     *store.Asset
	byKey     map[int64]*store.Sensor
	keys      []int64
	detectors []detect.Detector
	width     time.Duration
	cp        StoredCheckpoint
}

type storedRow struct {
	key   int64
	ts    time.Time
	value float64
}

func (r *storedReplay) run(ctx context.Context) error {
	o := r.o
	if o.Resume != nil {
		r.cp = *o.Resume
		if err := r.warm(ctx); err != nil {
			return err
		}
	} else {
		r.cp = StoredCheckpoint{Cursor: o.From, Runs: map[string]*storedRun{}}
		if err := r.db.InTenant(ctx, o.Tenant, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, `
				SELECT coalesce(sum(n), 0)::bigint FROM readings_hourly
				WHERE sensor_key = ANY($1) AND bucket >= date_trunc('hour', $2::timestamptz) AND bucket < $3`,
				r.keys, o.From, o.To).Scan(&r.cp.Total)
		}); err != nil {
			return fmt.Errorf("backtest: stored: estimate readings: %w", err)
		}
	}
	cp := &r.cp
	if cp.Runs == nil {
		cp.Runs = map[string]*storedRun{}
	}
	if cp.BySeverity == nil {
		cp.BySeverity, cp.ByDetector = map[string]int64{}, map[string]int64{}
	}
	if cp.Sums == nil {
		cp.Sums, cp.Counts = map[string][]float64{}, map[string][]int64{}
		for _, s := range r.byKey {
			cp.Sums[s.ID], cp.Counts[s.ID] = make([]float64, o.ChartBuckets), make([]int64, o.ChartBuckets)
		}
		cp.Flagged = make([]int64, o.ChartBuckets)
	}
	// Pages are time windows sized from the hourly rollup's density, so a
	// page's query sorts only its own window.
	window := time.Hour
	if cp.Total > 0 {
		perRow := o.To.Sub(o.From) / time.Duration(cp.Total)
		window = max(time.Second, min(perRow*time.Duration(o.PageRows), o.To.Sub(o.From)))
	}
	for cp.Cursor.Before(o.To) {
		if err := ctx.Err(); err != nil {
			return err
		}
		end := cp.Cursor.Add(window)
		if end.After(o.To) || end.Before(cp.Cursor) {
			end = o.To
		}
		rows, full, err := r.page(ctx, cp.Cursor, end, 4*o.PageRows)
		if err != nil {
			return err
		}
		if full && window > time.Millisecond {
			window /= 2 // too dense: retry the window halved
			continue
		}
		for _, row := range rows {
			r.observe(row)
		}
		cp.Cursor = end
		switch {
		case len(rows) < o.PageRows/2 && window < o.To.Sub(o.From):
			window *= 2
		case len(rows) > 2*o.PageRows:
			window /= 2
		}
		if o.Checkpoint != nil {
			if err := o.Checkpoint(r.checkpoint()); err != nil {
				return err
			}
		}
	}
	return nil
}

// page reads the readings of [from, to), at most limit+1 of them; full
// when there were more than limit.
func (r *storedReplay) page(ctx context.Context, from, to time.Time, limit int) ([]storedRow, bool, error) {
	var out []storedRow
	err := r.db.InTenant(ctx, r.o.Tenant, func(tx pgx.Tx) error {
		out = out[:0]
		rows, err := tx.Query(ctx, `
			SELECT sensor_key, ts, value FROM readings
			WHERE sensor_key = ANY($1) AND ts >= $2 AND ts < $3
			ORDER BY ts, sensor_key LIMIT $4`, r.keys, from, to, limit+1)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (storedRow, error) {
			var s storedRow
			return s, row.Scan(&s.key, &s.ts, &s.value)
		})
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("backtest: stored: read readings: %w", err)
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// warm teaches the fresh detectors the readings just before the resume
// point, so a resumed replay scores as the uninterrupted one would: the
// robust z-score's memory is a few dozen readings at the ingest path's
// rate, and the model detector needs each feature's latest value.
func (r *storedReplay) warm(ctx context.Context) error {
	var rows []storedRow
	err := r.db.InTenant(ctx, r.o.Tenant, func(tx pgx.Tx) error {
		q, err := tx.Query(ctx, `
			SELECT sensor_key, ts, value FROM readings
			WHERE sensor_key = ANY($1) AND ts >= $2 AND ts < $3
			ORDER BY ts DESC, sensor_key DESC LIMIT $4`, r.keys, r.o.From, r.cp.Cursor, storedWarm*len(r.keys))
		if err != nil {
			return err
		}
		rows, err = pgx.CollectRows(q, func(row pgx.CollectableRow) (storedRow, error) {
			var s storedRow
			return s, row.Scan(&s.key, &s.ts, &s.value)
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("backtest: stored: warm the detectors: %w", err)
	}
	slices.Reverse(rows)
	for _, row := range rows {
		rd := detect.Reading{Tenant: r.o.Tenant, Sensor: r.byKey[row.key], TS: row.ts, Value: row.value}
		for _, d := range r.detectors {
			d.Observe(rd)
		}
	}
	return nil
}

// observe scores one reading with every detector and counts it.
func (r *storedReplay) observe(row storedRow) {
	s := r.byKey[row.key]
	cp := &r.cp
	rd := detect.Reading{Tenant: r.o.Tenant, Sensor: s, TS: row.ts, Value: row.value}
	var sev anomaly.Severity
	var names, reasons []string
	for _, d := range r.detectors {
		f := d.Observe(rd)
		if !f.Anomalous {
			continue
		}
		sev = sev.Max(f.Severity)
		names = append(names, d.Name())
		reasons = append(reasons, f.Reason)
	}
	cp.Done++
	b := min(int(row.ts.Sub(r.o.From)/r.width), r.o.ChartBuckets-1)
	cp.Sums[s.ID][b] += row.value
	cp.Counts[s.ID][b]++
	if len(names) == 0 {
		delete(cp.Runs, s.ID)
		return
	}
	cp.Anomalies++
	cp.Flagged[b]++
	cp.BySeverity[string(sev)]++
	for _, n := range names {
		cp.ByDetector[n]++
	}
	run := cp.Runs[s.ID]
	if run == nil {
		run = &storedRun{Start: row.ts}
		cp.Runs[s.ID] = run
	}
	run.Len++
	run.Severity = string(anomaly.Severity(run.Severity).Max(sev))
	for _, n := range names {
		if !slices.Contains(run.Detectors, n) {
			run.Detectors = append(run.Detectors, n)
		}
	}
	if run.Reason == "" {
		run.Reason = strings.Join(reasons, "; ")
	}
	if run.Len != r.o.Sustain {
		return
	}
	cp.Alarms++
	if len(cp.AlarmTimes) < storedAlarmTimes {
		cp.AlarmTimes = append(cp.AlarmTimes, row.ts)
	}
	if cp.FirstAlarm == nil {
		cp.FirstAlarm = &StoredAlarm{SensorID: s.ID, Start: run.Start, RaisedAt: row.ts, Severity: run.Severity,
			Detectors: slices.Clone(run.Detectors), Reason: run.Reason}
	}
}

// checkpoint is a copy of the state safe to hand out.
func (r *storedReplay) checkpoint() StoredCheckpoint {
	c := r.cp
	c.BySeverity, c.ByDetector = maps.Clone(c.BySeverity), maps.Clone(c.ByDetector)
	c.Runs = make(map[string]*storedRun, len(r.cp.Runs))
	for k, v := range r.cp.Runs {
		cv := *v
		cv.Detectors = slices.Clone(v.Detectors)
		c.Runs[k] = &cv
	}
	c.Sums, c.Counts = map[string][]float64{}, map[string][]int64{}
	for k, v := range r.cp.Sums {
		c.Sums[k], c.Counts[k] = slices.Clone(v), slices.Clone(r.cp.Counts[k])
	}
	c.Flagged = slices.Clone(r.cp.Flagged)
	c.AlarmTimes = slices.Clone(r.cp.AlarmTimes)
	return c
}

func (r *storedReplay) report(sensors []*store.Sensor) *StoredReport {
	o, cp := r.o, &r.cp
	rep := &StoredReport{
		Dataset: DatasetStored, AssetID: o.AssetID, From: o.From, To: o.To, Sustain: o.Sustain,
		Readings: cp.Done, Anomalies: cp.Anomalies, BySeverity: cp.BySeverity, ByDetector: cp.ByDetector,
		Alarms: cp.Alarms, FirstAlarm: cp.FirstAlarm, AlarmTimes: cp.AlarmTimes, FailureAt: o.FailureAt,
		Sensors: []string{},
	}
	if rep.AlarmTimes == nil {
		rep.AlarmTimes = []time.Time{}
	}
	for _, d := range r.detectors {
		rep.Detectors = append(rep.Detectors, d.Name())
	}
	if o.Model != nil {
		rep.Model = &StoredModel{Name: o.Model.Version.Name, Version: o.Model.Version.Version}
		for _, name := range o.Model.Model.Meta.FeatureNames {
			if !strings.HasPrefix(name, detect.MetadataFeature) && !slices.ContainsFunc(sensors, func(s *store.Sensor) bool { return s.ID == name }) {
				rep.ModelFeaturesMissing = append(rep.ModelFeaturesMissing, name)
			}
		}
	}
	rep.AlarmsPerDay = float64(cp.Alarms) / (o.To.Sub(o.From).Hours() / 24)
	if o.FailureAt != nil {
		caught := cp.FirstAlarm != nil && !cp.FirstAlarm.RaisedAt.After(*o.FailureAt)
		rep.Caught = &caught
		if caught {
			rep.LeadTimeHours = ptr(o.FailureAt.Sub(cp.FirstAlarm.RaisedAt).Hours())
		}
	}
	rep.Chart = StoredChart{Start: o.From, BucketSeconds: r.width.Seconds(), AnomalyShare: make([]*float64, o.ChartBuckets)}
	total := make([]int64, o.ChartBuckets)
	for _, s := range sensors {
		rep.Sensors = append(rep.Sensors, s.ID)
		ser := StoredSeries{SensorID: s.ID, Unit: s.Unit, Mean: make([]*float64, o.ChartBuckets)}
		for b, n := range cp.Counts[s.ID] {
			if n > 0 {
				ser.Mean[b] = ptr(cp.Sums[s.ID][b] / float64(n))
				total[b] += n
			}
		}
		rep.Chart.Sensors = append(rep.Chart.Sensors, ser)
	}
	for b, n := range total {
		if n > 0 {
			rep.Chart.AnomalyShare[b] = ptr(float64(cp.Flagged[b]) / float64(n))
		}
	}
	return rep
}

// fixedModel serves one model version whatever the name asked for.
type fixedModel struct {
	m *registry.Loaded[modelfile.Model]
}

func (f fixedModel) Get(string, string) (*registry.Loaded[modelfile.Model], bool) { return f.m, true }

// fixedAsset describes the one asset replayed.
type fixedAsset struct{ a *store.Asset }

func (f fixedAsset) Asset(_, id string) (*store.Asset, bool) { return f.a, id == f.a.ID }
func (f fixedAsset) Generation() uint64                      { return 0 }

// Summary implements Report.
func (rep *StoredReport) Summary(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	model := "none (limits and robust z only)"
	if rep.Model != nil {
		model = fmt.Sprintf("%s v%d", rep.Model.Name, rep.Model.Version)
	}
	fmt.Fprintf(tw, "asset\t%s (%s)\n", rep.AssetID, strings.Join(rep.Sensors, ", "))
	fmt.Fprintf(tw, "range\t%s .. %s\n", rep.From.Format(time.RFC3339), rep.To.Format(time.RFC3339))
	fmt.Fprintf(tw, "model\t%s\n", model)
	fmt.Fprintf(tw, "readings replayed\t%d\n", rep.Readings)
	fmt.Fprintf(tw, "anomalies\t%d %s %s\n", rep.Anomalies, fmtCounts(rep.BySeverity), fmtCounts(rep.ByDetector))
	fmt.Fprintf(tw, "sustained alarms (%d in a row)\t%d (%.2f a day)\n", rep.Sustain, rep.Alarms, rep.AlarmsPerDay)
	if a := rep.FirstAlarm; a != nil {
		fmt.Fprintf(tw, "first alarm\t%s on %s (run from %s, %s, %s)\n", a.RaisedAt.Format(time.RFC3339), a.SensorID,
			a.Start.Format(time.RFC3339), a.Severity, strings.Join(a.Detectors, "+"))
	} else {
		fmt.Fprintf(tw, "first alarm\tnone\n")
	}
	if rep.FailureAt != nil {
		fmt.Fprintf(tw, "failure\t%s: caught %v, lead time %s\n", rep.FailureAt.Format(time.RFC3339), *rep.Caught, fmtHours(rep.LeadTimeHours))
	}
	return tw.Flush()
}

func fmtCounts(m map[string]int64) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// Charts implements Report: the share of readings found anomalous per
// bucket, and each sensor's bucket means, against hours since From, with
// the alarms and the failure marked.
func (rep *StoredReport) Charts() []*Chart {
	c := rep.Chart
	hours := func(b int) float64 { return (float64(b) + 0.5) * c.BucketSeconds / 3600 }
	series := func(name string, ys []*float64) Series {
		s := Series{Name: name}
		for b, y := range ys {
			s.X = append(s.X, hours(b))
			v := math.NaN()
			if y != nil {
				v = *y
			}
			s.Y = append(s.Y, v)
		}
		return s
	}
	var alarms, failures []float64
	for _, t := range rep.AlarmTimes {
		alarms = append(alarms, t.Sub(rep.From).Hours())
	}
	if rep.FailureAt != nil {
		failures = append(failures, rep.FailureAt.Sub(rep.From).Hours())
	}
	xlabel := "hours since " + rep.From.Format(time.RFC3339)
	charts := []*Chart{{
		Name: "backtest-" + rep.AssetID + "-anomalies", Title: rep.AssetID + ": share of readings found anomalous",
		XLabel: xlabel, YLabel: "anomalous share", Series: []Series{series("anomalous", c.AnomalyShare)},
		Alarms: alarms, Failures: failures,
	}}
	for _, s := range c.Sensors {
		charts = append(charts, &Chart{
			Name: "backtest-" + rep.AssetID + "-" + s.SensorID, Title: rep.AssetID + " " + s.SensorID + " (bucket mean)",
			XLabel: xlabel, YLabel: s.Unit, Series: []Series{series(s.SensorID, s.Mean)},
			Alarms: alarms, Failures: failures,
		})
	}
	return charts
}
