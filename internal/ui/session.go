package ui

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Cookies of the operator page. Both are HttpOnly and SameSite=Strict and
// live under /ui only.
const (
	// keyCookie holds the API key the operator signed in with.
	keyCookie = "smartmaint_ui_key"
	// loginCookie holds the login form's CSRF token (double submit).
	loginCookie = "smartmaint_ui_login"
	// SessionTTL is how long the key cookie lasts.
	SessionTTL = 12 * time.Hour
)

// csrfToken is the token forms of a signed-in operator carry: an HMAC of a
// fixed label under the API key. It is stable for the session, reveals
// nothing about the key, cannot be computed without it, and needs no state
// shared between API replicas.
func csrfToken(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("smartmaint operator page csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validToken compares a submitted token with the expected one in constant
// time.
func validToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// newLoginToken returns a random token for the login form.
func newLoginToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secure reports whether the browser reached us over HTTPS (directly or
// through a proxy that says so), which decides the cookies' Secure flag.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/ui",
		MaxAge: int(maxAge / time.Second), HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: "", Path: "/ui", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// sameOrigin rejects form posts a browser sent from another site: the
// Origin header (or, without it, the Referer) must name this host. Requests
// with neither come from non-browser clients, which carry no cookies of
// ours anyway.
func sameOrigin(r *http.Request) bool {
	from := r.Header.Get("Origin")
	if from == "" {
		from = r.Header.Get("Referer")
	}
	if from == "" {
		return true
	}
	u, err := url.Parse(from)
	return err == nil && u.Host == r.Host
}
