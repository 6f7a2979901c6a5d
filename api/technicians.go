package api

import (
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/schedule"
)

// Technicians serves the technicians who carry out work orders: their
// skills, shift calendars and bookings.
type Technicians struct {
	Store *maintenance.Store
}

// Register mounts the technician routes.
func (h *Technicians) Register(v1 *mux.Router) {
	v1.Handle("/technicians", Require(apikey.ReadingsRead, h.list)).Methods(http.MethodGet)
	v1.Handle("/technicians", Require(apikey.Admin, h.create)).Methods(http.MethodPost)
	v1.Handle("/technicians/{id}", Require(apikey.ReadingsRead, h.get)).Methods(http.MethodGet)
	v1.Handle("/technicians/{id}", Require(apikey.Admin, h.update)).Methods(http.MethodPut)
	v1.Handle("/technicians/{id}", Require(apikey.Admin, h.delete)).Methods(http.MethodDelete)
	v1.Handle("/technicians/{id}/bookings", Require(apikey.ReadingsRead, h.bookings)).Methods(http.MethodGet)
}

// technicianBody is the writable part of a technician.
type technicianBody struct {
	Name       string             `json:"name"`
	Email      string             `json:"email"`
	Skills     []string           `json:"skills"`
	TimeZone   string             `json:"time_zone"`
	Shifts     schedule.Week      `json:"shifts"`
	Exceptions []schedule.Absence `json:"exceptions"`
	// Active defaults to true.
	Active *bool `json:"active"`
}

func (b technicianBody) problems() []ParamError {
	var p []ParamError
	if strings.TrimSpace(b.Name) == "" || len(b.Name) > 200 {
		p = append(p, ParamError{"name", "required, at most 200 characters"})
	}
	if b.Email != "" {
		if a, err := mail.ParseAddress(b.Email); err != nil || a.Address != b.Email {
			p = append(p, ParamError{"email", "must be a plain address such as ada@example.com"})
		}
	}
	p = append(p, skillProblems("skills", b.Skills)...)
	if b.TimeZone != "" {
		if _, err := time.LoadLocation(b.TimeZone); err != nil || b.TimeZone == "Local" {
			p = append(p, ParamError{"time_zone", "must be an IANA time zone such as \"Europe/Berlin\" or \"UTC\""})
		}
	}
	if err := b.Shifts.Validate(); err != nil {
		p = append(p, ParamError{"shifts", strings.TrimPrefix(err.Error(), "schedule: ")})
	}
	for _, a := range b.Exceptions {
		if err := a.Validate(); err != nil {
			p = append(p, ParamError{"exceptions", strings.TrimPrefix(err.Error(), "schedule: ")})
		}
	}
	return p
}

// skillProblems checks a list of skill names.
func skillProblems(param string, skills []string) []ParamError {
	for _, s := range skills {
		if !idPattern.MatchString(s) {
			return []ParamError{{param, "each skill is 1 to 128 characters: letters, digits and . _ : - (for example \"mechanical\")"}}
		}
	}
	return nil
}

func (b technicianBody) technician(id string) maintenance.Technician {
	active := b.Active == nil || *b.Active
	return maintenance.Technician{ID: id, Name: strings.TrimSpace(b.Name), Email: b.Email, Skills: b.Skills, TimeZone: b.TimeZone,
		Shifts: b.Shifts, Exceptions: b.Exceptions, Active: active}
}

func (h *Technicians) create(w http.ResponseWriter, r *http.Request) {
	var b technicianBody
	if !decodeValid(w, r, &b, "invalid_technician", "the technician is invalid") {
		return
	}
	t, err := h.Store.CreateTechnician(r.Context(), Tenant(r), b.technician(""))
	writeCreated(w, r, "/api/v1/technicians/"+t.ID, t, err)
}

func (h *Technicians) update(w http.ResponseWriter, r *http.Request) {
	var b technicianBody
	if !decodeValid(w, r, &b, "invalid_technician", "the technician is invalid") {
		return
	}
	t, err := h.Store.UpdateTechnician(r.Context(), Tenant(r), b.technician(mux.Vars(r)["id"]))
	writeStored(w, r, t, err)
}

func (h *Technicians) get(w http.ResponseWriter, r *http.Request) {
	t, err := h.Store.GetTechnician(r.Context(), Tenant(r), mux.Vars(r)["id"])
	writeStored(w, r, t, err)
}

func (h *Technicians) list(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	f := maintenance.TechnicianFilter{Skill: q.Get("skill")}
	switch q.Get("active") {
	case "", "false":
	case "true":
		f.ActiveOnly = true
	default:
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", []ParamError{{"active", "must be true or false"}})
		return
	}
	techs, err := h.Store.ListTechnicians(r.Context(), Tenant(r), f, page)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, pageBody(techs, page, func(v maintenance.Technician) string { return v.ID }))
}

func (h *Technicians) delete(w http.ResponseWriter, r *http.Request) {
	writeDeleted(w, r, h.Store.DeleteTechnician(r.Context(), Tenant(r), mux.Vars(r)["id"]))
}

// maxBookingsWindow bounds ?from..?to of the bookings listing.
const maxBookingsWindow = 92 * 24 * time.Hour

// bookings lists the technician's open work orders in [from, to) (default:
// the next 14 days).
func (h *Technicians) bookings(w http.ResponseWriter, r *http.Request) {
	tenant, id := Tenant(r), mux.Vars(r)["id"]
	from, to, ok := parseWindow(w, r, time.Now(), 14*24*time.Hour, maxBookingsWindow)
	if !ok {
		return
	}
	if _, err := h.Store.GetTechnician(r.Context(), tenant, id); err != nil {
		WriteStoreError(w, r, err)
		return
	}
	all, err := h.Store.TechnicianBookings(r.Context(), tenant, from, to)
	if err != nil {
		WriteInternal(w, r, err)
		return
	}
	mine := []maintenance.Booking{}
	for _, b := range all {
		if b.TechnicianID == id {
			mine = append(mine, b)
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"items": mine, "from": from, "to": to})
}

// parseWindow reads ?from and ?to (RFC 3339), defaulting to [now, now+def);
// it answers 400 itself when they are bad or span more than limit.
func parseWindow(w http.ResponseWriter, r *http.Request, now time.Time, def, limit time.Duration) (from, to time.Time, ok bool) {
	q := r.URL.Query()
	from, to = now, time.Time{}
	var problems []ParamError
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		if s := q.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				problems = append(problems, ParamError{p.name, "must be an RFC 3339 time such as 2025-06-02T08:00:00Z"})
				continue
			}
			*p.dst = t
		}
	}
	if to.IsZero() {
		to = from.Add(def)
	}
	if len(problems) == 0 && (!to.After(from) || to.Sub(from) > limit) {
		problems = append(problems, ParamError{"to", fmt.Sprintf("must be after from, at most %d days later", int(limit.Hours()/24))})
	}
	if len(problems) > 0 {
		WriteError(w, r, http.StatusBadRequest, "invalid_query", "invalid query parameters", problems)
		return from, to, false
	}
	return from, to, true
}
