package api_test

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/account"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/store"
)

// newUsersServer serves the user routes; its store hashes cheaply.
func newUsersServer(t *testing.T) *server {
	t.Helper()
	s, _ := startServer(t, func(db *store.DB, _ *slog.Logger) []api.Routes {
		return []api.Routes{&api.Technicians{Store: &maintenance.Store{DB: db}}, &api.Users{Store: &account.Store{DB: db, Params: account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}}}
	})
	return s
}

func TestUsersLifecycle(t *testing.T) {
	s := newUsersServer(t)
	code, body, hdr := s.do(t, "admin", "POST", "/api/v1/users", "application/json",
		`{"email":"ada@example.com","display_name":"Ada","roles":["operator","planner"],"password":"correct horse battery staple"}`)
	if code != 201 {
		t.Fatalf("create: %d %v", code, body)
	}
	id, _ := body["id"].(string)
	if hdr.Get("Location") != "/api/v1/users/"+id || body["has_password"] != true {
		t.Errorf("create answered %v at %q", body, hdr.Get("Location"))
	}
	for _, k := range []string{"password", "password_hash"} {
		if _, ok := body[k]; ok {
			t.Errorf("the response carries %q", k)
		}
	}
	if code, body, _ := s.do(t, "admin", "POST", "/api/v1/users", "application/json", `{"email":"ADA@example.com"}`); code != 409 {
		t.Errorf("same email in another case: %d %v, want 409", code, body)
	}
	if code, body, _ := s.do(t, "admin", "POST", "/api/v1/users", "application/json", `{"email":"oidc@example.com","roles":["viewer"]}`); code != 201 || body["has_password"] != false {
		t.Errorf("create without a password: %d %v", code, body)
	}
	code, body, _ = s.do(t, "admin", "PATCH", "/api/v1/users/"+id, "application/json", `{"roles":["admin"],"disabled":true,"unlock":true}`)
	if code != 200 || body["disabled"] != true || len(body["roles"].([]any)) != 1 {
		t.Errorf("patch: %d %v", code, body)
	}
	if code, body, _ := s.do(t, "admin", "PATCH", "/api/v1/users/"+id, "application/json", `{"password":"another long passphrase"}`); code != 200 {
		t.Errorf("reset password: %d %v", code, body)
	}
	// Link the user to a technician, then unlink.
	_, tech, _ := s.do(t, "admin", "POST", "/api/v1/technicians", "application/json", `{"name":"Maria"}`)
	techID, _ := tech["id"].(string)
	if code, body, _ := s.do(t, "admin", "PATCH", "/api/v1/users/"+id, "application/json", `{"technician_id":"`+techID+`"}`); code != 200 || body["technician_id"] != techID {
		t.Errorf("link technician: %d %v", code, body)
	}
	if code, body, _ := s.do(t, "admin", "GET", "/api/v1/technicians/"+techID, "", ""); code != 200 || body["user_id"] != id {
		t.Errorf("linked technician: %d %v", code, body)
	}
	if code, body, _ := s.do(t, "admin", "PATCH", "/api/v1/users/"+id, "application/json", `{"technician_id":""}`); code != 200 || body["technician_id"] != nil {
		t.Errorf("unlink technician: %d %v", code, body)
	}
	code, body, _ = s.do(t, "admin", "GET", "/api/v1/users?limit=1", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 1 || body["next_after"] != id {
		t.Errorf("list: %d %v", code, body)
	}
	if code, body, _ := s.do(t, "admin", "GET", "/api/v1/users/"+id, "", ""); code != 200 || body["email"] != "ada@example.com" {
		t.Errorf("get: %d %v", code, body)
	}
	if code, _, _ := s.do(t, "admin", "DELETE", "/api/v1/users/"+id, "", ""); code != 204 {
		t.Errorf("delete: %d", code)
	}
	if code, _, _ := s.do(t, "admin", "GET", "/api/v1/users/"+id, "", ""); code != 404 {
		t.Errorf("get deleted: %d", code)
	}
}

func TestUsersRefused(t *testing.T) {
	s := newUsersServer(t)
	_, body, _ := s.do(t, "admin", "POST", "/api/v1/users", "application/json", `{"email":"ada@example.com","roles":["viewer"]}`)
	id, _ := body["id"].(string)
	_, rival, _ := s.do(t, "rival", "POST", "/api/v1/users", "application/json", `{"email":"rival@example.com","roles":["viewer"]}`)
	rivalID, _ := rival["id"].(string)
	tests := []struct {
		name, key, method, path, body string
		status                        int
		code, field, message          string
	}{
		{"no key", "", "GET", "/api/v1/users", "", 401, "", "", ""},
		{"reader lists", "reader", "GET", "/api/v1/users", "", 403, "forbidden", "", ""},
		{"writer creates", "writer", "POST", "/api/v1/users", `{"email":"x@example.com"}`, 403, "forbidden", "", ""},
		{"reader patches", "reader", "PATCH", "/api/v1/users/" + id, `{"disabled":true}`, 403, "forbidden", "", ""},
		{"reader deletes", "reader", "DELETE", "/api/v1/users/" + id, "", 403, "forbidden", "", ""},
		{"malformed", "admin", "POST", "/api/v1/users", `{"email":`, 400, "malformed_body", "", ""},
		{"unknown field", "admin", "POST", "/api/v1/users", `{"email":"x@example.com","password_hash":"$argon2id$"}`, 400, "malformed_body", "", ""},
		{"no email", "admin", "POST", "/api/v1/users", `{}`, 422, "invalid_user", "email", "plain address"},
		{"bad email", "admin", "POST", "/api/v1/users", `{"email":"Ada <ada@example.com>"}`, 422, "invalid_user", "email", "plain address"},
		{"unknown role", "admin", "POST", "/api/v1/users", `{"email":"x@example.com","roles":["root"]}`, 422, "invalid_user", "roles", "viewer, operator"},
		{"short password", "admin", "POST", "/api/v1/users", `{"email":"x@example.com","password":"hunter2"}`, 422, "invalid_user", "password", "at least 12"},
		{"common password", "admin", "POST", "/api/v1/users", `{"email":"x@example.com","password":"iloveyou1234"}`, 422, "invalid_user", "password", "most common"},
		{"password is email", "admin", "POST", "/api/v1/users", `{"email":"long.name@example.com","password":"Long.Name@example.com"}`, 422, "invalid_user", "password", "email"},
		{"patch password is email", "admin", "PATCH", "/api/v1/users/" + id, `{"password":"ADA@example.com"}`, 422, "invalid_user", "password", "email"},
		{"patch bad role", "admin", "PATCH", "/api/v1/users/" + id, `{"roles":["superuser"]}`, 422, "invalid_user", "roles", ""},
		{"patch unknown technician", "admin", "PATCH", "/api/v1/users/" + id, `{"technician_id":"00000000-0000-4000-8000-000000000000"}`, 422, "invalid", "", ""},
		{"patch unknown", "admin", "PATCH", "/api/v1/users/00000000-0000-4000-8000-000000000000", `{"disabled":true}`, 404, "not_found", "", ""},
		{"not a uuid", "admin", "GET", "/api/v1/users/ada", "", 404, "not_found", "", ""},
		{"bad limit", "admin", "GET", "/api/v1/users?limit=0", "", 400, "invalid_query", "limit", ""},
		// Tenant isolation: acme's admin does not see the rival's user, and
		// the other way round.
		{"get the rival's user", "admin", "GET", "/api/v1/users/" + rivalID, "", 404, "not_found", "", ""},
		{"patch the rival's user", "admin", "PATCH", "/api/v1/users/" + rivalID, `{"disabled":true}`, 404, "not_found", "", ""},
		{"delete the rival's user", "admin", "DELETE", "/api/v1/users/" + rivalID, "", 404, "not_found", "", ""},
		{"rival reads acme's user", "rival", "GET", "/api/v1/users/" + id, "", 404, "not_found", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body, _ := s.do(t, tt.key, tt.method, tt.path, "application/json", tt.body)
			if code != tt.status || (tt.code != "" && errCode(body) != tt.code) {
				t.Fatalf("%d %v, want %d %s", code, body, tt.status, tt.code)
			}
			if tt.field == "" {
				return
			}
			details, _ := body["error"].(map[string]any)["details"].([]any)
			for _, d := range details {
				d, _ := d.(map[string]any)
				if d["param"] == tt.field && strings.Contains(d["message"].(string), tt.message) {
					return
				}
			}
			t.Errorf("details %v do not name %s with %q", details, tt.field, tt.message)
		})
	}
	code, body, _ := s.do(t, "rival", "GET", "/api/v1/users", "", "")
	if items, _ := body["items"].([]any); code != 200 || len(items) != 1 || items[0].(map[string]any)["email"] != "rival@example.com" {
		t.Errorf("rival's listing: %d %v", code, body)
	}
}
