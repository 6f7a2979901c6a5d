package app

import (
	"context"
	"testing"

	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/role"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// TestEnsureDemoUsers creates the demo users once, signs them in with the
// configured passwords and links the technician user once the crew exists.
func TestEnsureDemoUsers(t *testing.T) {
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	db, _ := testenv.DB(t)
	ctx := context.Background()
	tenant := testenv.Tenant(t, db, cfg.DevTenant)
	if err := EnsureDemoUsers(ctx, cfg, db, tenant); err != nil {
		t.Fatal(err)
	}
	tech, err := (&maintenance.Store{DB: db}).CreateTechnician(ctx, tenant, maintenance.Technician{Name: "Maria Lopez (day shift)", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	// A restart finds them and now links the crew's first technician.
	if err := EnsureDemoUsers(ctx, cfg, db, tenant); err != nil {
		t.Fatal(err)
	}
	s := newAccountStore(cfg, db)
	users, err := s.List(ctx, tenant, store.Page{Limit: 10})
	if err != nil || len(users) != 3 {
		t.Fatalf("users = %+v, %v; want 3", users, err)
	}
	for _, u := range demoUsers(cfg) {
		got, err := s.Authenticate(ctx, tenant, u.Email, u.Password)
		if err != nil {
			t.Errorf("%s: %v", u.Email, err)
			continue
		}
		if got.Roles.May(role.WorkAssigned) != (u.Email == DemoTechnicianEmail || u.Email == DemoAdminEmail) {
			t.Errorf("%s holds %v", u.Email, got.Roles)
		}
		if (got.TechnicianID == tech.ID) != (u.Email == DemoTechnicianEmail) {
			t.Errorf("%s is linked to technician %q", u.Email, got.TechnicianID)
		}
	}
}
