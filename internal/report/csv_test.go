package report_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/report"
)

func TestWriteCSV(t *testing.T) {
	kpis := report.KPIs{
		Incidents: report.IncidentCounts{Opened: 3, Decided: 2, Approved: 1, FalsePositives: 1,
			ByStatus: map[string]int{"resolved": 1, "closed": 2}, ByResolution: map[string]int{"resolved": 1, "rejected": 1, "below_policy": 1}},
		FalsePositiveRate: ptr(0.5), OperatingHours: 160, DowntimeHours: 8, Failures: 1, MTBFHours: ptr(160.0),
		Repairs: 1, MTTRHours: ptr(1.5), WorkOrders: report.WorkOrderCounts{Created: 2, Done: 1, DoneLate: 1, Late: 1},
		Anomalies: map[string]int{"major": 2},
	}
	r := &report.Report{
		TenantID: "acme", Window: report.Window{From: t0, To: t0.Add(7 * day)}, ComputedAt: t0.Add(7 * day),
		Totals:          kpis,
		Assets:          []report.AssetReport{{AssetID: "mill,1", KPIs: kpis, Sensors: []report.SensorStats{{SensorID: "torque", Unit: "Nm", Count: 2, Mean: ptr(41.25), Min: ptr(40.0), Max: ptr(42.5)}}}},
		IncidentsByWeek: []report.WeekIncidents{{Start: t0, Counts: map[string]int{"resolved": 1, "rejected": 1, "below_policy": 1}}},
		Models: []report.ModelHistory{{Name: "iforest-mill",
			Versions:    []report.ModelVersion{{Version: 2, CreatedAt: t0, Metrics: map[string]float64{"roc_auc_failures": 0.85, "anomaly_rate": 0.035}}},
			AliasEvents: []report.AliasMove{{Alias: "champion", From: 1, To: 2, At: t0.Add(day)}, {Alias: "challenger", From: 2, At: t0.Add(day)}}}},
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, r); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%s", err, buf.String())
	}
	if strings.Join(rows[0], ",") != "scope,subject,metric,value,unit,at" {
		t.Errorf("header = %v", rows[0])
	}
	find := func(scope, subject, metric string) []string {
		for _, row := range rows {
			if row[0] == scope && row[1] == subject && row[2] == metric {
				return row
			}
		}
		return nil
	}
	tests := []struct {
		scope, subject, metric string
		value, unit, at        string
	}{
		{"report", "acme", "window_from", "2025-03-03T00:00:00Z", "time", ""},
		{"tenant", "acme", "incidents_opened", "3", "count", ""},
		{"tenant", "acme", "false_positive_rate", "0.5", "ratio", ""},
		{"tenant", "acme", "mtbf_hours", "160", "h", ""},
		{"tenant", "acme", "mean_time_to_restore_hours", "", "h", ""},
		{"tenant", "acme", "incidents_resolution_below_policy", "1", "count", ""},
		{"tenant", "acme", "work_orders_late", "1", "count", ""},
		{"tenant", "acme", "anomalies_major", "2", "count", ""},
		{"asset", "mill,1", "mttr_hours", "1.5", "h", ""},
		{"sensor", "mill,1/torque", "mean", "41.25", "Nm", ""},
		{"week", "acme", "incidents_rejected", "1", "count", "2025-03-03T00:00:00Z"},
		{"week", "acme", "incidents_open", "0", "count", "2025-03-03T00:00:00Z"},
		{"model", "iforest-mill@2", "roc_auc_failures", "0.85", "", "2025-03-03T00:00:00Z"},
		{"alias", "iforest-mill", "champion", "2", "version", "2025-03-04T00:00:00Z"},
		{"alias", "iforest-mill", "challenger", "", "version", "2025-03-04T00:00:00Z"},
	}
	for _, tt := range tests {
		row := find(tt.scope, tt.subject, tt.metric)
		if row == nil {
			t.Errorf("no row %s/%s/%s", tt.scope, tt.subject, tt.metric)
			continue
		}
		if row[3] != tt.value || row[4] != tt.unit || row[5] != tt.at {
			t.Errorf("%s/%s/%s = %v, want value %q unit %q at %q", tt.scope, tt.subject, tt.metric, row, tt.value, tt.unit, tt.at)
		}
	}
	// Same report, same bytes.
	var again bytes.Buffer
	report.WriteCSV(&again, r)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Errorf("two writes of one report differ")
	}
}

func TestSummaryText(t *testing.T) {
	s := report.Summary{Assets: 2, IncidentsOpened: 8, FalsePositiveRate: ptr(3.0 / 7), MTBFHours: ptr(237.5), WorkOrdersLate: 3, PMCompliance: ptr(0.5)}
	want := "Assets: 2\nIncidents opened: 8\nFalse-positive rate: 42.9%\nMTBF: 237.5 h\nMTTR: n/a\nLate work orders: 3\nPM compliance: 50%"
	if got := s.Text(); got != want {
		t.Errorf("Text() =\n%s\nwant\n%s", got, want)
	}
}
