package report_test

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// window is TestCompute's window: the two weeks from t0.
var window = report.Window{From: t0, To: t0.Add(14 * day)}

func TestCompute(t *testing.T) {
	db, _ := testenv.DB(t)
	plant(t, db)
	r, err := report.Compute(context.Background(), db, "acme", report.Query{Window: window})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Assets) != 2 || r.Assets[0].AssetID != "mill-1" || r.Assets[1].AssetID != "pump-2" {
		t.Fatalf("assets = %+v, want mill-1 and pump-2 (new-3 was created after the window)", r.Assets)
	}
	mill, pump, tot := r.Assets[0].KPIs, r.Assets[1].KPIs, r.Totals

	// See plant for where each number comes from.
	figures := []struct {
		name      string
		got, want any
	}{
		{"mill incidents", mill.Incidents, report.IncidentCounts{Opened: 6, Open: 0, Decided: 5, Approved: 3, FalsePositives: 2,
			ByStatus:     map[string]int{"resolved": 2, "closed": 4},
			ByResolution: map[string]int{"resolved": 2, "rejected": 1, "false_positive": 1, "below_policy": 1, "cancelled": 1}}},
		{"mill false-positive rate", mill.FalsePositiveRate, ptr(0.4)},
		{"mill failures", mill.Failures, 2},
		{"mill downtime", mill.DowntimeHours, 29.0},
		{"mill operating", mill.OperatingHours, 336.0 - 29},
		{"mill MTBF", mill.MTBFHours, ptr(307.0 / 2)},
		{"mill repairs", mill.Repairs, 3},
		{"mill MTTR", mill.MTTRHours, ptr(2.0)},
		{"mill restores", mill.Restores, 2},
		{"mill time to restore", mill.MeanTimeToRestoreHours, ptr(3.5)},
		{"mill work orders", mill.WorkOrders, report.WorkOrderCounts{Created: 7, Done: 3, Cancelled: 1, DoneLate: 1, OpenOverdue: 1, Late: 2, PlannedLate: 1}},
		{"mill anomalies", mill.Anomalies, map[string]int{"major": 1, "critical": 1}},

		{"pump incidents", pump.Incidents, report.IncidentCounts{Opened: 2, Open: 1, Decided: 2, Approved: 1, FalsePositives: 1,
			ByStatus: map[string]int{"scheduled": 1, "closed": 1}, ByResolution: map[string]int{"rejected": 1}}},
		{"pump false-positive rate", pump.FalsePositiveRate, ptr(0.5)},
		{"pump operating (created mid-window, an hour serviced)", pump.OperatingHours, 167.0},
		{"pump MTBF without failures", pump.MTBFHours, (*float64)(nil)},
		{"pump MTTR without repairs", pump.MTTRHours, (*float64)(nil)},
		{"pump work orders", pump.WorkOrders, report.WorkOrderCounts{Created: 3, Done: 1, OpenOverdue: 2, Late: 2, PreventiveDue: 2, PreventiveOnTime: 1}},
		{"pump repairs (preventive work is not one)", pump.Repairs, 0},
		{"pump PM compliance", pump.PMCompliance, ptr(0.5)},
		{"mill PM compliance without preventive work", mill.PMCompliance, (*float64)(nil)},

		{"total opened", tot.Incidents.Opened, 8},
		{"total false-positive rate", tot.FalsePositiveRate, ptr(3.0 / 7)},
		{"total MTBF", tot.MTBFHours, ptr((307.0 + 167) / 2)},
		{"total MTTR", tot.MTTRHours, ptr(2.0)},
		{"total time to restore", tot.MeanTimeToRestoreHours, ptr(3.5)},
		{"total work orders", tot.WorkOrders, report.WorkOrderCounts{Created: 10, Done: 4, Cancelled: 1, DoneLate: 1, OpenOverdue: 3, Late: 4, PlannedLate: 1,
			PreventiveDue: 2, PreventiveOnTime: 1}},
		{"total PM compliance", tot.PMCompliance, ptr(0.5)},
		{"total anomalies", tot.Anomalies, map[string]int{"major": 1, "critical": 1, "warning": 1}},
		{"total by resolution", tot.Incidents.ByResolution, map[string]int{"resolved": 2, "rejected": 2, "false_positive": 1, "below_policy": 1, "cancelled": 1}},

		{"weeks", r.IncidentsByWeek, []report.WeekIncidents{
			{Start: t0, Counts: map[string]int{"resolved": 1, "rejected": 1, "false_positive": 1}},
			{Start: t0.Add(7 * day), Counts: map[string]int{"resolved": 1, "below_policy": 1, "cancelled": 1, "open": 1, "rejected": 1}},
		}},
	}
	for _, f := range figures {
		if !equal(f.got, f.want) {
			t.Errorf("%s = %s, want %s", f.name, show(f.got), show(f.want))
		}
	}

	torque := r.Assets[0].Sensors[1]
	if torque.SensorID != "torque" || torque.Count != 336 || *torque.Min != 40 || *torque.Max != 49 || !approx(*torque.Mean, 14940.0/336) {
		t.Errorf("torque stats = %s, want 336 readings from 40 to 49, mean %g", show(torque), 14940.0/336)
	}
	if temp := r.Assets[1].Sensors[0]; temp.Count != 2 || *temp.Mean != 305 {
		t.Errorf("temp stats = %s", show(temp))
	}

	if len(r.Models) != 1 {
		t.Fatalf("models = %s", show(r.Models))
	}
	m := r.Models[0]
	if len(m.Versions) != 2 || m.Versions[1].Version != 2 || m.Versions[1].Metrics["roc_auc_failures"] != 0.85 || !m.Versions[0].CreatedAt.Equal(t0.Add(-10*day)) {
		t.Errorf("versions = %s, want v1 and v2 (v3 came after the window)", show(m.Versions))
	}
	if len(m.AliasEvents) != 2 || m.AliasEvents[1].From != 1 || m.AliasEvents[1].To != 2 {
		t.Errorf("alias events = %s", show(m.AliasEvents))
	}

	// The document survives JSON, as the store keeps it.
	raw, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back report.Report
	if err := json.Unmarshal(raw, &back); err != nil || !equal(back.Totals, r.Totals) {
		t.Errorf("JSON round trip: %v\n%s\n%s", err, show(back.Totals), show(r.Totals))
	}
}

func TestComputeFilterAndTenants(t *testing.T) {
	db, _ := testenv.DB(t)
	plant(t, db)
	ctx := context.Background()
	tests := []struct {
		tenant  string
		assets  []string
		want    []string
		opened  int
		overdue int
	}{
		{"acme", []string{"pump-2"}, []string{"pump-2"}, 2, 2},
		{"acme", []string{"pump-2", "new-3", "nope"}, []string{"pump-2"}, 2, 2},
		{"rival", nil, []string{"mill-1"}, 1, 1},
		{"nobody", nil, []string{}, 0, 0},
	}
	for _, tt := range tests {
		r, err := report.Compute(ctx, db, tt.tenant, report.Query{Window: window, Assets: tt.assets})
		if err != nil {
			t.Fatal(err)
		}
		ids := []string{}
		for _, a := range r.Assets {
			ids = append(ids, a.AssetID)
		}
		if !reflect.DeepEqual(ids, tt.want) || r.Totals.Incidents.Opened != tt.opened || r.Totals.WorkOrders.OpenOverdue != tt.overdue {
			t.Errorf("%s %v: assets %v, %d opened, %d overdue; want %v, %d, %d", tt.tenant, tt.assets, ids,
				r.Totals.Incidents.Opened, r.Totals.WorkOrders.OpenOverdue, tt.want, tt.opened, tt.overdue)
		}
		if tt.tenant != "acme" && len(r.Models) != 0 {
			t.Errorf("%s sees models %s", tt.tenant, show(r.Models))
		}
	}
}

func TestWindowValidate(t *testing.T) {
	tests := []struct {
		name string
		w    report.Window
		ok   bool
	}{
		{"week", report.Window{From: t0, To: t0.Add(7 * day)}, true},
		{"year", report.Window{From: t0, To: t0.Add(report.MaxWindow)}, true},
		{"too long", report.Window{From: t0, To: t0.Add(report.MaxWindow + time.Second)}, false},
		{"reversed", report.Window{From: t0, To: t0.Add(-time.Hour)}, false},
		{"empty", report.Window{From: t0, To: t0}, false},
		{"no start", report.Window{To: t0}, false},
	}
	for _, tt := range tests {
		if err := tt.w.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func approx(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// equal compares through JSON (so *float64 compare by value) with float
// tolerance.
func equal(a, b any) bool {
	var x, y any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	json.Unmarshal(ja, &x)
	json.Unmarshal(jb, &y)
	return near(x, y)
}

func near(x, y any) bool {
	switch xv := x.(type) {
	case float64:
		yv, ok := y.(float64)
		return ok && approx(xv, yv)
	case map[string]any:
		yv, ok := y.(map[string]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for k := range xv {
			if !near(xv[k], yv[k]) {
				return false
			}
		}
		return true
	case []any:
		yv, ok := y.([]any)
		if !ok || len(xv) != len(yv) {
			return false
		}
		for i := range xv {
			if !near(xv[i], yv[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(x, y)
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
