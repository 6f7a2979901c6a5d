package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/smartmaint/smartmaint/internal/account"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/role"
)

// Users serves the administration of a tenant's users: who may sign in,
// with which roles. Every route needs the admin scope. Password hashes are
// never returned.
type Users struct {
	Store *account.Store
}

// Register mounts the user routes.
func (h *Users) Register(v1 *mux.Router) {
	v1.Handle("/users", Require(apikey.Admin, h.list)).Methods(http.MethodGet)
	v1.Handle("/users", Require(apikey.Admin, h.create)).Methods(http.MethodPost)
	v1.Handle("/users/{id}", Require(apikey.Admin, h.get)).Methods(http.MethodGet)
	v1.Handle("/users/{id}", Require(apikey.Admin, h.update)).Methods(http.MethodPatch)
	v1.Handle("/users/{id}", Require(apikey.Admin, h.delete)).Methods(http.MethodDelete)
}

// userBody is a new user. Without a password the user can only sign in
// through OIDC (once that exists).
type userBody struct {
	Email       string   `json:"email"`
	DisplayName string   `json:"display_name"`
	Roles       role.Set `json:"roles"`
	Password    string   `json:"password"`
	Disabled    bool     `json:"disabled"`
}

func (b userBody) problems() []ParamError {
	p := userProblems(&b.Email, &b.DisplayName, &b.Roles)
	if b.Password != "" {
		p = append(p, passwordProblems(b.Password, b.Email)...)
	}
	return p
}

// userPatch changes some fields of a user; absent (or null) fields stay.
type userPatch struct {
	Email       *string   `json:"email"`
	DisplayName *string   `json:"display_name"`
	Roles       *role.Set `json:"roles"`
	Disabled    *bool     `json:"disabled"`
	// Password resets the password (and unlocks the user).
	Password *string `json:"password"`
	// Unlock clears failed sign-ins and any lock-out.
	Unlock bool `json:"unlock"`
	// TechnicianID links the user to a technician record ("" unlinks).
	TechnicianID *string `json:"technician_id"`
}

func (b userPatch) problems() []ParamError {
	return userProblems(b.Email, b.DisplayName, b.Roles)
}

// userProblems checks the fields a create and a patch share; nil ones are
// absent.
func userProblems(email, displayName *string, roles *role.Set) []ParamError {
	var p []ParamError
	if email != nil {
		if err := account.CheckEmail(*email); err != nil {
			p = append(p, ParamError{"email", err.Error()})
		}
	}
	if displayName != nil && len(*displayName) > account.MaxDisplayNameLen {
		p = append(p, ParamError{"display_name", fmt.Sprintf("at most %d characters", account.MaxDisplayNameLen)})
	}
	if roles != nil {
		if _, err := roles.Normalize(); err != nil {
			p = append(p, ParamError{"roles", "each role is one of " + role.Names()})
		}
	}
	return p
}

func passwordProblems(password, email string) []ParamError {
	if err := account.CheckPassword(password, email); err != nil {
		return []ParamError{{"password", strings.TrimPrefix(err.Error(), account.ErrWeakPassword.Error()+": ")}}
	}
	return nil
}

const (
	invalidUser        = "invalid_user"
	invalidUserMessage = "the user is invalid"
)

func (h *Users) create(w http.ResponseWriter, r *http.Request) {
	var b userBody
	if !decodeValid(w, r, &b, invalidUser, invalidUserMessage) {
		return
	}
	u, err := h.Store.Create(r.Context(), Tenant(r), account.NewUser{Email: b.Email, DisplayName: b.DisplayName, Roles: b.Roles, Password: b.Password, Disabled: b.Disabled})
	writeCreated(w, r, "/api/v1/users/"+u.ID, u, err)
}

func (h *Users) update(w http.ResponseWriter, r *http.Request) {
	var b userPatch
	if !decodeValid(w, r, &b, invalidUser, invalidUserMessage) {
		return
	}
	tenant, id := Tenant(r), mux.Vars(r)["id"]
	if b.Password != nil {
		email := b.Email
		if email == nil {
			cur, err := h.Store.Get(r.Context(), tenant, id)
			if err != nil {
				WriteStoreError(w, r, err)
				return
			}
			email = &cur.Email
		}
		if p := passwordProblems(*b.Password, *email); len(p) > 0 {
			WriteError(w, r, http.StatusUnprocessableEntity, invalidUser, invalidUserMessage, p)
			return
		}
	}
	u, err := h.Store.Update(r.Context(), tenant, id, account.Change{Email: b.Email, DisplayName: b.DisplayName, Roles: b.Roles,
		Disabled: b.Disabled, Password: b.Password, Unlock: b.Unlock, TechnicianID: b.TechnicianID})
	writeStored(w, r, u, err)
}

func (h *Users) get(w http.ResponseWriter, r *http.Request) {
	u, err := h.Store.Get(r.Context(), Tenant(r), mux.Vars(r)["id"])
	writeStored(w, r, u, err)
}

func (h *Users) list(w http.ResponseWriter, r *http.Request) {
	page, ok := parsePage(w, r)
	if !ok {
		return
	}
	users, err := h.Store.List(r.Context(), Tenant(r), page)
	if err != nil {
		WriteStoreError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, pageBody(users, page, func(u account.User) string { return u.ID }))
}

func (h *Users) delete(w http.ResponseWriter, r *http.Request) {
	writeDeleted(w, r, h.Store.Delete(r.Context(), Tenant(r), mux.Vars(r)["id"]))
}
