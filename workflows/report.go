package workflows

import (
	"fmt"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/report"
)

// ReportScheduleID is the Temporal Schedule that runs ScheduledReports.
const ReportScheduleID = "reports"

// ReportWorkflowID is the workflow id of a report.
func ReportWorkflowID(tenant, reportID string) string { return "report/" + tenant + "/" + reportID }

// reportNamespace derives the ids of scheduled reports.
var reportNamespace = uuid.MustParse("6f1d9a52-3c1e-4f0e-9a55-2a8f4b1c7d10")

// ScheduledReportID is the report id of tenant's scheduled report on
// [from, to): the same window always gets the same id, so a repeated
// schedule run cannot make a second report.
func ScheduledReportID(tenant string, from, to time.Time) string {
	return uuid.NewSHA1(reportNamespace, []byte(tenant+"|"+from.UTC().Format(time.RFC3339Nano)+"|"+to.UTC().Format(time.RFC3339Nano))).String()
}

// ReportInput asks for one report.
type ReportInput struct {
	ReportID string    `json:"report_id"`
	TenantID string    `json:"tenant_id"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	// Assets restricts the report; empty means every asset.
	Assets      []string `json:"assets,omitempty"`
	Trigger     string   `json:"trigger"`
	RequestedBy string   `json:"requested_by"`
	// Notify tells the tenant's channels when the report is ready.
	Notify bool `json:"notify,omitempty"`
}

// ReportResult is what a report run made.
type ReportResult struct {
	ReportID string                   `json:"report_id"`
	Status   string                   `json:"status"`
	Summary  report.Summary           `json:"summary"`
	Charts   []string                 `json:"charts"`
	Notified *activities.NotifyResult `json:"notified,omitempty"`
}

// reportChartBatch is how many asset charts one activity renders; the
// batches run in parallel.
const reportChartBatch = 10

// Report computes a report's KPIs, renders its charts, stores both and,
// when asked, tells the tenant's channels the report is ready (once:
// the notification's idempotency key is report/<id>). A failure after the
// retries marks the report failed. Started by the API with the id
// ReportWorkflowID and by ScheduledReports.
func Report(ctx workflow.Context, in ReportInput) (ReportResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    2 * time.Minute,
		RetryPolicy:         retryAttempts(5, activities.ErrInvalidReport),
	})
	res := ReportResult{ReportID: in.ReportID, Status: report.StatusRunning, Charts: []string{}}
	stage, err := makeReport(ctx, in, &res)
	if err != nil {
		res.Status = report.StatusFailed
		// Record the failure even when the run is being cancelled.
		dctx, _ := workflow.NewDisconnectedContext(ctx)
		var a *activities.Reports
		fin := activities.FailInput{ReportID: in.ReportID, TenantID: in.TenantID, Error: stage + ": " + errorText(err)}
		if ferr := workflow.ExecuteActivity(dctx, a.FailReport, fin).Get(dctx, nil); ferr != nil {
			workflow.GetLogger(ctx).Error("record report failure", "report", in.ReportID, "error", ferr)
		}
		return res, fmt.Errorf("%s: %w", stage, err)
	}
	res.Status = report.StatusDone
	if in.Notify {
		res.Notified = notifyReport(ctx, in, res.Summary)
	}
	return res, nil
}

// makeReport runs the report's steps; on failure it names the step.
func makeReport(ctx workflow.Context, in ReportInput, res *ReportResult) (stage string, err error) {
	var a *activities.Reports
	ain := activities.ReportInput{
		ReportID: in.ReportID, TenantID: in.TenantID, WorkflowID: workflow.GetInfo(ctx).WorkflowExecution.ID,
		From: in.From, To: in.To, Assets: in.Assets, Trigger: in.Trigger, RequestedBy: in.RequestedBy,
	}
	if err := workflow.ExecuteActivity(ctx, a.BeginReport, ain).Get(ctx, nil); err != nil {
		return "begin report", err
	}
	var computed activities.ComputeOutput
	if err := workflow.ExecuteActivity(ctx, a.ComputeKPIs, ain).Get(ctx, &computed); err != nil {
		return "compute KPIs", err
	}
	res.Summary = computed.Summary

	cin := activities.ChartsInput{ReportID: in.ReportID, TenantID: in.TenantID, From: in.From, To: in.To}
	summary := workflow.ExecuteActivity(ctx, a.RenderSummaryCharts, cin)
	var batches []workflow.Future
	for start := 0; start < len(computed.Assets); start += reportChartBatch {
		b := cin
		b.Assets = computed.Assets[start:min(start+reportChartBatch, len(computed.Assets))]
		batches = append(batches, workflow.ExecuteActivity(ctx, a.RenderAssetCharts, b))
	}
	var names []string
	if err := summary.Get(ctx, &names); err != nil {
		return "render charts", err
	}
	res.Charts = append(res.Charts, names...)
	for _, f := range batches {
		if err := f.Get(ctx, &names); err != nil {
			return "render asset charts", err
		}
		res.Charts = append(res.Charts, names...)
	}
	fin := activities.FinishInput{ReportID: in.ReportID, TenantID: in.TenantID, Charts: res.Charts}
	if err := workflow.ExecuteActivity(ctx, a.FinishReport, fin).Get(ctx, nil); err != nil {
		return "finish report", err
	}
	return "", nil
}

// notifyReport tells the tenant's channels that the report is ready. A
// failed notification leaves the report done.
func notifyReport(ctx workflow.Context, in ReportInput, s report.Summary) *activities.NotifyResult {
	var n *activities.Notifications
	msg := activities.NotifyInput{
		TenantID: in.TenantID, Key: "report/" + in.ReportID, Severity: "info",
		Subject: fmt.Sprintf("Report ready: %s, %s to %s", in.TenantID, in.From.UTC().Format("2006-01-02 15:04"), in.To.UTC().Format("2006-01-02 15:04 MST")),
		Text: fmt.Sprintf("The maintenance report %s is ready.\n\n%s\n\nJSON: /api/v1/reports/%s\nCSV: /api/v1/reports/%s.csv",
			in.ReportID, s.Text(), in.ReportID, in.ReportID),
	}
	var res activities.NotifyResult
	if err := workflow.ExecuteActivity(ctx, n.Notify, msg).Get(ctx, &res); err != nil {
		workflow.GetLogger(ctx).Warn("report notification failed", "report", in.ReportID, "error", err)
		return nil
	}
	return &res
}

// ScheduledReportsInput sets the scheduled reports' window length.
type ScheduledReportsInput struct {
	// Interval is the length of each report's window; the window ends at
	// the run's time truncated to a multiple of Interval (counted from
	// 0001-01-01 UTC: midnight for 24h, Monday 00:00 UTC for 168h).
	Interval time.Duration `json:"interval"`
}

// ScheduledReport is one tenant's report of a scheduled run.
type ScheduledReport struct {
	TenantID string `json:"tenant_id"`
	ReportID string `json:"report_id"`
	// Status is done or failed, or exists when the window's report was
	// made by an earlier run.
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// ScheduledReportsResult lists the reports of a scheduled run.
type ScheduledReportsResult struct {
	From    time.Time         `json:"from"`
	To      time.Time         `json:"to"`
	Reports []ScheduledReport `json:"reports"`
}

// ScheduledReports makes the report of the last whole interval for every
// tenant with assets, each a child Report that notifies the tenant's
// channels. Children run in parallel and outlive the run if it is
// terminated; one tenant's failure does not stop the others.
func ScheduledReports(ctx workflow.Context, in ScheduledReportsInput) (ScheduledReportsResult, error) {
	if in.Interval <= 0 {
		return ScheduledReportsResult{}, temporal.NewNonRetryableApplicationError("the report interval must be positive", activities.ErrInvalidReport, nil)
	}
	to := workflow.Now(ctx).UTC().Truncate(in.Interval)
	res := ScheduledReportsResult{From: to.Add(-in.Interval), To: to, Reports: []ScheduledReport{}}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         retryAttempts(5),
	})
	var a *activities.Reports
	var tenants []string
	if err := workflow.ExecuteActivity(actx, a.ReportTenants).Get(ctx, &tenants); err != nil {
		return res, fmt.Errorf("list tenants: %w", err)
	}
	futures := make([]workflow.ChildWorkflowFuture, len(tenants))
	for i, tenant := range tenants {
		id := ScheduledReportID(tenant, res.From, res.To)
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            ReportWorkflowID(tenant, id),
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		})
		futures[i] = workflow.ExecuteChildWorkflow(cctx, Report, ReportInput{
			ReportID: id, TenantID: tenant, From: res.From, To: res.To,
			Trigger: report.TriggerSchedule, RequestedBy: "schedule", Notify: true,
		})
		res.Reports = append(res.Reports, ScheduledReport{TenantID: tenant, ReportID: id})
	}
	for i, f := range futures {
		r := &res.Reports[i]
		var out ReportResult
		err := f.Get(ctx, &out)
		switch {
		case temporal.IsWorkflowExecutionAlreadyStartedError(err):
			r.Status = "exists"
		case err != nil:
			r.Status, r.Error = report.StatusFailed, errorText(err)
		default:
			r.Status = out.Status
		}
	}
	return res, nil
}
