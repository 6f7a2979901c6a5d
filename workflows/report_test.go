package workflows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/report"
)

// reportEnv runs Report against recorded fake activities: these tests check
// the workflow's steps; internal/report's tests and the end-to-end test
// check what the activities compute.
type reportEnv struct {
	*testsuite.TestWorkflowEnvironment
	mu         sync.Mutex
	assets     []string
	computeErr error
	chartErrs  []error // returned by successive RenderAssetCharts calls
	batches    [][]string
	finished   []activities.FinishInput
	failed     []activities.FailInput
	notified   []activities.NotifyInput
	begun      []activities.ReportInput
}

var reportSummary = report.Summary{Assets: 23, IncidentsOpened: 8, MTBFHours: new(237.5), WorkOrdersLate: 3}

func newReportEnv(t *testing.T) *reportEnv {
	e := &reportEnv{TestWorkflowEnvironment: newTestEnv()}
	for i := range 23 {
		e.assets = append(e.assets, fmt.Sprintf("a%02d", i))
	}
	e.RegisterWorkflow(Report)
	var a *activities.Reports
	var n *activities.Notifications
	e.RegisterActivity(a)
	e.RegisterActivity(n)
	e.OnActivity(a.BeginReport, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ReportInput) error {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.begun = append(e.begun, in)
		return nil
	})
	e.OnActivity(a.ComputeKPIs, mock.Anything, mock.Anything).Return(func(context.Context, activities.ReportInput) (activities.ComputeOutput, error) {
		return activities.ComputeOutput{Summary: reportSummary, Assets: e.assets}, e.computeErr
	})
	e.OnActivity(a.RenderSummaryCharts, mock.Anything, mock.Anything).Return(func(context.Context, activities.ChartsInput) ([]string, error) {
		return []string{report.IncidentsChartName, "model.m"}, nil
	})
	e.OnActivity(a.RenderAssetCharts, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ChartsInput) ([]string, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.chartErrs) > 0 {
			err := e.chartErrs[0]
			e.chartErrs = e.chartErrs[1:]
			return nil, err
		}
		e.batches = append(e.batches, in.Assets)
		names := make([]string, len(in.Assets))
		for i, id := range in.Assets {
			names[i] = report.AssetChartName(id)
		}
		return names, nil
	})
	e.OnActivity(a.FinishReport, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FinishInput) error {
		e.finished = append(e.finished, in)
		return nil
	})
	e.OnActivity(a.FailReport, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FailInput) error {
		e.failed = append(e.failed, in)
		return nil
	})
	e.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NotifyInput) (activities.NotifyResult, error) {
		e.notified = append(e.notified, in)
		return activities.NotifyResult{Key: in.Key}, nil
	})
	return e
}

var reportIn = ReportInput{ReportID: "0b5e2a8e-4d4c-4a43-9a8e-2f7f4f1c9d11", TenantID: "acme",
	From: time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC), To: time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC),
	Trigger: report.TriggerAPI, RequestedBy: "api key ops", Notify: true}

func TestReport(t *testing.T) {
	e := newReportEnv(t)
	e.ExecuteWorkflow(Report, reportIn)
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res ReportResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	want := []string{report.IncidentsChartName, "model.m"}
	for _, id := range e.assets {
		want = append(want, report.AssetChartName(id))
	}
	if res.Status != report.StatusDone || !slices.Equal(res.Charts, want) || res.Summary.IncidentsOpened != 8 || res.Notified == nil {
		t.Errorf("result = %+v", res)
	}
	if len(e.begun) != 1 || e.begun[0].ReportID != reportIn.ReportID || e.begun[0].Trigger != report.TriggerAPI {
		t.Errorf("begun = %+v", e.begun)
	}
	var sizes []int
	for _, b := range e.batches {
		sizes = append(sizes, len(b))
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{3, 10, 10}) {
		t.Errorf("asset chart batches of %v, want 10, 10 and 3", sizes)
	}
	if len(e.finished) != 1 || !slices.Equal(e.finished[0].Charts, want) {
		t.Errorf("finished = %+v", e.finished)
	}
	if len(e.notified) != 1 {
		t.Fatalf("notified %d times", len(e.notified))
	}
	n := e.notified[0]
	if n.Key != "report/"+reportIn.ReportID || n.Severity != "info" || n.TenantID != "acme" ||
		!strings.Contains(n.Text, "MTBF: 237.5 h") || !strings.Contains(n.Text, "/api/v1/reports/"+reportIn.ReportID+".csv") {
		t.Errorf("notification = %+v", n)
	}
	if len(e.failed) != 0 {
		t.Errorf("failed = %+v", e.failed)
	}
}

func TestReportWithoutNotification(t *testing.T) {
	e := newReportEnv(t)
	e.assets = nil
	in := reportIn
	in.Notify = false
	e.ExecuteWorkflow(Report, in)
	var res ReportResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != report.StatusDone || len(res.Charts) != 2 || len(e.batches) != 0 || len(e.notified) != 0 || res.Notified != nil {
		t.Errorf("result = %+v, %d batches, %d notifications", res, len(e.batches), len(e.notified))
	}
}

func TestReportRetriesCharts(t *testing.T) {
	e := newReportEnv(t)
	e.chartErrs = []error{errors.New("database restarting"), errors.New("database restarting")}
	e.ExecuteWorkflow(Report, reportIn)
	var res ReportResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != report.StatusDone || len(res.Charts) != 25 || len(e.failed) != 0 {
		t.Errorf("result = %+v, failed %+v", res, e.failed)
	}
}

func TestReportFailure(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		attempts bool
		want     string
	}{
		{"compute keeps failing", errors.New("database away"), true, "compute KPIs: database away"},
		{"invalid window", temporal.NewNonRetryableApplicationError("bad window", activities.ErrInvalidReport, nil), false, "compute KPIs: bad window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newReportEnv(t)
			e.computeErr = tt.err
			e.ExecuteWorkflow(Report, reportIn)
			err := e.GetWorkflowError()
			if err == nil || !strings.Contains(err.Error(), "compute KPIs") {
				t.Fatalf("workflow error = %v", err)
			}
			if len(e.failed) != 1 || e.failed[0].Error != tt.want || e.failed[0].ReportID != reportIn.ReportID {
				t.Errorf("failed = %+v, want %q", e.failed, tt.want)
			}
			if len(e.finished) != 0 || len(e.notified) != 0 {
				t.Errorf("a failed report was finished (%d) or announced (%d)", len(e.finished), len(e.notified))
			}
		})
	}
}

func TestScheduledReports(t *testing.T) {
	e := newTestEnv()
	e.RegisterWorkflow(ScheduledReports)
	e.RegisterWorkflow(Report)
	var a *activities.Reports
	e.RegisterActivity(a)
	// A Thursday: the last whole week ended on Monday 2025-03-03.
	e.SetStartTime(time.Date(2025, 3, 6, 10, 30, 0, 0, time.UTC))
	e.OnActivity(a.ReportTenants, mock.Anything).Return([]string{"acme", "beta"}, nil)
	var mu sync.Mutex
	var runs []ReportInput
	e.OnWorkflow(Report, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in ReportInput) (ReportResult, error) {
		mu.Lock()
		runs = append(runs, in)
		mu.Unlock()
		if id := workflow.GetInfo(ctx).WorkflowExecution.ID; id != ReportWorkflowID(in.TenantID, in.ReportID) {
			return ReportResult{}, fmt.Errorf("workflow id %s", id)
		}
		if in.TenantID == "beta" {
			return ReportResult{}, temporal.NewNonRetryableApplicationError("database away", "x", nil)
		}
		return ReportResult{ReportID: in.ReportID, Status: report.StatusDone}, nil
	})
	e.ExecuteWorkflow(ScheduledReports, ScheduledReportsInput{Interval: 7 * 24 * time.Hour})
	var res ScheduledReportsResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2025, 2, 24, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	if !res.From.Equal(from) || !res.To.Equal(to) {
		t.Errorf("window %s to %s, want Monday to Monday %s to %s", res.From, res.To, from, to)
	}
	if len(res.Reports) != 2 || res.Reports[0].Status != report.StatusDone || res.Reports[1].Status != report.StatusFailed ||
		!strings.Contains(res.Reports[1].Error, "database away") {
		t.Errorf("reports = %+v", res.Reports)
	}
	if len(runs) != 2 {
		t.Fatalf("runs = %+v", runs)
	}
	for _, in := range runs {
		if in.ReportID != ScheduledReportID(in.TenantID, from, to) || !in.Notify || in.Trigger != report.TriggerSchedule ||
			!in.From.Equal(from) || !in.To.Equal(to) || len(in.Assets) != 0 {
			t.Errorf("report input = %+v", in)
		}
	}
}

func TestScheduledReportsRejectsZeroInterval(t *testing.T) {
	e := newTestEnv()
	e.RegisterWorkflow(ScheduledReports)
	e.ExecuteWorkflow(ScheduledReports, ScheduledReportsInput{})
	if err := e.GetWorkflowError(); err == nil || !strings.Contains(err.Error(), "interval") {
		t.Errorf("err = %v", err)
	}
}

func TestScheduledReportID(t *testing.T) {
	from, to := time.Date(2025, 2, 24, 0, 0, 0, 0, time.UTC), time.Date(2025, 3, 3, 0, 0, 0, 0, time.UTC)
	id := ScheduledReportID("acme", from, to)
	if id != ScheduledReportID("acme", from.In(time.FixedZone("CET", 3600)), to) {
		t.Errorf("the id depends on the time zone")
	}
	for _, other := range []string{ScheduledReportID("beta", from, to), ScheduledReportID("acme", from.Add(time.Hour), to), ScheduledReportID("acme", from, to.Add(time.Hour))} {
		if other == id {
			t.Errorf("two different reports share the id %s", id)
		}
	}
}
