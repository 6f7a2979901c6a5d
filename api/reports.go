package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/report"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

// Reports serves maintenance reports: starting one, listing them, and each
// one's KPIs as JSON or CSV and its charts as PNG or SVG. Everything needs
// readings:read (a report only reads what that scope can read already);
// asking for a report with notify, which sends "Report ready" to every
// channel of the tenant, needs incidents:decide as well (NotifyScope).
type Reports struct {
	DB    *store.DB
	Store *report.Store
	// Temporal starts report workflows on TaskQueue.
	Temporal  client.Client
	TaskQueue string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Register mounts the report routes.
func (h *Reports) Register(v1 *mux.Router) {
	v1.Handle("/reports", Require(apikey.ReadingsRead, h.create)).Methods(http.MethodPost)
	v1.Handle("/reports", Require(apikey.ReadingsRead, h.list)).Methods(http.MethodGet)
	v1.Handle("/reports/{file}", Require(apikey.ReadingsRead, h.get)).Methods(http.MethodGet)
	v1.Handle("/reports/{id}/charts/{file}", Require(apikey.ReadingsRead, h.chart)).Methods(http.MethodGet)
}

// NotifyScope is the scope a report request with notify needs besides
// readings:read: a read-only key may read reports but not message the
// tenant's channels. It is the scope whose decisions notify already.
const NotifyScope = apikey.IncidentsDecide

// Limits of a report request.
const (
	// DefaultReportWindow is the window of a request without from.
	DefaultReportWindow = 7 * 24 * time.Hour
	// maxReportAssets bounds the asset filter.
	maxReportAssets = 1000
	// maxReportFuture is how far past now a window may end.
	maxReportFuture = 24 * time.Hour
)

// reportBody is the body of POST /api/v1/reports; every field is optional.
type reportBody struct {
	// From and To bound the window [from, to): by default the 7 days up to
	// now.
	From *time.Time `json:"from"`
	To   *time.Time `json:"to"`
	// Assets restricts the report; empty means every asset.
	Assets []string `json:"assets"`
	// Notify tells the tenant's notification channels when it is ready.
	Notify bool `json:"notify"`
}

func (h *Reports) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// reportLinks are the URLs of a report's representations.
func reportLinks(m report.Meta) map[string]any {
	self := "/api/v1/reports/" + m.ID
	charts := map[string]map[string]string{}
	for _, name := range m.Charts {
		charts[name] = map[string]string{}
		for _, f := range report.Formats {
			charts[name][string(f)] = self + "/charts/" + name + "." + string(f)
		}
	}
	return map[string]any{"self": self, "csv": self + ".csv", "charts": charts}
}

// create handles POST /api/v1/reports: it records the report as running,
// starts its workflow and answers 202 with the report and its links. Poll
// GET /api/v1/reports/{id} until its status is done (or failed).
func (h *Reports) create(w http.ResponseWriter, r *http.Request) {
	var b reportBody
	if r.ContentLength != 0 && !DecodeJSON(w, r, &b) {
		return
	}
	if p, _ := auth.FromContext(r.Context()); b.Notify && !p.Can(NotifyScope) {
		WriteError(w, r, http.StatusForbidden, "forbidden",
			fmt.Sprintf("this API key lacks the scope %q, which a report with notify needs: it messages every notification channel of the tenant; ask without notify, or with a key that has the scope", NotifyScope),
			map[string]any{"required_scope": NotifyScope, "key_scopes": p.Scopes, "field": "notify"})
		return
	}
	now := h.now().UTC()
	win := report.Window{To: now}
	if b.To != nil {
		win.To = b.To.UTC()
	}
	win.From = win.To.Add(-DefaultReportWindow)
	if b.From != nil {
		win.From = b.From.UTC()
	}
	var problems []ParamError
	if err := win.Validate(); err != nil {
		problems = append(problems, ParamError{"from", err.Error()})
	}
	if win.To.After(now.Add(maxReportFuture)) {
		problems = append(problems, ParamError{"to", fmt.Sprintf("may be at most %s in the future", maxReportFuture)})
	}
	assets := []string{}
	for _, id := range b.Assets {
		if !slices.Contains(assets, id) {
			assets = append(assets, id)
		}
	}
	if len(assets) > maxReportAssets {
		problems = append(problems, ParamError{"assets", fmt.Sprintf("at most %d assets", maxReportAssets)})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_report", "the report request is invalid", problems)
		return
	}
	ctx := r.Context()
	p, _ := auth.FromContext(ctx)
	if len(assets) > 0 {
		missing, err := h.Store.MissingAssets(ctx, p.TenantID, assets)
		if err != nil {
			WriteInternal(w, r, err)
			return
		}
		if len(missing) > 0 {
			WriteError(w, r, http.StatusUnprocessableEntity, "unknown_assets", "the report names assets that do not exist", map[string][]string{"assets": missing})
			return
		}
	}
	id := uuid.NewString()
	m, err := h.Store.Create(ctx, report.Meta{
		ID: id, TenantID: p.TenantID, WorkflowID: workflows.ReportWorkflowID(p.TenantID, id), Trigger: report.TriggerAPI,
		RequestedBy: fmt.Sprintf("api key %s (%s)", p.KeyName, p.KeyPrefix), Window: win, Assets: assets,
	})
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	_, err = h.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       m.WorkflowID,
		TaskQueue:                h.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.Report, workflows.ReportInput{
		ReportID: id, TenantID: p.TenantID, From: win.From, To: win.To, Assets: assets,
		Trigger: report.TriggerAPI, RequestedBy: m.RequestedBy, Notify: b.Notify,
	})
	if err != nil {
		if ferr := h.Store.Fail(ctx, p.TenantID, id, "the workflow could not be started: "+err.Error()); ferr != nil {
			err = errors.Join(err, ferr)
		}
		slog.WarnContext(ctx, "start report workflow", "report", id, "error", err)
		WriteUnavailable(w, r, 5, "the report could not be started right now; retry")
		return
	}
	w.Header().Set("Location", "/api/v1/reports/"+id)
	WriteJSON(w, http.StatusAccepted, map[string]any{"report": m, "links": reportLinks(m)})
}

// list handles GET /api/v1/reports?status=&limit=&before=: the tenant's
// reports, newest first; next_before pages on.
func (h *Reports) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := report.ListFilter{Status: q.Get("status"), Before: q.Get("before"), Limit: 20}
	var problems []ParamError
	if f.Status != "" && f.Status != report.StatusRunning && f.Status != report.StatusDone && f.Status != report.StatusFailed {
		problems = append(problems, ParamError{"status", "one of running, done, failed"})
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			problems = append(problems, ParamError{"limit", "must be an integer from 1 to 100"})
		}
		f.Limit = n
	}
	if f.Before != "" && uuid.Validate(f.Before) != nil {
		problems = append(problems, ParamError{"before", "must be a report id"})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return
	}
	items, err := h.Store.List(r.Context(), Tenant(r), f)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	next := ""
	if len(items) == f.Limit {
		next = items[len(items)-1].ID
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": items, "next_before": next})
}

// get handles GET /api/v1/reports/{id} (JSON: the report, its KPI document
// once computed, and links) and GET /api/v1/reports/{id}.csv or
// ?format=csv (the KPIs as CSV; 409 until computed).
func (h *Reports) get(w http.ResponseWriter, r *http.Request) {
	id, format := mux.Vars(r)["file"], r.URL.Query().Get("format")
	if trimmed, ok := strings.CutSuffix(id, ".csv"); ok {
		id = trimmed
		if format == "" {
			format = "csv"
		}
	}
	if format != "" && format != "json" && format != "csv" {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", []ParamError{{"format", "json or csv"}})
		return
	}
	m, doc, err := h.Store.Get(r.Context(), Tenant(r), id)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	if format != "csv" {
		WriteJSON(w, http.StatusOK, map[string]any{"report": m, "kpis": doc, "links": reportLinks(m)})
		return
	}
	if doc == nil {
		if m.Status == report.StatusFailed {
			WriteError(w, r, http.StatusConflict, "report_failed", "the report failed before its KPIs were computed: "+m.Error, nil)
			return
		}
		WriteError(w, r, http.StatusConflict, "report_not_ready", "the report's KPIs are not computed yet; retry when its status is done", map[string]string{"status": m.Status})
		return
	}
	var rep report.Report
	if err := json.Unmarshal(doc, &rep); err != nil {
		WriteInternal(w, r, fmt.Errorf("decode report %s: %w", id, err))
		return
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, &rep); err != nil {
		WriteInternal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="report-`+id+`.csv"`)
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}

// chart handles GET /api/v1/reports/{id}/charts/{name}.png|.svg.
func (h *Reports) chart(w http.ResponseWriter, r *http.Request) {
	file := mux.Vars(r)["file"]
	dot := strings.LastIndexByte(file, '.')
	if dot <= 0 {
		WriteError(w, r, http.StatusBadRequest, "unsupported_format", "name the chart with its format: <name>.png or <name>.svg", nil)
		return
	}
	f, ok := report.ParseFormat(file[dot+1:])
	if !ok {
		WriteError(w, r, http.StatusBadRequest, "unsupported_format", fmt.Sprintf("charts are png or svg, not %q", file[dot+1:]), nil)
		return
	}
	b, err := h.Store.Chart(r.Context(), Tenant(r), mux.Vars(r)["id"], file[:dot], f)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", f.ContentType())
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Cache-Control", "private, max-age=300")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if f == report.SVG {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	}
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}
