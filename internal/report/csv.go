package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
)

// CSVHeader is the first row of a report's CSV.
var CSVHeader = []string{"scope", "subject", "metric", "value", "unit", "at"}

// WriteCSV writes r in long form, one figure a row, under CSVHeader:
//
//   - scope "report": window_from, window_to and computed_at of the tenant;
//   - scope "tenant" (subject the tenant) and "asset" (subject the asset
//     id): every KPI, with counts by status, resolution and severity as
//     incidents_status_<s>, incidents_resolution_<r> and anomalies_<sev>;
//   - scope "sensor" (subject asset/sensor): count, mean, min and max;
//   - scope "week" (at the week's start): incidents_<state> per state;
//   - scope "model" (subject name@version, at its creation): each metric;
//   - scope "alias" (subject the model, at the move): the alias as metric
//     and the version it moved to as value (empty when removed).
//
// Undefined ratios (no decided incidents, no failures) are empty values.
// Maps are written in key order, so the output depends only on r.
func WriteCSV(w io.Writer, r *Report) error {
	cw := csv.NewWriter(w)
	row := func(scope, subject, metric, value, unit string, at time.Time) {
		ts := ""
		if !at.IsZero() {
			ts = at.UTC().Format(time.RFC3339Nano)
		}
		cw.Write([]string{scope, subject, metric, value, unit, ts})
	}
	cw.Write(CSVHeader)
	row("report", r.TenantID, "window_from", r.From.UTC().Format(time.RFC3339Nano), "time", time.Time{})
	row("report", r.TenantID, "window_to", r.To.UTC().Format(time.RFC3339Nano), "time", time.Time{})
	row("report", r.TenantID, "computed_at", r.ComputedAt.UTC().Format(time.RFC3339Nano), "time", time.Time{})
	writeKPIs(row, "tenant", r.TenantID, r.Totals)
	for _, a := range r.Assets {
		writeKPIs(row, "asset", a.AssetID, a.KPIs)
		for _, s := range a.Sensors {
			subject := a.AssetID + "/" + s.SensorID
			row("sensor", subject, "count", strconv.FormatInt(s.Count, 10), "count", time.Time{})
			row("sensor", subject, "mean", number(s.Mean), s.Unit, time.Time{})
			row("sensor", subject, "min", number(s.Min), s.Unit, time.Time{})
			row("sensor", subject, "max", number(s.Max), s.Unit, time.Time{})
		}
	}
	for _, wk := range r.IncidentsByWeek {
		for _, state := range IncidentStates {
			row("week", r.TenantID, "incidents_"+state, strconv.Itoa(wk.Counts[state]), "count", wk.Start)
		}
	}
	for _, m := range r.Models {
		for _, v := range m.Versions {
			for _, k := range sortedKeys(v.Metrics) {
				row("model", fmt.Sprintf("%s@%d", m.Name, v.Version), k, strconv.FormatFloat(v.Metrics[k], 'g', -1, 64), "", v.CreatedAt)
			}
		}
		for _, e := range m.AliasEvents {
			to := ""
			if e.To > 0 {
				to = strconv.Itoa(e.To)
			}
			row("alias", m.Name, e.Alias, to, "version", e.At)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report: write csv: %w", err)
	}
	return nil
}

func writeKPIs(row func(scope, subject, metric, value, unit string, at time.Time), scope, subject string, k KPIs) {
	count := func(metric string, n int) { row(scope, subject, metric, strconv.Itoa(n), "count", time.Time{}) }
	c := k.Incidents
	count("incidents_opened", c.Opened)
	count("incidents_open", c.Open)
	count("incidents_decided", c.Decided)
	count("incidents_approved", c.Approved)
	count("incidents_false_positives", c.FalsePositives)
	for _, s := range sortedKeys(c.ByStatus) {
		count("incidents_status_"+s, c.ByStatus[s])
	}
	for _, s := range sortedKeys(c.ByResolution) {
		count("incidents_resolution_"+s, c.ByResolution[s])
	}
	row(scope, subject, "false_positive_rate", number(k.FalsePositiveRate), "ratio", time.Time{})
	row(scope, subject, "operating_hours", number(&k.OperatingHours), "h", time.Time{})
	row(scope, subject, "downtime_hours", number(&k.DowntimeHours), "h", time.Time{})
	count("failures", k.Failures)
	row(scope, subject, "mtbf_hours", number(k.MTBFHours), "h", time.Time{})
	count("repairs", k.Repairs)
	row(scope, subject, "mttr_hours", number(k.MTTRHours), "h", time.Time{})
	count("restores", k.Restores)
	row(scope, subject, "mean_time_to_restore_hours", number(k.MeanTimeToRestoreHours), "h", time.Time{})
	wo := k.WorkOrders
	count("work_orders_created", wo.Created)
	count("work_orders_done", wo.Done)
	count("work_orders_cancelled", wo.Cancelled)
	count("work_orders_done_late", wo.DoneLate)
	count("work_orders_open_overdue", wo.OpenOverdue)
	count("work_orders_late", wo.Late)
	count("work_orders_planned_late", wo.PlannedLate)
	count("work_orders_preventive_due", wo.PreventiveDue)
	count("work_orders_preventive_on_time", wo.PreventiveOnTime)
	row(scope, subject, "pm_compliance", number(k.PMCompliance), "ratio", time.Time{})
	for _, s := range sortedKeys(k.Anomalies) {
		count("anomalies_"+s, k.Anomalies[s])
	}
}

func number(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'g', -1, 64)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
