package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Compute builds the report of tenant for q. It only reads, under the
// tenant's row-level security: the asset list, then every KPI query in one
// pipelined round trip. The ratios are formed in Go from the sums the
// queries return.
func Compute(ctx context.Context, db *store.DB, tenant string, q Query) (*Report, error) {
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	filter := q.Assets
	if filter == nil {
		filter = []string{}
	}
	r := &Report{
		// PostgreSQL keeps microseconds: so does the report.
		TenantID: tenant, Window: Window{From: q.From.UTC().Truncate(time.Microsecond), To: q.To.UTC().Truncate(time.Microsecond)}, AssetFilter: filter,
		ComputedAt: time.Now().UTC(), Assets: []AssetReport{}, IncidentsByWeek: []WeekIncidents{}, Models: []ModelHistory{},
	}
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		assets, err := queryAssets(ctx, tx, r.Window, filter)
		if err != nil {
			return fmt.Errorf("assets: %w", err)
		}
		ids := make([]string, len(assets))
		for i, a := range assets {
			ids[i] = a.AssetID
		}
		acc := newAccumulator(assets, r.Window)
		b := &pgx.Batch{}
		acc.queue(b, ids, r.Window)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		r.Assets = acc.assets
		r.Totals = acc.totals()
		r.IncidentsByWeek = acc.weeks()
		r.Models = acc.models()
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("report: compute for %s: %w", tenant, err)
	}
	return r, nil
}

// queryAssets lists the assets created before the window's end that the
// query covers.
func queryAssets(ctx context.Context, tx pgx.Tx, w Window, filter []string) ([]AssetReport, error) {
	rows, err := tx.Query(ctx, `
		SELECT id, type, name, created_at FROM assets
		WHERE created_at < $1 AND (cardinality($2::text[]) = 0 OR id = ANY($2))
		ORDER BY id`, w.To, filter)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AssetReport, error) {
		a := AssetReport{Sensors: []SensorStats{}}
		err := r.Scan(&a.AssetID, &a.Type, &a.Name, &a.CreatedAt)
		a.CreatedAt = a.CreatedAt.UTC()
		return a, err
	})
}

// accumulator gathers the query results per asset.
type accumulator struct {
	assets  []AssetReport
	index   map[string]int
	window  Window
	sums    []sums
	byWeek  map[int64]map[string]int // by the week's start in Unix microseconds
	history map[string]*ModelHistory
}

// sums are what the ratios of one asset are made of.
type sums struct {
	operating, downtime float64 // seconds
	repair, restore     float64 // seconds
}

func newAccumulator(assets []AssetReport, w Window) *accumulator {
	a := &accumulator{assets: assets, index: make(map[string]int, len(assets)), window: w,
		sums: make([]sums, len(assets)), byWeek: map[int64]map[string]int{}, history: map[string]*ModelHistory{}}
	for i := range assets {
		a.index[assets[i].AssetID] = i
		k := &assets[i].KPIs
		k.Incidents.ByStatus, k.Incidents.ByResolution, k.Anomalies = map[string]int{}, map[string]int{}, map[string]int{}
		start := w.From
		if assets[i].CreatedAt.After(start) {
			start = assets[i].CreatedAt
		}
		a.sums[i].operating = w.To.Sub(start).Seconds()
	}
	return a
}

// asset returns the KPIs and sums of an asset id, or nil for one outside
// the report.
func (a *accumulator) asset(id string) (*AssetReport, *sums) {
	i, ok := a.index[id]
	if !ok {
		return nil, nil
	}
	return &a.assets[i], &a.sums[i]
}

// queue adds every KPI query to b with the callback that folds its rows in.
func (a *accumulator) queue(b *pgx.Batch, ids []string, w Window) {
	// Incidents opened in the window, grouped by what the KPIs tell apart.
	b.Queue(`
		SELECT asset_id, status, resolution, closed_at IS NULL, work_order_id IS NOT NULL, count(*)
		FROM incidents
		WHERE asset_id = ANY($1) AND opened_at >= $2 AND opened_at < $3
		GROUP BY 1, 2, 3, 4, 5`, ids, w.From, w.To).Query(func(rows pgx.Rows) error {
		var asset string
		var status incident.Status
		var resolution incident.Resolution
		var open, withWO bool
		var n int
		_, err := pgx.ForEachRow(rows, []any{&asset, &status, &resolution, &open, &withWO, &n}, func() error {
			if ar, _ := a.asset(asset); ar != nil {
				ar.KPIs.countIncidents(status, resolution, open, withWO, n)
			}
			return nil
		})
		return err
	})
	// The same incidents by week and state.
	b.Queue(`
		SELECT date_bin('7 days', opened_at, $2), CASE WHEN closed_at IS NULL THEN '`+StateOpen+`' ELSE resolution END, count(*)
		FROM incidents
		WHERE asset_id = ANY($1) AND opened_at >= $2 AND opened_at < $3
		GROUP BY 1, 2`, ids, w.From, w.To).Query(func(rows pgx.Rows) error {
		var week time.Time
		var state string
		var n int
		_, err := pgx.ForEachRow(rows, []any{&week, &state, &n}, func() error {
			k := week.UnixMicro()
			if a.byWeek[k] == nil {
				a.byWeek[k] = map[string]int{}
			}
			a.byWeek[k][state] += n
			return nil
		})
		return err
	})
	// Work orders: counts, repair and restore times.
	b.Queue(`
		SELECT w.asset_id,
			count(*) FILTER (WHERE w.created_at >= $2),
			count(*) FILTER (WHERE w.completed_at >= $2 AND w.completed_at < $3),
			count(*) FILTER (WHERE w.cancelled_at >= $2 AND w.cancelled_at < $3),
			count(*) FILTER (WHERE w.completed_at >= $2 AND w.completed_at < $3 AND w.completed_at > w.deadline),
			count(*) FILTER (WHERE w.deadline < $3 AND (w.completed_at IS NULL OR w.completed_at >= $3) AND (w.cancelled_at IS NULL OR w.cancelled_at >= $3)),
			count(*) FILTER (WHERE w.created_at >= $2 AND w.late),
			count(*) FILTER (WHERE w.preventive_schedule_id IS NOT NULL AND w.deadline >= $2 AND w.deadline < $3),
			count(*) FILTER (WHERE w.preventive_schedule_id IS NOT NULL AND w.deadline >= $2 AND w.deadline < $3 AND w.completed_at <= w.deadline),
			count(*) FILTER (WHERE w.completed_at >= $2 AND w.completed_at < $3 AND w.started_at IS NOT NULL AND w.preventive_schedule_id IS NULL),
			coalesce(sum(extract(epoch FROM w.completed_at - w.started_at)) FILTER (
				WHERE w.completed_at >= $2 AND w.completed_at < $3 AND w.started_at IS NOT NULL AND w.preventive_schedule_id IS NULL), 0)::float8,
			count(i.id) FILTER (WHERE w.completed_at >= $2 AND w.completed_at < $3),
			coalesce(sum(extract(epoch FROM w.completed_at - i.opened_at)) FILTER (WHERE w.completed_at >= $2 AND w.completed_at < $3 AND i.id IS NOT NULL), 0)::float8
		FROM work_orders w
		LEFT JOIN incidents i ON i.tenant_id = w.tenant_id AND i.id = w.incident_id
		WHERE w.asset_id = ANY($1) AND w.created_at < $3
		GROUP BY w.asset_id`, ids, w.From, w.To).Query(func(rows pgx.Rows) error {
		var asset string
		var c WorkOrderCounts
		var repairs, restores int
		var repair, restore float64
		_, err := pgx.ForEachRow(rows, []any{&asset, &c.Created, &c.Done, &c.Cancelled, &c.DoneLate, &c.OpenOverdue, &c.PlannedLate,
			&c.PreventiveDue, &c.PreventiveOnTime, &repairs, &repair, &restores, &restore}, func() error {
			ar, s := a.asset(asset)
			if ar == nil {
				return nil
			}
			c.Late = c.DoneLate + c.OpenOverdue
			ar.KPIs.WorkOrders = c
			ar.KPIs.Repairs, ar.KPIs.Restores = repairs, restores
			s.repair, s.restore = repair, restore
			return nil
		})
		return err
	})
	// Downtime: the union of the periods any work order of the asset was in
	// progress, within [max(From, created_at), To).
	b.Queue(`
		SELECT a.id, coalesce((
			SELECT extract(epoch FROM sum(upper(r) - lower(r)))
			FROM unnest(d.down * tstzmultirange(tstzrange(greatest($2, a.created_at), $3))) r), 0)::float8
		FROM assets a
		CROSS JOIN LATERAL (
			SELECT range_agg(tstzrange(w.started_at, greatest(w.started_at, least(coalesce(w.completed_at, w.cancelled_at, $3), $3)))) AS down
			FROM work_orders w
			WHERE w.tenant_id = a.tenant_id AND w.asset_id = a.id AND w.started_at < $3
			  AND coalesce(w.completed_at, w.cancelled_at, 'infinity') > $2) d
		WHERE a.id = ANY($1) AND a.created_at < $3 AND d.down IS NOT NULL`, ids, w.From, w.To).Query(func(rows pgx.Rows) error {
		var asset string
		var down float64
		_, err := pgx.ForEachRow(rows, []any{&asset, &down}, func() error {
			if _, s := a.asset(asset); s != nil {
				s.downtime = down
			}
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT asset_id, severity, count(*) FROM anomalies
		WHERE asset_id = ANY($1) AND ts >= $2 AND ts < $3
		GROUP BY 1, 2`, ids, w.From, w.To).Query(func(rows pgx.Rows) error {
		var asset, severity string
		var n int
		_, err := pgx.ForEachRow(rows, []any{&asset, &severity, &n}, func() error {
			if ar, _ := a.asset(asset); ar != nil {
				ar.KPIs.Anomalies[severity] += n
			}
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT s.asset_id, s.id, s.unit, coalesce(sum(h.n), 0)::bigint, sum(h.sum) / nullif(sum(h.n), 0), min(h.min), max(h.max)
		FROM sensors s
		LEFT JOIN readings_hourly h ON h.sensor_key = s.key
			AND h.bucket >= date_bin('1 hour', $2::timestamptz, timestamptz '2000-01-01') AND h.bucket < $3
		WHERE s.asset_id = ANY($1)
		GROUP BY s.asset_id, s.id, s.unit
		ORDER BY s.asset_id, s.id`, ids, w.From, w.To).Query(func(rows pgx.Rows) error {
		var asset string
		var st SensorStats
		_, err := pgx.ForEachRow(rows, []any{&asset, &st.SensorID, &st.Unit, &st.Count, &st.Mean, &st.Min, &st.Max}, func() error {
			if ar, _ := a.asset(asset); ar != nil {
				ar.Sensors = append(ar.Sensors, st)
			}
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT name, version, kind, metrics, created_at FROM (
			SELECT *, row_number() OVER (PARTITION BY name ORDER BY version DESC) AS newest
			FROM model_versions WHERE created_at < $1) v
		WHERE newest <= $2
		ORDER BY name, version`, w.To, MaxVersions).Query(func(rows pgx.Rows) error {
		var name string
		var v ModelVersion
		_, err := pgx.ForEachRow(rows, []any{&name, &v.Version, &v.Kind, &v.Metrics, &v.CreatedAt}, func() error {
			v.CreatedAt = v.CreatedAt.UTC()
			if v.Metrics == nil {
				v.Metrics = map[string]float64{}
			}
			m := a.model(name)
			m.Versions = append(m.Versions, v)
			v = ModelVersion{}
			return nil
		})
		return err
	})
	b.Queue(`
		SELECT name, alias, coalesce(from_version, 0), coalesce(to_version, 0), actor, reason, at FROM (
			SELECT *, row_number() OVER (PARTITION BY name ORDER BY id DESC) AS newest
			FROM model_alias_events WHERE at < $1) e
		WHERE newest <= $2
		ORDER BY name, id`, w.To, MaxAliasEvents).Query(func(rows pgx.Rows) error {
		var name string
		var e AliasMove
		_, err := pgx.ForEachRow(rows, []any{&name, &e.Alias, &e.From, &e.To, &e.Actor, &e.Reason, &e.At}, func() error {
			e.At = e.At.UTC()
			m := a.model(name)
			m.AliasEvents = append(m.AliasEvents, e)
			return nil
		})
		return err
	})
}

func (a *accumulator) model(name string) *ModelHistory {
	m := a.history[name]
	if m == nil {
		m = &ModelHistory{Name: name, Versions: []ModelVersion{}, AliasEvents: []AliasMove{}}
		a.history[name] = m
	}
	return m
}

// countIncidents folds n incidents of one kind into k.
func (k *KPIs) countIncidents(status incident.Status, resolution incident.Resolution, open, withWorkOrder bool, n int) {
	c := &k.Incidents
	c.Opened += n
	c.ByStatus[string(status)] += n
	if open {
		c.Open += n
	} else {
		c.ByResolution[string(resolution)] += n
	}
	switch {
	case resolution.FalseAlarm():
		c.FalsePositives += n
	case incident.Approved(status, resolution):
		c.Approved += n
		if resolution == incident.ResolutionResolved && withWorkOrder {
			k.Failures += n
		}
	}
}

// finish forms k's ratios from s.
func (k *KPIs) finish(s sums) {
	c := &k.Incidents
	c.Decided = c.Approved + c.FalsePositives
	k.FalsePositiveRate = ratio(float64(c.FalsePositives), float64(c.Decided))
	operating := max(s.operating-s.downtime, 0)
	k.OperatingHours, k.DowntimeHours = operating/3600, s.downtime/3600
	k.MTBFHours = ratio(operating/3600, float64(k.Failures))
	k.MTTRHours = ratio(s.repair/3600, float64(k.Repairs))
	k.MeanTimeToRestoreHours = ratio(s.restore/3600, float64(k.Restores))
	k.PMCompliance = ratio(float64(k.WorkOrders.PreventiveOnTime), float64(k.WorkOrders.PreventiveDue))
}

func ratio(num, den float64) *float64 {
	if den == 0 {
		return nil
	}
	v := num / den
	return &v
}

// totals finishes every asset and sums them.
func (a *accumulator) totals() KPIs {
	t := KPIs{Anomalies: map[string]int{}}
	t.Incidents.ByStatus, t.Incidents.ByResolution = map[string]int{}, map[string]int{}
	var all sums
	for i := range a.assets {
		k, s := &a.assets[i].KPIs, a.sums[i]
		k.finish(s)
		c, tc := k.Incidents, &t.Incidents
		tc.Opened += c.Opened
		tc.Open += c.Open
		tc.Approved += c.Approved
		tc.FalsePositives += c.FalsePositives
		addCounts(tc.ByStatus, c.ByStatus)
		addCounts(tc.ByResolution, c.ByResolution)
		addCounts(t.Anomalies, k.Anomalies)
		t.Failures += k.Failures
		t.Repairs += k.Repairs
		t.Restores += k.Restores
		w, tw := k.WorkOrders, &t.WorkOrders
		tw.Created += w.Created
		tw.Done += w.Done
		tw.Cancelled += w.Cancelled
		tw.DoneLate += w.DoneLate
		tw.OpenOverdue += w.OpenOverdue
		tw.Late += w.Late
		tw.PlannedLate += w.PlannedLate
		tw.PreventiveDue += w.PreventiveDue
		tw.PreventiveOnTime += w.PreventiveOnTime
		all.operating += s.operating
		all.downtime += s.downtime
		all.repair += s.repair
		all.restore += s.restore
	}
	t.finish(all)
	return t
}

func addCounts(dst, src map[string]int) {
	for k, v := range src {
		dst[k] += v
	}
}

// weeks lists every week of the window, empty ones included.
func (a *accumulator) weeks() []WeekIncidents {
	out := []WeekIncidents{}
	for start := a.window.From; start.Before(a.window.To); start = start.Add(7 * 24 * time.Hour) {
		counts := a.byWeek[start.UnixMicro()]
		if counts == nil {
			counts = map[string]int{}
		}
		out = append(out, WeekIncidents{Start: start, Counts: counts})
	}
	return out
}

func (a *accumulator) models() []ModelHistory {
	out := make([]ModelHistory, 0, len(a.history))
	for _, m := range a.history {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(x, y ModelHistory) int { return cmp.Compare(x.Name, y.Name) })
	return out
}
