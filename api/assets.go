package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Catalog serves assets and their sensors.
type Catalog struct {
	DB *store.DB
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)

// idProblems checks the id of an asset or sensor against idPattern.
func idProblems(id string) []ParamError {
	if idPattern.MatchString(id) {
		return nil
	}
	return []ParamError{{"id", "1 to 128 characters: letters, digits and . _ : - (starting with a letter or digit)"}}
}

// Register mounts the asset and sensor routes.
func (h *Catalog) Register(v1 *mux.Router) {
	v1.Handle("/assets", Require(apikey.ReadingsRead, h.listAssets)).Methods(http.MethodGet)
	v1.Handle("/assets", Require(apikey.Admin, h.createAsset)).Methods(http.MethodPost)
	v1.Handle("/assets/{id}", Require(apikey.ReadingsRead, h.getAsset)).Methods(http.MethodGet)
	v1.Handle("/assets/{id}", Require(apikey.Admin, h.updateAsset)).Methods(http.MethodPut)
	v1.Handle("/assets/{id}", Require(apikey.Admin, h.deleteAsset)).Methods(http.MethodDelete)
	v1.Handle("/assets/{id}/sensors", Require(apikey.ReadingsRead, h.listSensors)).Methods(http.MethodGet)
	v1.Handle("/assets/{id}/sensors", Require(apikey.Admin, h.createSensor)).Methods(http.MethodPost)
	v1.Handle("/assets/{id}/sensors/{sensor}", Require(apikey.ReadingsRead, h.getSensor)).Methods(http.MethodGet)
	v1.Handle("/assets/{id}/sensors/{sensor}", Require(apikey.Admin, h.updateSensor)).Methods(http.MethodPut)
	v1.Handle("/assets/{id}/sensors/{sensor}", Require(apikey.Admin, h.deleteSensor)).Methods(http.MethodDelete)
}

// assetBody is the writable part of an asset.
type assetBody struct {
	ID       string         `json:"id"`
	Type     string         `json:"type"`
	Name     string         `json:"name"`
	Location string         `json:"location"`
	Metadata map[string]any `json:"metadata"`
}

func (b assetBody) problems() []ParamError {
	p := idProblems(b.ID)
	if b.Type == "" {
		p = append(p, ParamError{"type", "required, for example \"milling-machine\""})
	}
	return p
}

func (h *Catalog) createAsset(w http.ResponseWriter, r *http.Request) {
	var b assetBody
	if !decodeValid(w, r, &b, "invalid_asset", "the asset is invalid") {
		return
	}
	a, err := h.DB.CreateAsset(r.Context(), Tenant(r), store.Asset{ID: b.ID, Type: b.Type, Name: b.Name, Location: b.Location, Metadata: b.Metadata})
	writeCreated(w, r, "/api/v1/assets/"+a.ID, a, err)
}

func (h *Catalog) updateAsset(w http.ResponseWriter, r *http.Request) {
	var b assetBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	id := mux.Vars(r)["id"]
	if b.ID == "" {
		b.ID = id
	}
	if b.ID != id {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_asset", "the body's id differs from the path's; ids cannot change", nil)
		return
	}
	if p := b.problems(); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_asset", "the asset is invalid", p)
		return
	}
	a, err := h.DB.UpdateAsset(r.Context(), Tenant(r), store.Asset{ID: id, Type: b.Type, Name: b.Name, Location: b.Location, Metadata: b.Metadata})
	writeStored(w, r, a, err)
}

func (h *Catalog) getAsset(w http.ResponseWriter, r *http.Request) {
	a, err := h.DB.GetAsset(r.Context(), Tenant(r), mux.Vars(r)["id"])
	writeStored(w, r, a, err)
}

func (h *Catalog) listAssets(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	assets, err := h.DB.ListAssets(r.Context(), Tenant(r), r.URL.Query().Get("type"), page)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, pageBody(assets, page, func(v store.Asset) string { return v.ID }))
}

func (h *Catalog) deleteAsset(w http.ResponseWriter, r *http.Request) {
	writeDeleted(w, r, h.DB.DeleteAsset(r.Context(), Tenant(r), mux.Vars(r)["id"]))
}

// sensorBody is the writable part of a sensor.
type sensorBody struct {
	ID        string   `json:"id"`
	Kind      string   `json:"kind"`
	Unit      string   `json:"unit"`
	MinValid  *float64 `json:"min_valid"`
	MaxValid  *float64 `json:"max_valid"`
	WarnLow   *float64 `json:"warn_low"`
	WarnHigh  *float64 `json:"warn_high"`
	AlarmLow  *float64 `json:"alarm_low"`
	AlarmHigh *float64 `json:"alarm_high"`
}

func (b sensorBody) problems() []ParamError {
	p := idProblems(b.ID)
	if b.Unit == "" {
		p = append(p, ParamError{"unit", "required, for example \"K\", \"rpm\" or \"Nm\""})
	}
	for _, f := range []struct {
		name string
		v    *float64
	}{{"min_valid", b.MinValid}, {"max_valid", b.MaxValid}, {"warn_low", b.WarnLow}, {"warn_high", b.WarnHigh}, {"alarm_low", b.AlarmLow}, {"alarm_high", b.AlarmHigh}} {
		if f.v != nil && (math.IsNaN(*f.v) || math.IsInf(*f.v, 0)) {
			p = append(p, ParamError{f.name, "must be a finite number"})
		}
	}
	less := func(lo, hi *float64, loName, hiName string) {
		if lo != nil && hi != nil && *lo >= *hi {
			p = append(p, ParamError{loName, fmt.Sprintf("must be below %s", hiName)})
		}
	}
	less(b.MinValid, b.MaxValid, "min_valid", "max_valid")
	less(b.AlarmLow, b.WarnLow, "alarm_low", "warn_low")
	less(b.WarnHigh, b.AlarmHigh, "warn_high", "alarm_high")
	less(b.WarnLow, b.WarnHigh, "warn_low", "warn_high")
	return p
}

func (b sensorBody) sensor(assetID string) store.Sensor {
	return store.Sensor{AssetID: assetID, ID: b.ID, Kind: b.Kind, Unit: b.Unit, MinValid: b.MinValid, MaxValid: b.MaxValid,
		WarnLow: b.WarnLow, WarnHigh: b.WarnHigh, AlarmLow: b.AlarmLow, AlarmHigh: b.AlarmHigh}
}

func (h *Catalog) createSensor(w http.ResponseWriter, r *http.Request) {
	var b sensorBody
	if !decodeValid(w, r, &b, "invalid_sensor", "the sensor is invalid") {
		return
	}
	assetID := mux.Vars(r)["id"]
	s, err := h.DB.CreateSensor(r.Context(), Tenant(r), b.sensor(assetID))
	writeCreated(w, r, "/api/v1/assets/"+assetID+"/sensors/"+s.ID, s, err)
}

func (h *Catalog) updateSensor(w http.ResponseWriter, r *http.Request) {
	var b sensorBody
	if !DecodeJSON(w, r, &b) {
		return
	}
	vars := mux.Vars(r)
	if b.ID == "" {
		b.ID = vars["sensor"]
	}
	if b.ID != vars["sensor"] {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_sensor", "the body's id differs from the path's; ids cannot change", nil)
		return
	}
	if p := b.problems(); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, "invalid_sensor", "the sensor is invalid", p)
		return
	}
	s, err := h.DB.UpdateSensor(r.Context(), Tenant(r), b.sensor(vars["id"]))
	var uc *store.UnitChangeError
	switch {
	case errors.As(err, &uc):
		WriteError(w, r, http.StatusConflict, "unit_in_use",
			fmt.Sprintf("sensor %s/%s has readings in %q, so its unit cannot change to %q under them: keep the unit, or create a new sensor for readings in %q (deleting this one deletes its readings)", uc.AssetID, uc.SensorID, uc.From, uc.To, uc.To),
			map[string]string{"unit": uc.From, "requested_unit": uc.To})
		return
	case err != nil:
		WriteStoreError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, s)
}

func (h *Catalog) getSensor(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	s, err := h.DB.GetSensor(r.Context(), Tenant(r), vars["id"], vars["sensor"])
	writeStored(w, r, s, err)
}

func (h *Catalog) listSensors(w http.ResponseWriter, r *http.Request) {
	tenant, assetID := Tenant(r), mux.Vars(r)["id"]
	if _, err := h.DB.GetAsset(r.Context(), tenant, assetID); err != nil {
		WriteStoreError(w, r, err)
		return
	}
	sensors, err := h.DB.ListSensors(r.Context(), tenant, assetID)
	writeItems(w, r, sensors, err)
}

func (h *Catalog) deleteSensor(w http.ResponseWriter, r *http.Request) {
	vars := mux.Vars(r)
	writeDeleted(w, r, h.DB.DeleteSensor(r.Context(), Tenant(r), vars["id"], vars["sensor"]))
}

// parsePage reads ?limit&after, answering 400 itself when they are bad.
func parsePage(w http.ResponseWriter, r *http.Request) (store.Page, bool) {
	p := store.Page{Limit: 100, After: r.URL.Query().Get("after")}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", []ParamError{{"limit", "must be an integer from 1 to 1000"}})
			return p, false
		}
		p.Limit = n
	}
	return p, true
}

// validator is a request body that checks itself.
type validator interface{ problems() []ParamError }

// decodeValid decodes the request body into b and answers 422 with code and
// message itself when b has problems. It reports whether b is fit to use.
func decodeValid(w http.ResponseWriter, r *http.Request, b validator, code, message string) bool {
	if !DecodeJSON(w, r, b) {
		return false
	}
	if p := b.problems(); len(p) > 0 {
		WriteError(w, r, http.StatusUnprocessableEntity, code, message, p)
		return false
	}
	return true
}

// writeStored answers v with 200 OK, or err as WriteStoreError does.
func writeStored(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}

// writeItems answers {"items": items} with 200 OK, or err as a 500.
func writeItems(w http.ResponseWriter, r *http.Request, items any, err error) {
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": items})
}

// writeCreated answers v with 201 Created at location, or err as
// WriteStoreError does.
func writeCreated(w http.ResponseWriter, r *http.Request, location string, v any, err error) {
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	w.Header().Set("Location", location)
	WriteJSON(w, http.StatusCreated, v)
}

// writeDeleted answers 204 No Content, or err as WriteStoreError does.
func writeDeleted(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pageBody is the JSON of one page of a listing: its items and, when the
// page is full, the id of its last item to pass as ?after for the next.
func pageBody[T any](items []T, page store.Page, id func(T) string) map[string]any {
	next := ""
	if len(items) == page.Limit {
		next = id(items[len(items)-1])
	}
	return map[string]any{"items": items, "next_after": next}
}
