package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"html/template"
	"slices"
	"sync"
	"time"

	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Page limits: the overview shows the first so many of each list.
const (
	maxAssets     = 500
	maxIncidents  = 200
	maxWorkOrders = 50
	maxCharts     = 20
	// chartReadings is how many raw readings a chart draws before it
	// switches to min/max buckets (chartBuckets of them).
	chartReadings = 600
	chartBuckets  = 300
	// staleAfter marks an asset whose newest reading is older.
	staleAfter = time.Hour
)

// overviewPage is everything the operator page shows.
type overviewPage struct {
	Tenant, KeyName string
	CanDecide       bool
	CSRF            string
	Flash           *flash
	Now             time.Time
	Approvals       []incidentView
	Open            []incidentView
	Assets          []assetView
	WorkOrders      []workOrderView
	Models          []modelView
	// Reconciled lists the incidents re-attached to a new workflow run, or
	// closed as orphaned, in the last day (dispatch.Reconcile): the
	// operator sees that a restart lost history and what became of it.
	Reconciled []store.LogEntry
	// Problems name the parts that could not be loaded.
	Problems []string
	// MaxUser and MaxComment bound the decision form's fields as the API
	// does (incident.MaxUser, incident.MaxComment).
	MaxUser, MaxComment int
}

// incidentView is an open incident with its evidence chart.
type incidentView struct {
	incident.Projection
	// Now is the page's clock, for relative times.
	Now         time.Time
	Sensor      string
	Chart       template.HTML
	ChartNote   string
	Reasons     []string
	Decision    *incident.Decision
	DecisionDue time.Time
	Escalation  int
	Forecast    string
}

// assetView is an asset with its health.
type assetView struct {
	store.Asset
	// Health is the open incident's severity, or "ok".
	Health      string
	Incident    *incident.Projection
	LastReading time.Time
	Stale       bool
}

// workOrderView is a work order with its technician's name.
type workOrderView struct {
	maintenance.WorkOrder
	Technician string
}

// modelView is a registered model with its aliases.
type modelView struct {
	registry.Model
	Champion, Challenger int
}

// load fills the page for principal p. A part that fails is logged and
// named in Problems; the rest of the page still shows.
func (u *UI) load(ctx context.Context, p auth.Principal, now time.Time) *overviewPage {
	tenant := p.TenantID
	pg := &overviewPage{Tenant: tenant, KeyName: p.KeyName, Now: now, MaxUser: incident.MaxUser, MaxComment: incident.MaxComment}
	problem := func(part string, err error) {
		u.log().WarnContext(ctx, "operator page: part unavailable", "part", part, "tenant", tenant, "error", err)
		pg.Problems = append(pg.Problems, part)
	}

	incidents, err := u.DB.ListIncidents(ctx, tenant, store.IncidentFilter{Status: "open", Limit: maxIncidents})
	if err != nil {
		problem("incidents", err)
	}
	byAsset := map[string]*incident.Projection{}
	views := make([]incidentView, len(incidents))
	for i := range incidents {
		inc := &incidents[i]
		byAsset[inc.AssetID] = inc
		views[i] = incidentView{Projection: *inc, Now: now}
	}
	u.addEvidence(ctx, tenant, views, now)
	for _, v := range views {
		if v.Status == incident.StatusAwaiting {
			pg.Approvals = append(pg.Approvals, v)
		} else {
			pg.Open = append(pg.Open, v)
		}
	}

	assets, err := u.DB.ListAssets(ctx, tenant, "", store.Page{Limit: maxAssets})
	if err != nil {
		problem("assets", err)
	}
	ids := make([]string, len(assets))
	for i, a := range assets {
		ids[i] = a.ID
	}
	last, err := u.DB.LastReadings(ctx, tenant, ids)
	if err != nil {
		problem("last readings", err)
	}
	for _, a := range assets {
		v := assetView{Asset: a, Health: "ok", Incident: byAsset[a.ID], LastReading: last[a.ID]}
		if v.Incident != nil {
			v.Health = string(v.Incident.Severity)
		}
		v.Stale = !v.LastReading.IsZero() && now.Sub(v.LastReading) > staleAfter
		pg.Assets = append(pg.Assets, v)
	}
	// Assets in trouble first, the most severe on top; then by id.
	slices.SortStableFunc(pg.Assets, func(a, b assetView) int { return cmp.Compare(healthRank(b.Health), healthRank(a.Health)) })

	orders, err := u.Maintenance.ListWorkOrders(ctx, tenant, maintenance.WorkOrderFilter{}, store.Page{Limit: maxWorkOrders})
	if err != nil {
		problem("work orders", err)
	}
	techs, err := u.Maintenance.ListTechnicians(ctx, tenant, maintenance.TechnicianFilter{}, store.Page{Limit: 1000})
	if err != nil {
		problem("technicians", err)
	}
	names := map[string]string{}
	for _, t := range techs {
		names[t.ID] = t.Name
	}
	for _, wo := range orders {
		pg.WorkOrders = append(pg.WorkOrders, workOrderView{WorkOrder: wo, Technician: names[wo.TechnicianID]})
	}

	reconciled, err := u.DB.RecentLogEvents(ctx, tenant, []string{incident.EventReattached, incident.EventClosedOrphaned}, now.Add(-24*time.Hour), 20)
	if err != nil {
		problem("reconciliation", err)
	}
	pg.Reconciled = reconciled

	if u.Registry != nil {
		models, err := u.Registry.Models(ctx, tenant)
		if err != nil {
			problem("models", err)
		}
		for _, m := range models {
			pg.Models = append(pg.Models, modelView{Model: m, Champion: m.Aliases[registry.Champion], Challenger: m.Aliases[registry.Challenger]})
		}
	}
	return pg
}

// healthRank orders health values: ok 0, then the severities.
func healthRank(h string) int {
	switch h {
	case "warning":
		return 1
	case "minor":
		return 2
	case "major":
		return 3
	case "critical":
		return 4
	}
	return 0
}

// addEvidence decodes each incident's summary and draws the evidence
// charts of the first maxCharts, four at a time.
func (u *UI) addEvidence(ctx context.Context, tenant string, views []incidentView, now time.Time) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range views {
		v := &views[i]
		var s incident.Summary
		if len(v.Summary) > 0 {
			if err := json.Unmarshal(v.Summary, &s); err != nil {
				u.log().WarnContext(ctx, "operator page: incident summary", "incident", v.ID, "error", err)
			}
		}
		v.Decision, v.DecisionDue, v.Escalation = s.Decision, s.DecisionDue, s.EscalationStage
		if s.Forecast != nil {
			v.Forecast = s.Forecast.Detail
		}
		v.Sensor = s.Evidence.MostSevereSensor()
		seen := map[string]bool{}
		for j := len(s.Evidence.Recent) - 1; j >= 0 && len(v.Reasons) < 3; j-- {
			if r := s.Evidence.Recent[j].Reason; r != "" && !seen[r] {
				seen[r] = true
				v.Reasons = append(v.Reasons, r)
			}
		}
		switch {
		case v.Sensor == "":
			v.ChartNote = "No evidence recorded yet."
			continue
		case i >= maxCharts:
			v.ChartNote = "Chart left out: too many open incidents on one page."
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c, err := u.evidenceChart(ctx, tenant, v.AssetID, v.ID, v.Sensor, s.Evidence, now)
			if err != nil {
				u.log().WarnContext(ctx, "operator page: evidence chart", "incident", v.ID, "error", err)
				v.ChartNote = "The chart could not be drawn right now."
				return
			}
			v.Chart = c.SVG()
		})
	}
	wg.Wait()
}

// evidenceChart gathers the sensor's readings around the incident (from
// 15 minutes before its first anomaly to now, or to 15 minutes after its
// last one when that was long ago; at most a day), its limits and its
// anomalies.
func (u *UI) evidenceChart(ctx context.Context, tenant, assetID, incidentID, sensorID string, ev incident.Evidence, now time.Time) (*chart, error) {
	to := now
	if now.Sub(ev.Last) > 6*time.Hour {
		to = ev.Last.Add(15 * time.Minute)
	}
	from := ev.First.Add(-15 * time.Minute)
	if to.Sub(from) > 24*time.Hour {
		from = to.Add(-24 * time.Hour)
	}
	sensor, err := u.DB.GetSensor(ctx, tenant, assetID, sensorID)
	if err != nil {
		return nil, err
	}
	c := &chart{ID: incidentID, Sensor: sensorID, Unit: sensor.Unit, From: from, To: to}
	for _, l := range []struct {
		label, kind string
		v           *float64
	}{{"alarm", "alarm", sensor.AlarmHigh}, {"warn", "warn", sensor.WarnHigh}, {"warn", "warn", sensor.WarnLow}, {"alarm", "alarm", sensor.AlarmLow}} {
		if l.v != nil {
			c.Limits = append(c.Limits, limit{Label: l.label, Value: *l.v, Kind: l.kind})
		}
	}
	for _, a := range ev.Recent {
		if a.SensorID == sensorID {
			c.Anomalies = append(c.Anomalies, store.Point{TS: a.TS, Value: a.Value})
		}
	}
	q := store.ReadingsQuery{AssetID: assetID, SensorIDs: []string{sensorID}, From: from, To: to, Limit: chartReadings}
	series, err := u.DB.QueryReadings(ctx, tenant, q)
	if err != nil {
		return nil, err
	}
	if len(series) == 1 && series[0].Truncated {
		q.Step = max(time.Second, (to.Sub(from) / chartBuckets).Truncate(time.Second))
		q.Limit = 2 * chartBuckets
		if series, err = u.DB.QueryReadings(ctx, tenant, q); err != nil {
			return nil, err
		}
	}
	if len(series) == 1 {
		c.Points = series[0].Points
		if q.Step > 0 {
			c.Bands = series[0].Buckets
			c.Points = make([]store.Point, len(c.Bands))
			for i, k := range c.Bands {
				c.Points[i] = store.Point{TS: k.TS, Value: k.Mean}
			}
		}
	}
	c.fitTime()
	return c, nil
}
