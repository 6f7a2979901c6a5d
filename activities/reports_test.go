package activities_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestReportActivities runs the report activities in workflow order on a
// real database, retries included: every step can run twice and the stored
// report is the same.
func TestReportActivities(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "idle")
	to := time.Now().UTC().Truncate(time.Hour)
	var rows []store.Reading
	for _, id := range []string{"mill-1", "mill-2", "mill-3"} {
		if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: id, Type: "mill"}); err != nil {
			t.Fatal(err)
		}
		s, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: id, ID: "torque", Unit: "Nm"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 60 {
			rows = append(rows, store.Reading{TenantID: "acme", SensorKey: s.Key, TS: to.Add(-time.Duration(i) * time.Minute), Value: 40 + float64(i%7)})
		}
	}
	if err := db.WriteReadings(ctx, nil, rows); err != nil {
		t.Fatal(err)
	}

	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestActivityEnvironment()
	a := &activities.Reports{DB: db, Store: &report.Store{DB: db}}
	env.RegisterActivity(a)

	id := uuid.NewString()
	in := activities.ReportInput{ReportID: id, TenantID: "acme", WorkflowID: "report/acme/" + id, From: to.Add(-2 * time.Hour), To: to.Add(time.Hour),
		Trigger: report.TriggerSchedule, RequestedBy: "schedule"}
	for range 2 {
		if _, err := env.ExecuteActivity(a.BeginReport, in); err != nil {
			t.Fatal(err)
		}
	}
	var out activities.ComputeOutput
	for range 2 {
		v, err := env.ExecuteActivity(a.ComputeKPIs, in)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Get(&out); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(out.Assets, []string{"mill-1", "mill-2", "mill-3"}) || out.Summary.Assets != 3 {
		t.Errorf("computed = %+v", out)
	}

	charts := activities.ChartsInput{ReportID: id, TenantID: "acme", From: in.From, To: in.To, Assets: out.Assets}
	// A retry after mill-1 was stored resumes with mill-2.
	env.SetHeartbeatDetails(1)
	v, err := env.ExecuteActivity(a.RenderAssetCharts, charts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	if err := v.Get(&names); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"asset.mill-1", "asset.mill-2", "asset.mill-3"}) {
		t.Errorf("names = %v", names)
	}
	st := &report.Store{DB: db}
	if _, err := st.Chart(ctx, "acme", id, "asset.mill-1", report.PNG); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the resumed attempt rendered mill-1 again: %v", err)
	}
	for _, name := range []string{"asset.mill-2", "asset.mill-3"} {
		for _, f := range report.Formats {
			if b, err := st.Chart(ctx, "acme", id, name, f); err != nil || len(b) < 1000 {
				t.Errorf("%s.%s: %d bytes, %v", name, f, len(b), err)
			}
		}
	}

	v, err = env.ExecuteActivity(a.RenderSummaryCharts, charts)
	if err != nil {
		t.Fatal(err)
	}
	var summary []string
	if err := v.Get(&summary); err != nil || !slices.Equal(summary, []string{report.IncidentsChartName}) {
		t.Errorf("summary charts = %v, %v", summary, err)
	}
	all := append(summary, names...)
	if _, err := env.ExecuteActivity(a.FinishReport, activities.FinishInput{ReportID: id, TenantID: "acme", Charts: all}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.ExecuteActivity(a.FailReport, activities.FailInput{ReportID: id, TenantID: "acme", Error: "late"}); err != nil {
		t.Fatal(err)
	}
	m, _, err := st.Get(ctx, "acme", id)
	if err != nil || m.Status != report.StatusDone || !slices.Equal(m.Charts, all) || m.Trigger != report.TriggerSchedule {
		t.Errorf("stored report = %+v, %v", m, err)
	}

	v, err = env.ExecuteActivity(a.ReportTenants)
	if err != nil {
		t.Fatal(err)
	}
	var tenants []string
	if err := v.Get(&tenants); err != nil || !slices.Equal(tenants, []string{"acme"}) {
		t.Errorf("report tenants = %v, %v; want acme only (idle has no assets)", tenants, err)
	}

	bad := in
	bad.ReportID, bad.To = uuid.NewString(), in.From
	_, err = env.ExecuteActivity(a.BeginReport, bad)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrInvalidReport || !appErr.NonRetryable() {
		t.Errorf("bad window: %v, want a non-retryable %s", err, activities.ErrInvalidReport)
	}
}
