package api

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

// Backtests serves backtests of stored readings: "would this model
// version have caught last month's failure?". Starting one needs
// models:write, the scope of model management; reading one needs
// readings:read.
type Backtests struct {
	DB       *store.DB
	Registry *registry.Registry
	// Temporal starts backtest workflows on TaskQueue.
	Temporal  client.Client
	TaskQueue string
}

// Limits of a backtest request.
const (
	// MaxBacktestRange is the longest range a backtest replays.
	MaxBacktestRange = 90 * 24 * time.Hour
	// maxBacktestSustain bounds sustain.
	maxBacktestSustain = 1000
	// maxBacktestSensors bounds the sensor filter.
	maxBacktestSensors = 64
)

// Register mounts the backtest routes.
func (h *Backtests) Register(v1 *mux.Router) {
	v1.Handle("/backtests", Require(apikey.ModelsWrite, h.create)).Methods(http.MethodPost)
	v1.Handle("/backtests/{id}", Require(apikey.ReadingsRead, h.get)).Methods(http.MethodGet)
	v1.Handle("/backtests/{id}/charts/{file}", Require(apikey.ReadingsRead, h.chart)).Methods(http.MethodGet)
}

// backtestBody is the body of POST /api/v1/backtests.
type backtestBody struct {
	AssetID string     `json:"asset_id"`
	Sensors []string   `json:"sensors"`
	From    *time.Time `json:"from"`
	To      *time.Time `json:"to"`
	// Model is a registered model name; by default the asset type's
	// anomaly model (detect.ModelName). Version defaults to its champion.
	Model     string     `json:"model"`
	Version   *int       `json:"version"`
	FailureAt *time.Time `json:"failure_at"`
	Sustain   *int       `json:"sustain"`
}

func (b backtestBody) problems() []ParamError {
	var p []ParamError
	if strings.TrimSpace(b.AssetID) == "" {
		p = append(p, ParamError{"asset_id", "required"})
	}
	switch {
	case b.From == nil:
		p = append(p, ParamError{"from", "required (RFC 3339)"})
	case b.To == nil:
		p = append(p, ParamError{"to", "required (RFC 3339)"})
	case !b.From.Before(*b.To):
		p = append(p, ParamError{"from", "must be before to"})
	case b.To.Sub(*b.From) > MaxBacktestRange:
		p = append(p, ParamError{"to", fmt.Sprintf("the range may span at most %d days", int(MaxBacktestRange.Hours()/24))})
	}
	if len(b.Sensors) > maxBacktestSensors {
		p = append(p, ParamError{"sensors", fmt.Sprintf("at most %d sensors", maxBacktestSensors)})
	}
	if b.Model != "" && !registry.ValidName(b.Model) {
		p = append(p, ParamError{"model", "not a valid model name"})
	}
	if b.Version != nil && *b.Version < 1 {
		p = append(p, ParamError{"version", "must be a version number from 1"})
	}
	if b.Sustain != nil && (*b.Sustain < 1 || *b.Sustain > maxBacktestSustain) {
		p = append(p, ParamError{"sustain", fmt.Sprintf("must be from 1 to %d", maxBacktestSustain)})
	}
	return p
}

// backtestLinks are the URLs of a backtest and, once done, its charts.
func backtestLinks(s *workflows.BacktestState) map[string]any {
	self := "/api/v1/backtests/" + s.ID
	charts := map[string]string{}
	if s.Report != nil {
		for _, c := range s.Report.Charts() {
			charts[c.Name] = self + "/charts/" + c.Name + ".png"
		}
	}
	return map[string]any{"self": self, "charts": charts}
}

// create handles POST /api/v1/backtests: it checks the asset, the sensors
// and the model version, starts the backtest workflow and answers 202
// with the backtest's state. Poll GET /api/v1/backtests/{id} until its
// status is done (or failed).
func (h *Backtests) create(w http.ResponseWriter, r *http.Request) {
	var b backtestBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	if p := b.problems(); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_backtest", "the backtest request is invalid", p)
		return
	}
	ctx := r.Context()
	p, _ := auth.FromContext(ctx)
	asset, err := h.DB.GetAsset(ctx, p.TenantID, b.AssetID)
	if errors.Is(err, store.ErrNotFound) {
		WriteError(w, r, http.StatusUnprocessableEntity, "unknown_asset", fmt.Sprintf("there is no asset %q", b.AssetID), []ParamError{{"asset_id", "unknown asset"}})
		return
	}
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	sensors, err := h.DB.ListSensors(ctx, p.TenantID, b.AssetID)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	var missing []string
	wanted := []string{}
	for _, id := range b.Sensors {
		if !slices.ContainsFunc(sensors, func(s store.Sensor) bool { return s.ID == id }) {
			missing = append(missing, id)
		} else if !slices.Contains(wanted, id) {
			wanted = append(wanted, id)
		}
	}
	if len(missing) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "unknown_sensors", fmt.Sprintf("asset %q has no sensors %s", b.AssetID, strings.Join(missing, ", ")), map[string][]string{"sensors": missing})
		return
	}
	name, version, ok := h.modelVersion(w, r, b, asset)
	if !ok {
		return
	}
	in := workflows.BacktestInput{
		BacktestID: uuid.NewString(), RequestedBy: fmt.Sprintf("api key %s (%s)", p.KeyName, p.KeyPrefix),
		Replay: activities.BacktestInput{
			TenantID: p.TenantID, AssetID: b.AssetID, Sensors: wanted, From: b.From.UTC(), To: b.To.UTC(),
			Model: name, Version: version,
		},
	}
	if b.FailureAt != nil {
		t := b.FailureAt.UTC()
		in.Replay.FailureAt = &t
	}
	if b.Sustain != nil {
		in.Replay.Sustain = *b.Sustain
	}
	_, err = h.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.BacktestWorkflowID(p.TenantID, in.BacktestID),
		TaskQueue:                h.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
	}, workflows.Backtest, in)
	if err != nil {
		WriteUnavailable(w, r, 5, "the backtest could not be started right now; retry")
		return
	}
	s := &workflows.BacktestState{ID: in.BacktestID, Status: workflows.BacktestRunning, Request: in.Replay, RequestedBy: in.RequestedBy, StartedAt: time.Now().UTC()}
	w.Header().Set("Location", "/api/v1/backtests/"+in.BacktestID)
	WriteJSON(w, http.StatusAccepted, map[string]any{"backtest": s, "links": backtestLinks(s)})
}

// modelVersion resolves the model version to replay: the named (or the
// asset type's) model at version (or its champion). Without a model name
// and no champion of the asset type's model, the backtest runs without the
// model detector (name ""). It answers the error itself when !ok.
func (h *Backtests) modelVersion(w http.ResponseWriter, r *http.Request, b backtestBody, asset store.Asset) (name string, version int, ok bool) {
	ctx, tenant := r.Context(), Tenant(r)
	name = b.Model
	if name == "" {
		name = detect.ModelName(asset.Type)
	}
	if b.Version != nil {
		v, err := h.Registry.Version(ctx, tenant, name, *b.Version)
		if errors.Is(err, store.ErrNotFound) {
			if _, merr := h.Registry.Model(ctx, tenant, name); errors.Is(merr, store.ErrNotFound) {
				WriteError(w, r, http.StatusUnprocessableEntity, "unknown_model", fmt.Sprintf("there is no model %q", name), []ParamError{{"model", "unknown model"}})
				return "", 0, false
			}
			WriteError(w, r, http.StatusUnprocessableEntity, "unknown_version", fmt.Sprintf("model %q has no version %d", name, *b.Version), []ParamError{{"version", "unknown version"}})
			return "", 0, false
		}
		if err != nil {
			WriteInternal(w, r, err)
			return "", 0, false
		}
		return name, v.Version, true
	}
	if _, err := h.Registry.Model(ctx, tenant, name); errors.Is(err, store.ErrNotFound) {
		if b.Model == "" {
			return "", 0, true // no model of the asset type: limits and robust z only
		}
		WriteError(w, r, http.StatusUnprocessableEntity, "unknown_model", fmt.Sprintf("there is no model %q", name), []ParamError{{"model", "unknown model"}})
		return "", 0, false
	} else if err != nil {
		WriteInternal(w, r, err)
		return "", 0, false
	}
	v, err := h.Registry.Resolve(ctx, tenant, name, registry.Champion)
	if errors.Is(err, store.ErrNotFound) {
		if b.Model == "" {
			return "", 0, true
		}
		WriteError(w, r, http.StatusUnprocessableEntity, "no_champion", fmt.Sprintf("model %q has no champion; name a version", name), []ParamError{{"version", "required: the model has no champion"}})
		return "", 0, false
	}
	if err != nil {
		WriteInternal(w, r, err)
		return "", 0, false
	}
	return name, v.Version, true
}

// state returns the backtest's state: the workflow's result once it
// completed, its query answer otherwise. found is false for an unknown id.
func (h *Backtests) state(r *http.Request, id string) (s *workflows.BacktestState, found bool, err error) {
	ctx := r.Context()
	if uuid.Validate(id) != nil {
		return nil, false, nil
	}
	wid := workflows.BacktestWorkflowID(Tenant(r), id)
	desc, err := h.Temporal.DescribeWorkflowExecution(ctx, wid, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	status := desc.GetWorkflowExecutionInfo().GetStatus()
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		err = h.Temporal.GetWorkflow(ctx, wid, "").Get(ctx, &s)
		return s, true, err
	}
	v, qerr := h.Temporal.QueryWorkflow(ctx, wid, "", workflows.QueryBacktest)
	if qerr == nil {
		qerr = v.Get(&s)
	}
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return s, true, qerr
	}
	// Failed, cancelled, terminated or timed out.
	if qerr != nil || s == nil {
		s = &workflows.BacktestState{ID: id}
	}
	s.Status = workflows.BacktestFailed
	if s.Error == "" {
		werr := h.Temporal.GetWorkflow(ctx, wid, "").Get(ctx, nil)
		s.Error = strings.ToLower(status.String())
		if werr != nil {
			s.Error = werr.Error()
		}
	}
	return s, true, nil
}

// get handles GET /api/v1/backtests/{id}: status and progress while it
// runs, the report when done.
func (h *Backtests) get(w http.ResponseWriter, r *http.Request) {
	id := mux.Vars(r)["id"]
	s, found, err := h.state(r, id)
	switch {
	case !found:
		WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("there is no backtest %q", id), nil)
	case err != nil:
		WriteUnavailable(w, r, 5, "the backtest could not be reached right now; retry")
	default:
		WriteJSON(w, http.StatusOK, map[string]any{"backtest": s, "links": backtestLinks(s)})
	}
}

// chart handles GET /api/v1/backtests/{id}/charts/{name}.png: one of the
// report's charts; 409 until the backtest is done.
func (h *Backtests) chart(w http.ResponseWriter, r *http.Request) {
	id, file := mux.Vars(r)["id"], mux.Vars(r)["file"]
	name, ok := strings.CutSuffix(file, ".png")
	if !ok {
		WriteError(w, r, http.StatusNotFound, "not_found", "charts are PNG: ask for <name>.png", nil)
		return
	}
	s, found, err := h.state(r, id)
	switch {
	case !found:
		WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("there is no backtest %q", id), nil)
		return
	case err != nil:
		WriteUnavailable(w, r, 5, "the backtest could not be reached right now; retry")
		return
	case s.Report == nil:
		WriteError(w, r, http.StatusConflict, "backtest_not_ready", "the backtest has no report yet; retry when its status is done", map[string]string{"status": s.Status})
		return
	}
	for _, c := range s.Report.Charts() {
		if c.Name != name {
			continue
		}
		var buf bytes.Buffer
		if err := c.WritePNG(&buf); err != nil {
			WriteInternal(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		w.Header().Set("Cache-Control", "private, max-age=3600")
		_, _ = w.Write(buf.Bytes())
		return
	}
	WriteError(w, r, http.StatusNotFound, "not_found", fmt.Sprintf("backtest %s has no chart %q", id, name), nil)
}
