package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// WorkOrders serves work orders (create, list, status, checklist, sign-off,
// assignment, re-plan) and preventive schedules.
type WorkOrders struct {
	Store *maintenance.Store
	// DB reads the incident a work order is raised for.
	DB *store.DB
	// OnStatusChange, when set, is called after a request changed a work
	// order's status (not for a repeated request that changed nothing), with
	// the updated work order. The incident workflow hooks in here.
	OnStatusChange func(ctx context.Context, tenant string, wo maintenance.WorkOrder)
	// Schedule tunes automatic assignment.
	Schedule schedule.Options
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// uuidPattern matches the ids of technicians, work orders and channels.
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// maxEstimatedMinutes bounds a work order's duration (two weeks).
const maxEstimatedMinutes = 14 * 24 * 60

// Register mounts the work order and preventive schedule routes.
func (h *WorkOrders) Register(v1 *mux.Router) {
	v1.Handle("/work-orders", Require(apikey.ReadingsRead, h.list)).Methods(http.MethodGet)
	v1.Handle("/work-orders", Require(apikey.IncidentsDecide, h.create)).Methods(http.MethodPost)
	v1.Handle("/work-orders/replan", Require(apikey.IncidentsDecide, h.replan)).Methods(http.MethodPost)
	v1.Handle("/work-orders/{id}", Require(apikey.ReadingsRead, h.get)).Methods(http.MethodGet)
	v1.Handle("/work-orders/{id}/status", Require(apikey.IncidentsDecide, h.status)).Methods(http.MethodPut)
	v1.Handle("/work-orders/{id}/checklist", Require(apikey.IncidentsDecide, h.checklist)).Methods(http.MethodPatch)
	v1.Handle("/work-orders/{id}/sign-off", Require(apikey.IncidentsDecide, h.signOff)).Methods(http.MethodPost)
	v1.Handle("/work-orders/{id}/assignment", Require(apikey.IncidentsDecide, h.assign)).Methods(http.MethodPut)

	v1.Handle("/preventive-schedules", Require(apikey.ReadingsRead, h.listPreventive)).Methods(http.MethodGet)
	v1.Handle("/preventive-schedules", Require(apikey.Admin, h.createPreventive)).Methods(http.MethodPost)
	v1.Handle("/preventive-schedules/{id}", Require(apikey.ReadingsRead, h.getPreventive)).Methods(http.MethodGet)
	v1.Handle("/preventive-schedules/{id}", Require(apikey.Admin, h.updatePreventive)).Methods(http.MethodPut)
	v1.Handle("/preventive-schedules/{id}", Require(apikey.Admin, h.deletePreventive)).Methods(http.MethodDelete)
}

func (h *WorkOrders) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// actor is who the request acts as: the given name, or the API key's name.
func actor(r *http.Request, given string) string {
	if s := strings.TrimSpace(given); s != "" {
		return s
	}
	p, _ := auth.FromContext(r.Context())
	return "api-key:" + p.KeyName
}

// jobProblems checks the fields work orders and preventive schedules share.
func jobProblems(title string, priority workorder.Priority, skills []string, minutes int, parts []maintenance.Part) []ParamError {
	var p []ParamError
	if strings.TrimSpace(title) == "" || len(title) > 200 {
		p = append(p, ParamError{"title", "required, at most 200 characters"})
	}
	if priority != "" && !slices.Contains(workorder.Priorities, priority) {
		p = append(p, ParamError{"priority", fmt.Sprintf("must be one of %v", workorder.Priorities)})
	}
	p = append(p, skillProblems("required_skills", skills)...)
	if minutes < 1 || minutes > maxEstimatedMinutes {
		p = append(p, ParamError{"estimated_minutes", fmt.Sprintf("required, from 1 to %d", maxEstimatedMinutes)})
	}
	for _, part := range parts {
		if strings.TrimSpace(part.PartNumber) == "" || !(part.Quantity > 0) || part.Quantity > 1e9 {
			p = append(p, ParamError{"parts", "each part needs a part_number and a positive quantity"})
			break
		}
	}
	return p
}

func checklistProblems(items []string) []ParamError {
	if len(items) > 200 {
		return []ParamError{{"checklist", "at most 200 items"}}
	}
	for _, it := range items {
		if strings.TrimSpace(it) == "" || len(it) > 500 {
			return []ParamError{{"checklist", "each item is a non-empty text of at most 500 characters"}}
		}
	}
	return nil
}

// workOrderBody creates a work order. Without technician_id it is assigned
// automatically (unless auto_assign is false); with technician_id and
// scheduled_start it is booked there.
type workOrderBody struct {
	AssetID          string             `json:"asset_id"`
	IncidentID       string             `json:"incident_id"`
	Title            string             `json:"title"`
	Description      string             `json:"description"`
	Priority         workorder.Priority `json:"priority"`
	RequiredSkills   []string           `json:"required_skills"`
	EstimatedMinutes int                `json:"estimated_minutes"`
	Deadline         *time.Time         `json:"deadline"`
	Checklist        []string           `json:"checklist"`
	Parts            []maintenance.Part `json:"parts"`
	TechnicianID     string             `json:"technician_id"`
	ScheduledStart   *time.Time         `json:"scheduled_start"`
	// AutoAssign defaults to true when no technician is given.
	AutoAssign *bool `json:"auto_assign"`
	// EarliestStart bounds automatic assignment (default now).
	EarliestStart *time.Time `json:"earliest_start"`
}

func (b workOrderBody) problems() []ParamError {
	var p []ParamError
	if !idPattern.MatchString(b.AssetID) {
		p = append(p, ParamError{"asset_id", "required: the id of an asset"})
	}
	if len(b.IncidentID) > 200 {
		p = append(p, ParamError{"incident_id", "at most 200 characters"})
	}
	p = append(p, jobProblems(b.Title, b.Priority, b.RequiredSkills, b.EstimatedMinutes, b.Parts)...)
	p = append(p, checklistProblems(b.Checklist)...)
	switch {
	case b.TechnicianID != "" && b.ScheduledStart == nil:
		p = append(p, ParamError{"scheduled_start", "required with technician_id"})
	case b.TechnicianID == "" && b.ScheduledStart != nil:
		p = append(p, ParamError{"technician_id", "required with scheduled_start"})
	case b.TechnicianID != "" && b.AutoAssign != nil && *b.AutoAssign:
		p = append(p, ParamError{"auto_assign", "cannot be true together with technician_id"})
	}
	return p
}

func (b workOrderBody) workOrder() maintenance.WorkOrder {
	w := maintenance.WorkOrder{
		AssetID: b.AssetID, IncidentID: b.IncidentID, Title: strings.TrimSpace(b.Title), Description: b.Description,
		Priority: b.Priority, RequiredSkills: b.RequiredSkills, EstimatedMinutes: b.EstimatedMinutes, Deadline: b.Deadline,
		Parts: b.Parts,
	}
	for _, text := range b.Checklist {
		w.Checklist = append(w.Checklist, maintenance.ChecklistItem{Text: strings.TrimSpace(text)})
	}
	if b.TechnicianID != "" {
		end := b.ScheduledStart.Add(time.Duration(b.EstimatedMinutes) * time.Minute)
		w.TechnicianID, w.ScheduledStart, w.ScheduledEnd = b.TechnicianID, b.ScheduledStart, &end
		w.Late = b.Deadline != nil && end.After(*b.Deadline)
	}
	return w
}

func (h *WorkOrders) create(w http.ResponseWriter, r *http.Request) {
	var b workOrderBody
	if !decodeValid(w, r, &b, "invalid_work_order", "the work order is invalid") {
		return
	}
	ctx, tenant := r.Context(), Tenant(r)
	if b.IncidentID != "" && !h.checkIncident(w, r, tenant, b.IncidentID, b.AssetID) {
		return
	}
	wo := b.workOrder()
	var out maintenance.PlannedWorkOrder
	var err error
	switch {
	case b.TechnicianID == "" && (b.AutoAssign == nil || *b.AutoAssign):
		earliest := h.now()
		if b.EarliestStart != nil && b.EarliestStart.After(earliest) {
			earliest = *b.EarliestStart
		}
		out, err = h.Store.PlanWorkOrder(ctx, tenant, wo, earliest, h.Schedule)
	case b.IncidentID != "":
		out.WorkOrder, out.Created, err = h.Store.CreateWorkOrderForIncident(ctx, tenant, wo)
	default:
		out.WorkOrder, err = h.Store.CreateWorkOrder(ctx, tenant, wo)
		out.Created = err == nil
	}
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	status := http.StatusCreated
	if !out.Created {
		status = http.StatusOK // the incident's work order already existed
	}
	w.Header().Set("Location", "/api/v1/work-orders/"+out.WorkOrder.ID)
	WriteJSON(w, status, out)
}

// checkIncident makes sure a work order's incident_id names an incident of
// the caller's tenant on the work order's asset, answering 422 itself when
// it does not. The column has no foreign key (the incident workflow may
// create its work order before its projection is written), so without this
// a work order could carry another tenant's incident id, or an incident of
// another asset, whose workflow its status changes would then signal.
func (h *WorkOrders) checkIncident(w http.ResponseWriter, r *http.Request, tenant, incidentID, assetID string) bool {
	inc, err := h.DB.GetIncident(r.Context(), tenant, incidentID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_work_order", "the work order is invalid",
			[]ParamError{{"incident_id", fmt.Sprintf("no incident %q in this tenant", incidentID)}})
		return false
	case err != nil:
		WriteInternal(w, r, err)
		return false
	case inc.AssetID != assetID:
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_work_order", "the work order is invalid",
			[]ParamError{{"incident_id", fmt.Sprintf("incident %q is on asset %q, not %q", incidentID, inc.AssetID, assetID)}})
		return false
	}
	return true
}

func (h *WorkOrders) get(w http.ResponseWriter, r *http.Request) {
	wo, err := h.Store.GetWorkOrder(r.Context(), Tenant(r), mux.Vars(r)["id"])
	writeStored(w, r, wo, err)
}

func (h *WorkOrders) list(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := maintenance.WorkOrderFilter{Status: workorder.Status(q.Get("status")), AssetID: q.Get("asset"),
		TechnicianID: q.Get("technician"), IncidentID: q.Get("incident")}
	var problems []ParamError
	if f.Status != "" && !slices.Contains(workorder.Statuses, f.Status) {
		problems = append(problems, ParamError{"status", fmt.Sprintf("must be one of %v", workorder.Statuses)})
	}
	if f.TechnicianID != "" && !uuidPattern.MatchString(f.TechnicianID) {
		problems = append(problems, ParamError{"technician", "must be a technician id"})
	}
	if page.After != "" && !uuidPattern.MatchString(page.After) {
		problems = append(problems, ParamError{"after", "must be a work order id (next_after of the previous page)"})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return
	}
	items, err := h.Store.ListWorkOrders(r.Context(), Tenant(r), f, page)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, pageBody(items, page, func(v maintenance.WorkOrder) string { return v.ID }))
}

// statusBody moves a work order through its lifecycle.
type statusBody struct {
	Status workorder.Status `json:"status"`
}

func (h *WorkOrders) status(w http.ResponseWriter, r *http.Request) {
	var b statusBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if !slices.Contains(workorder.Statuses, b.Status) {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_status", "unknown status",
			[]ParamError{{"status", fmt.Sprintf("must be one of %v", workorder.Statuses)}})
		return
	}
	ctx, tenant := r.Context(), Tenant(r)
	wo, changed, err := h.Store.UpdateWorkOrderStatus(ctx, tenant, mux.Vars(r)["id"], b.Status, h.now())
	var te *maintenance.TransitionError
	if errors.As(err, &te) {
		WriteError(w, r, http.StatusConflict, "invalid_transition", te.Error(),
			map[string]any{"from": te.From, "to": te.To, "allowed": te.From.Next()})
		return
	}
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	if changed && h.OnStatusChange != nil {
		h.OnStatusChange(ctx, tenant, wo)
	}
	WriteJSON(w, http.StatusOK, wo)
}

// checklistBody ticks or unticks checklist items.
type checklistBody struct {
	// By is who did the items (default: the API key's name).
	By    string                        `json:"by"`
	Items []maintenance.ChecklistUpdate `json:"items"`
}

func (h *WorkOrders) checklist(w http.ResponseWriter, r *http.Request) {
	var b checklistBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if len(b.Items) == 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_checklist", "nothing to update",
			[]ParamError{{"items", "required: [{\"index\":0,\"done\":true}, ...]"}})
		return
	}
	wo, err := h.Store.UpdateChecklist(r.Context(), Tenant(r), mux.Vars(r)["id"], b.Items, actor(r, b.By), h.now())
	writeStored(w, r, wo, err)
}

// signOffBody accepts finished work.
type signOffBody struct {
	By   string `json:"by"`
	Note string `json:"note"`
}

func (h *WorkOrders) signOff(w http.ResponseWriter, r *http.Request) {
	var b signOffBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if strings.TrimSpace(b.By) == "" || len(b.By) > 200 || len(b.Note) > 4000 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_sign_off", "the sign-off is invalid",
			[]ParamError{{"by", "required: the name of the person accepting the work (at most 200 characters; note at most 4000)"}})
		return
	}
	wo, err := h.Store.SignOffWorkOrder(r.Context(), Tenant(r), mux.Vars(r)["id"], maintenance.SignOff{By: strings.TrimSpace(b.By), Note: b.Note, At: h.now()})
	writeStored(w, r, wo, err)
}

// assignmentBody books a scheduled work order: on technician_id from start
// (to end, default start + the estimate), or automatically with auto.
type assignmentBody struct {
	TechnicianID string     `json:"technician_id"`
	Start        *time.Time `json:"start"`
	End          *time.Time `json:"end"`
	Auto         bool       `json:"auto"`
}

func (h *WorkOrders) assign(w http.ResponseWriter, r *http.Request) {
	var b assignmentBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	ctx, tenant, id := r.Context(), Tenant(r), mux.Vars(r)["id"]
	if b.Auto {
		if b.TechnicianID != "" || b.Start != nil || b.End != nil {
			WriteError(w, r, http.StatusUnprocessableEntity, "invalid_assignment", "auto excludes technician_id, start and end", nil)
			return
		}
		wo, err := h.Store.AutoAssignWorkOrder(ctx, tenant, id, h.now(), h.Schedule)
		writeStored(w, r, wo, err)
		return
	}
	if b.TechnicianID == "" || b.Start == nil || (b.End != nil && !b.End.After(*b.Start)) {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_assignment", "the assignment is invalid",
			[]ParamError{{"technician_id", "technician_id and start are required (end, when given, after start), or {\"auto\": true}"}})
		return
	}
	end := b.End
	if end == nil {
		current, err := h.Store.GetWorkOrder(ctx, tenant, id)
		if err != nil {
			WriteStoreError(w, r, err)
			return
		}
		e := b.Start.Add(time.Duration(current.EstimatedMinutes) * time.Minute)
		end = &e
	}
	wo, err := h.Store.AssignWorkOrder(ctx, tenant, id, b.TechnicianID, *b.Start, *end)
	writeStored(w, r, wo, err)
}

// replanBody asks for a re-plan; without apply it is a dry run.
type replanBody struct {
	Apply bool `json:"apply"`
}

func (h *WorkOrders) replan(w http.ResponseWriter, r *http.Request) {
	var b replanBody
	if r.ContentLength != 0 && !DecodeJSON(w, r, &b) {
		return
	}
	res, err := h.Store.ReplanWorkOrders(r.Context(), Tenant(r), h.now(), h.Schedule, b.Apply)
	writeStored(w, r, res, err)
}

// preventiveBody is the writable part of a preventive schedule.
type preventiveBody struct {
	AssetID          string                     `json:"asset_id"`
	Title            string                     `json:"title"`
	Description      string                     `json:"description"`
	Priority         workorder.Priority         `json:"priority"`
	RequiredSkills   []string                   `json:"required_skills"`
	EstimatedMinutes int                        `json:"estimated_minutes"`
	Checklist        []string                   `json:"checklist"`
	Parts            []maintenance.Part         `json:"parts"`
	Kind             maintenance.PreventiveKind `json:"kind"`
	IntervalDays     *int                       `json:"interval_days"`
	SensorID         string                     `json:"sensor_id"`
	MeterInterval    *float64                   `json:"meter_interval"`
	LastDoneAt       *time.Time                 `json:"last_done_at"`
	LastMeterReading *float64                   `json:"last_meter_reading"`
	// Active defaults to true.
	Active *bool `json:"active"`
}

func (b preventiveBody) problems() []ParamError {
	var p []ParamError
	if !idPattern.MatchString(b.AssetID) {
		p = append(p, ParamError{"asset_id", "required: the id of an asset"})
	}
	p = append(p, jobProblems(b.Title, b.Priority, b.RequiredSkills, b.EstimatedMinutes, b.Parts)...)
	p = append(p, checklistProblems(b.Checklist)...)
	switch b.Kind {
	case maintenance.PreventiveCalendar:
		if b.IntervalDays == nil || *b.IntervalDays < 1 || *b.IntervalDays > 3660 {
			p = append(p, ParamError{"interval_days", "required for kind calendar: 1 to 3660"})
		}
		if b.SensorID != "" || b.MeterInterval != nil || b.LastMeterReading != nil {
			p = append(p, ParamError{"kind", "a calendar schedule has no sensor_id, meter_interval or last_meter_reading"})
		}
	case maintenance.PreventiveMeter:
		if !idPattern.MatchString(b.SensorID) {
			p = append(p, ParamError{"sensor_id", "required for kind meter: a sensor of the asset with a cumulative reading"})
		}
		if b.MeterInterval == nil || !(*b.MeterInterval > 0) || *b.MeterInterval > 1e12 {
			p = append(p, ParamError{"meter_interval", "required for kind meter: a positive number"})
		}
		if b.IntervalDays != nil {
			p = append(p, ParamError{"kind", "a meter schedule has no interval_days"})
		}
	default:
		p = append(p, ParamError{"kind", "must be calendar or meter"})
	}
	return p
}

func (b preventiveBody) preventive(id string) maintenance.PreventiveSchedule {
	return maintenance.PreventiveSchedule{
		ID: id, AssetID: b.AssetID, Title: strings.TrimSpace(b.Title), Description: b.Description, Priority: b.Priority,
		RequiredSkills: b.RequiredSkills, EstimatedMinutes: b.EstimatedMinutes, Checklist: b.Checklist, Parts: b.Parts,
		Kind: b.Kind, IntervalDays: b.IntervalDays, SensorID: b.SensorID, MeterInterval: b.MeterInterval,
		LastDoneAt: b.LastDoneAt, LastMeterReading: b.LastMeterReading, Active: b.Active == nil || *b.Active,
	}
}

func (h *WorkOrders) createPreventive(w http.ResponseWriter, r *http.Request) {
	var b preventiveBody
	if !decodeValid(w, r, &b, "invalid_preventive_schedule", "the preventive schedule is invalid") {
		return
	}
	s, err := h.Store.CreatePreventiveSchedule(r.Context(), Tenant(r), b.preventive(""))
	writeCreated(w, r, "/api/v1/preventive-schedules/"+s.ID, s, err)
}

func (h *WorkOrders) updatePreventive(w http.ResponseWriter, r *http.Request) {
	var b preventiveBody
	if !decodeValid(w, r, &b, "invalid_preventive_schedule", "the preventive schedule is invalid") {
		return
	}
	ctx, tenant, id := r.Context(), Tenant(r), mux.Vars(r)["id"]
	current, err := h.Store.GetPreventiveSchedule(ctx, tenant, id)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	if current.AssetID != b.AssetID {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_preventive_schedule", "the asset of a preventive schedule cannot change",
			[]ParamError{{"asset_id", "must stay " + current.AssetID}})
		return
	}
	s, err := h.Store.UpdatePreventiveSchedule(ctx, tenant, b.preventive(id))
	writeStored(w, r, s, err)
}

func (h *WorkOrders) getPreventive(w http.ResponseWriter, r *http.Request) {
	s, err := h.Store.GetPreventiveSchedule(r.Context(), Tenant(r), mux.Vars(r)["id"])
	writeStored(w, r, s, err)
}

func (h *WorkOrders) listPreventive(w http.ResponseWriter, r *http.Request) {
	items, err := h.Store.ListPreventiveSchedules(r.Context(), Tenant(r), r.URL.Query().Get("asset"))
	writeItems(w, r, items, err)
}

func (h *WorkOrders) deletePreventive(w http.ResponseWriter, r *http.Request) {
	writeDeleted(w, r, h.Store.DeletePreventiveSchedule(r.Context(), Tenant(r), mux.Vars(r)["id"]))
}
