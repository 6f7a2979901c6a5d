// Package ui is the operator page: a server-rendered view of one tenant
// under /ui (assets with their health, open incidents with evidence charts,
// incidents awaiting approval with their decision buttons, work orders and
// model versions), built from Go templates without a front-end build or
// scripts.
//
// An operator signs in by pasting an API key, which is kept in an HttpOnly,
// SameSite=Strict cookie; every request is authenticated with the API's
// Authenticator and needs the same scopes as the API (readings:read to
// look, incidents:decide to decide). Forms carry a CSRF token derived from
// the key. Decisions take the API's own path (dispatch.Decider).
package ui

import (
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/dispatch"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// UI serves the operator page. It registers as public routes: they sit
// outside the API's key header authentication and check the session cookie
// themselves.
type UI struct {
	DB *store.DB
	// Maintenance lists the work orders and technicians.
	Maintenance *maintenance.Store
	Auth        *auth.Authenticator
	// Decider takes decisions the way POST /api/v1/incidents/{id}/decision
	// does.
	Decider *dispatch.Decider
	// Registry lists the models; nil leaves the section empty.
	Registry *registry.Registry
	Log      *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// RegisterPublic mounts the page under /ui.
func (u *UI) RegisterPublic(root *mux.Router) {
	root.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently)).Methods(http.MethodGet)
	root.HandleFunc("/ui/", u.overview).Methods(http.MethodGet)
	root.HandleFunc("/ui/login", u.loginForm).Methods(http.MethodGet)
	root.HandleFunc("/ui/login", u.login).Methods(http.MethodPost)
	root.HandleFunc("/ui/logout", u.logout).Methods(http.MethodPost)
	root.HandleFunc("/ui/incidents/{id}/decision", u.decide).Methods(http.MethodPost)
	static, _ := fs.Sub(staticFS, "static")
	root.PathPrefix("/ui/static/").Handler(http.StripPrefix("/ui/static/", cacheFor(time.Hour, http.FileServerFS(static)))).Methods(http.MethodGet)
}

func (u *UI) log() *slog.Logger {
	if u.Log != nil {
		return u.Log
	}
	return slog.Default()
}

func (u *UI) now() time.Time {
	if u.Now != nil {
		return u.Now()
	}
	return time.Now()
}

func cacheFor(d time.Duration, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age="+itoa(int(d/time.Second)))
		h.ServeHTTP(w, r)
	})
}

// Templates: each page is the layout plus its own file.
var pages = map[string]*template.Template{}

func init() {
	funcs := template.FuncMap{
		"ago":     ago,
		"utc":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"percent": func(f float64) string { return itoa(int(f*100+0.5)) + " %" },
		// humanize and decided take the vocabulary's typed strings
		// (incident.Status, incident.Action, ...) as well as plain ones.
		"humanize": func(v any) string { return strings.ReplaceAll(fmt.Sprint(v), "_", " ") },
		"decided": func(v any) string {
			action := fmt.Sprint(v)
			if l, ok := decisionLabels[incident.Action(action)]; ok {
				return strings.ToUpper(l[:1]) + l[1:]
			}
			return action
		},
		"deref": func(p *string) string {
			if p == nil {
				return ""
			}
			return *p
		},
	}
	for _, name := range []string{"overview", "login", "message"} {
		pages[name] = template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html"))
	}
}

// securityHeaders keeps the page to itself: no scripts, no framing, styles
// and forms only from this origin, nothing cached.
func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages[page].ExecuteTemplate(w, "layout", data); err != nil {
		u.log().ErrorContext(r.Context(), "operator page: render", "page", page, "error", err)
	}
}

// message is the data of the message page (errors, refusals).
type message struct {
	Title, Text string
	// Link and LinkText point the way on.
	Link, LinkText string
}

func (u *UI) message(w http.ResponseWriter, r *http.Request, status int, m message) {
	if m.Link == "" {
		m.Link, m.LinkText = "/ui/", "Back to the overview"
	}
	u.render(w, r, status, "message", m)
}

// session is a signed-in operator.
type session struct {
	key string
	p   auth.Principal
}

// session authenticates the request's key cookie. Without a valid key it
// answers itself (a redirect to the login form, or an error page) and
// reports false.
func (u *UI) session(w http.ResponseWriter, r *http.Request) (session, bool) {
	key := cookieValue(r, keyCookie)
	if key == "" {
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return session{}, false
	}
	p, err := u.Auth.Authenticate(r.Context(), key)
	switch {
	case errors.Is(err, auth.ErrInvalidKey), errors.Is(err, auth.ErrNoKey):
		clearCookie(w, r, keyCookie)
		setFlash(w, r, flash{Kind: "error", Text: "Your API key is no longer valid (revoked or expired). Sign in with another."})
		http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
		return session{}, false
	case err != nil:
		u.log().WarnContext(r.Context(), "operator page: authentication unavailable", "error", err)
		w.Header().Set("Retry-After", "5")
		u.message(w, r, http.StatusServiceUnavailable, message{Title: "Try again shortly", Text: "Your API key cannot be checked right now."})
		return session{}, false
	case !p.Can(apikey.ReadingsRead):
		u.message(w, r, http.StatusForbidden, message{Title: "Not allowed",
			Text: "This API key lacks the readings:read scope the operator page needs.", Link: "/ui/login", LinkText: "Sign in with another key"})
		return session{}, false
	}
	return session{key: key, p: p}, true
}

// checkForm parses a signed-in operator's form post and checks its origin
// and CSRF token, answering itself when they are wrong.
func (u *UI) checkForm(w http.ResponseWriter, r *http.Request, s session) bool {
	if err := r.ParseForm(); err != nil {
		u.message(w, r, http.StatusBadRequest, message{Title: "Bad request", Text: "The form could not be read."})
		return false
	}
	if !sameOrigin(r) || !validToken(r.PostForm.Get("csrf"), csrfToken(s.key)) {
		u.message(w, r, http.StatusForbidden, message{Title: "Form refused",
			Text: "The form came from another site or an earlier sign-in. Reload the overview and try again."})
		return false
	}
	return true
}

// flash is a one-time notice shown after a redirect.
type flash struct {
	// Kind is "ok" or "error".
	Kind string `json:"kind"`
	Text string `json:"text"`
}

const flashCookie = "smartmaint_ui_flash"

func setFlash(w http.ResponseWriter, r *http.Request, f flash) {
	b, _ := json.Marshal(f)
	setCookie(w, r, flashCookie, base64.RawURLEncoding.EncodeToString(b), time.Minute)
}

// takeFlash returns the pending notice, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request) *flash {
	v := cookieValue(r, flashCookie)
	if v == "" {
		return nil
	}
	clearCookie(w, r, flashCookie)
	b, err := base64.RawURLEncoding.DecodeString(v)
	var f flash
	if err != nil || json.Unmarshal(b, &f) != nil || f.Text == "" {
		return nil
	}
	return &f
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request) {
	s, ok := u.session(w, r)
	if !ok {
		return
	}
	pg := u.load(r.Context(), s.p, u.now())
	pg.CanDecide = s.p.Can(apikey.IncidentsDecide)
	pg.CSRF = csrfToken(s.key)
	pg.Flash = takeFlash(w, r)
	u.render(w, r, http.StatusOK, "overview", pg)
}

// loginPage is the data of the login form.
type loginPage struct {
	Token string
	Flash *flash
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request) {
	token := newLoginToken()
	setCookie(w, r, loginCookie, token, 30*time.Minute)
	u.render(w, r, http.StatusOK, "login", loginPage{Token: token, Flash: takeFlash(w, r)})
}

func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		u.message(w, r, http.StatusBadRequest, message{Title: "Bad request", Text: "The form could not be read.", Link: "/ui/login", LinkText: "Back to sign-in"})
		return
	}
	again := func(status int, text string) {
		token := newLoginToken()
		setCookie(w, r, loginCookie, token, 30*time.Minute)
		u.render(w, r, status, "login", loginPage{Token: token, Flash: &flash{Kind: "error", Text: text}})
	}
	if !sameOrigin(r) || !validToken(r.PostForm.Get("login_token"), cookieValue(r, loginCookie)) {
		again(http.StatusForbidden, "The sign-in form expired or came from another site. Please try again.")
		return
	}
	key := strings.TrimSpace(r.PostForm.Get("api_key"))
	p, err := u.Auth.Authenticate(r.Context(), key)
	switch {
	case errors.Is(err, auth.ErrNoKey):
		again(http.StatusUnprocessableEntity, "Paste an API key.")
		return
	case errors.Is(err, auth.ErrInvalidKey):
		again(http.StatusUnauthorized, "That API key is unknown, revoked or expired.")
		return
	case err != nil:
		u.log().WarnContext(r.Context(), "operator page: authentication unavailable", "error", err)
		w.Header().Set("Retry-After", "5")
		again(http.StatusServiceUnavailable, "The key cannot be checked right now; try again shortly.")
		return
	case !p.Can(apikey.ReadingsRead):
		again(http.StatusForbidden, "That API key lacks the readings:read scope the operator page needs.")
		return
	}
	clearCookie(w, r, loginCookie)
	setCookie(w, r, keyCookie, key, SessionTTL)
	u.log().InfoContext(r.Context(), "operator signed in", "tenant", p.TenantID, "key", p.KeyName)
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	s, ok := u.session(w, r)
	if !ok || !u.checkForm(w, r, s) {
		return
	}
	clearCookie(w, r, keyCookie)
	setFlash(w, r, flash{Kind: "ok", Text: "Signed out."})
	http.Redirect(w, r, "/ui/login", http.StatusSeeOther)
}

// decisionLabels are the past tenses the notices use.
var decisionLabels = map[incident.Action]string{
	incident.Approve: "approved", incident.Reject: "rejected",
	incident.Snooze: "snoozed", incident.Acknowledge: "acknowledged",
}

// decide takes a decision from the approval form through the API's
// decision path and reports the outcome on the overview.
func (u *UI) decide(w http.ResponseWriter, r *http.Request) {
	s, ok := u.session(w, r)
	if !ok || !u.checkForm(w, r, s) {
		return
	}
	id := mux.Vars(r)["id"]
	back := func(f flash) {
		setFlash(w, r, f)
		http.Redirect(w, r, "/ui/#incident-"+safeID(id), http.StatusSeeOther)
	}
	if !s.p.Can(apikey.IncidentsDecide) {
		back(flash{Kind: "error", Text: "Your API key lacks the incidents:decide scope, so it cannot decide on incidents."})
		return
	}
	f := r.PostForm
	req := dispatch.DecisionRequest{Action: f.Get("action"), Comment: strings.TrimSpace(f.Get("comment")), User: strings.TrimSpace(f.Get("user"))}
	if incident.Action(req.Action) == incident.Snooze {
		req.SnoozeFor = f.Get("snooze_for")
	}
	_, err := u.Decider.Decide(r.Context(), s.p.TenantID, "key:"+s.p.KeyName, id, req)
	var de *dispatch.DecisionError
	switch {
	case err == nil:
		u.log().InfoContext(r.Context(), "operator decision", "tenant", s.p.TenantID, "incident", id, "action", req.Action, "key", s.p.KeyName)
		back(flash{Kind: "ok", Text: "Incident " + id + " " + decisionLabels[incident.Action(req.Action)] + "."})
	case errors.As(err, &de):
		back(flash{Kind: "error", Text: "Incident " + id + ": " + de.Message + problems(de.Problems)})
	case errors.Is(err, store.ErrNotFound):
		back(flash{Kind: "error", Text: "Incident " + id + " does not exist."})
	case errors.Is(err, dispatch.ErrUndelivered):
		u.log().WarnContext(r.Context(), "operator decision undelivered", "incident", id, "error", err)
		back(flash{Kind: "error", Text: "The decision could not be delivered to incident " + id + " right now; please try again."})
	default:
		u.log().ErrorContext(r.Context(), "operator decision", "incident", id, "error", err)
		back(flash{Kind: "error", Text: "The decision on incident " + id + " failed; please try again."})
	}
}

// problems lists a DecisionError's field problems for a notice.
func problems(ps []incident.Problem) string {
	if len(ps) == 0 {
		return ""
	}
	var parts []string
	for _, p := range ps {
		parts = append(parts, p.Field+": "+p.Message)
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

func itoa(n int) string { return strconv.Itoa(n) }

// ago says how long before now t was, coarsely: "just now", "5 min ago",
// "3 h ago", "2 days ago"; "in 5 min" for times ahead.
func ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d <= -time.Minute:
		return "in " + span(-d)
	case d < time.Minute:
		return "just now"
	}
	return span(d) + " ago"
}

func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return itoa(int(d/time.Second)) + " s"
	case d < time.Hour:
		return itoa(int(d/time.Minute)) + " min"
	case d < 48*time.Hour:
		return itoa(int(d/time.Hour)) + " h"
	}
	return itoa(int(d/(24*time.Hour))) + " days"
}
