package activities

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/store"
)

// ErrInvalidReport is the error type of report requests retrying cannot
// fix (a bad window).
const ErrInvalidReport = "InvalidReport"

// Reports computes a report's KPIs, renders its charts and stores both,
// keyed by the report id: a retried activity overwrites what the failed
// attempt wrote (see docs/REPORTS.md).
type Reports struct {
	DB    *store.DB
	Store *report.Store
}

// ReportInput names a report and what it covers.
type ReportInput struct {
	ReportID    string
	TenantID    string
	WorkflowID  string
	From, To    time.Time
	Assets      []string
	Trigger     string
	RequestedBy string
}

// BeginReport records the report as running unless it is recorded
// already (the API records the ones it starts).
func (a *Reports) BeginReport(ctx context.Context, in ReportInput) error {
	if err := (report.Window{From: in.From, To: in.To}).Validate(); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidReport, err)
	}
	_, err := a.Store.Create(ctx, report.Meta{
		ID: in.ReportID, TenantID: in.TenantID, WorkflowID: in.WorkflowID, Trigger: in.Trigger, RequestedBy: in.RequestedBy,
		Window: report.Window{From: in.From, To: in.To}, Assets: in.Assets,
	})
	return err
}

// ComputeOutput is what the workflow needs of a computed report.
type ComputeOutput struct {
	Summary report.Summary `json:"summary"`
	// Assets are the ids of the assets the report covers, to chart.
	Assets []string `json:"assets"`
}

// ComputeKPIs computes the report's document and stores it, replacing an
// earlier attempt's.
func (a *Reports) ComputeKPIs(ctx context.Context, in ReportInput) (ComputeOutput, error) {
	r, err := report.Compute(ctx, a.DB, in.TenantID, report.Query{Window: report.Window{From: in.From, To: in.To}, Assets: in.Assets})
	if err != nil {
		return ComputeOutput{}, err
	}
	if err := a.Store.SaveDocument(ctx, in.TenantID, in.ReportID, r); err != nil {
		return ComputeOutput{}, err
	}
	out := ComputeOutput{Summary: r.Summary(), Assets: make([]string, len(r.Assets))}
	for i, as := range r.Assets {
		out.Assets[i] = as.AssetID
	}
	return out, nil
}

// ChartsInput asks for some of a report's charts.
type ChartsInput struct {
	ReportID string
	TenantID string
	From, To time.Time
	// Assets are the assets to chart (RenderAssetCharts).
	Assets []string
}

// RenderAssetCharts renders and stores the chart of each asset, in PNG
// and SVG, and returns the chart names. It heartbeats after each asset; a
// retry resumes after the last asset stored.
func (a *Reports) RenderAssetCharts(ctx context.Context, in ChartsInput) ([]string, error) {
	w := report.Window{From: in.From, To: in.To}
	done := 0
	if activity.HasHeartbeatDetails(ctx) {
		_ = activity.GetHeartbeatDetails(ctx, &done)
	}
	names := make([]string, len(in.Assets))
	for i, id := range in.Assets {
		names[i] = report.AssetChartName(id)
		if i < done {
			continue
		}
		d, err := report.LoadAssetData(ctx, a.DB, in.TenantID, id, w)
		if err != nil {
			return nil, err
		}
		out, err := report.AssetChart(d).RenderAll()
		if err != nil {
			return nil, err
		}
		if err := a.Store.SaveCharts(ctx, in.TenantID, in.ReportID, out); err != nil {
			return nil, err
		}
		activity.RecordHeartbeat(ctx, i+1)
	}
	return names, nil
}

// RenderSummaryCharts renders and stores the charts drawn from the stored
// document: incidents by week and each model's metrics.
func (a *Reports) RenderSummaryCharts(ctx context.Context, in ChartsInput) ([]string, error) {
	r, err := a.Store.Document(ctx, in.TenantID, in.ReportID)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range report.SummaryCharts(r) {
		out, err := c.RenderAll()
		if err != nil {
			return nil, err
		}
		if err := a.Store.SaveCharts(ctx, in.TenantID, in.ReportID, out); err != nil {
			return nil, err
		}
		names = append(names, c.Name)
	}
	return names, nil
}

// FinishInput completes a report.
type FinishInput struct {
	ReportID string
	TenantID string
	Charts   []string
}

// FinishReport marks the report done with its chart names.
func (a *Reports) FinishReport(ctx context.Context, in FinishInput) error {
	return a.Store.Finish(ctx, in.TenantID, in.ReportID, in.Charts)
}

// FailInput records why a report failed.
type FailInput struct {
	ReportID string
	TenantID string
	Error    string
}

// FailReport marks the report failed (a done report stays done).
func (a *Reports) FailReport(ctx context.Context, in FailInput) error {
	return a.Store.Fail(ctx, in.TenantID, in.ReportID, in.Error)
}

// ReportTenants lists the tenants that have assets: those the report
// schedule makes reports for.
func (a *Reports) ReportTenants(ctx context.Context) ([]string, error) {
	tenants, err := a.Store.TenantsWithAssets(ctx)
	if err != nil {
		return nil, fmt.Errorf("report tenants: %w", err)
	}
	return tenants, nil
}
