package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/account"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/role"
	"github.com/smartmaint/smartmaint/internal/store"
)

// usersAPI serves the administration of each tenant's users.
func usersAPI() fx.Option {
	return fx.Provide(
		newAccountStore,
		asRoutes(func(s *account.Store) *api.Users { return &api.Users{Store: s} }),
	)
}

// newAccountStore is the user store with the configured lock-out.
func newAccountStore(cfg config.Config, db *store.DB) *account.Store {
	return &account.Store{DB: db, Lockout: account.Lockout{
		Attempts: cfg.UserLockoutAttempts, Window: cfg.UserLockoutWindow, Duration: cfg.UserLockoutDuration,
	}}
}

// The demo users `smartmaint dev` creates; their passwords are
// DEV_ADMIN_PASSWORD, DEV_OPERATOR_PASSWORD and DEV_TECHNICIAN_PASSWORD.
const (
	DemoAdminEmail      = "admin@demo.localhost"
	DemoOperatorEmail   = "operator@demo.localhost"
	DemoTechnicianEmail = "technician@demo.localhost"
)

// demoUsers are the demo users with their configured passwords.
func demoUsers(cfg config.Config) []account.NewUser {
	return []account.NewUser{
		{Email: DemoAdminEmail, DisplayName: "Demo admin", Roles: role.Set{role.Admin}, Password: cfg.DevAdminPassword},
		{Email: DemoOperatorEmail, DisplayName: "Demo operator", Roles: role.Set{role.Operator}, Password: cfg.DevOperatorPassword},
		{Email: DemoTechnicianEmail, DisplayName: "Demo technician", Roles: role.Set{role.Technician}, Password: cfg.DevTechnicianPassword},
	}
}

// EnsureDemoUsers creates the demo users of tenant when missing (an existing
// one keeps its password and roles) and links the technician user to the
// tenant's first technician when neither is linked yet.
func EnsureDemoUsers(ctx context.Context, cfg config.Config, db *store.DB, tenant string) error {
	s := newAccountStore(cfg, db)
	for _, u := range demoUsers(cfg) {
		if _, err := s.Create(ctx, tenant, u); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("demo user %s: %w", u.Email, err)
		}
	}
	return linkDemoTechnician(ctx, s, db, tenant)
}

// linkDemoTechnician links the demo technician user to the first
// technician (by name) of tenant, if there is one and neither is linked.
func linkDemoTechnician(ctx context.Context, s *account.Store, db *store.DB, tenant string) error {
	techs, err := (&maintenance.Store{DB: db}).ListTechnicians(ctx, tenant, maintenance.TechnicianFilter{}, store.Page{Limit: 1})
	if err != nil || len(techs) == 0 {
		return err
	}
	users, err := s.List(ctx, tenant, store.Page{Limit: 1000})
	if err != nil {
		return err
	}
	var user *account.User
	for i, u := range users {
		if u.TechnicianID == techs[0].ID {
			return nil // the first technician is someone's already
		}
		if u.Email == DemoTechnicianEmail {
			user = &users[i]
		}
	}
	if user == nil || user.TechnicianID != "" {
		return nil
	}
	return s.SetTechnician(ctx, tenant, user.ID, techs[0].ID)
}

// linkDemoTechnicianLogged is linkDemoTechnician for the simulator's
// after-setup hook, once the demo crew exists; failures are only logged.
func linkDemoTechnicianLogged(ctx context.Context, cfg config.Config, db *store.DB, log *slog.Logger) {
	if err := linkDemoTechnician(ctx, newAccountStore(cfg, db), db, cfg.DevTenant); err != nil {
		log.Warn("link the demo technician user", "error", err)
	}
}

// usersBanner is the dev banner's line about the demo users.
func usersBanner(cfg config.Config) string {
	var b strings.Builder
	for i, u := range demoUsers(cfg) {
		if i > 0 {
			b.WriteString("\n               ")
		}
		fmt.Fprintf(&b, "%-26s password %-26s (%s)", u.Email, u.Password, u.Roles[0])
	}
	return b.String()
}
