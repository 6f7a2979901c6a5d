package account_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/account"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/role"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

const goodPassword = "correct horse battery staple"

func newStore(t *testing.T, l account.Lockout) *account.Store {
	t.Helper()
	db, _ := testenv.DB(t)
	testenv.Tenant(t, db, "acme")
	testenv.Tenant(t, db, "rival")
	return &account.Store{DB: db, Params: fast, Lockout: l}
}

func TestStoreCRUDAndIsolation(t *testing.T) {
	s := newStore(t, account.Lockout{})
	ctx := context.Background()
	ada, err := s.Create(ctx, "acme", account.NewUser{Email: "Ada@Example.com", DisplayName: " Ada ", Roles: role.Set{role.Admin, role.Viewer}, Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if ada.TenantID != "acme" || ada.DisplayName != "Ada" || !ada.HasPassword || len(ada.Roles) != 2 || ada.Roles[0] != role.Viewer {
		t.Errorf("created %+v", ada)
	}
	oidc, err := s.Create(ctx, "acme", account.NewUser{Email: "bob@example.com", Roles: role.Set{role.Operator}})
	if err != nil || oidc.HasPassword {
		t.Fatalf("create without password = %+v, %v", oidc, err)
	}
	// Email is unique per tenant regardless of case, but free in another tenant.
	if _, err := s.Create(ctx, "acme", account.NewUser{Email: "ada@example.COM"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate email: %v, want ErrConflict", err)
	}
	if _, err := s.Create(ctx, "rival", account.NewUser{Email: "ada@example.com", Roles: role.Set{role.Viewer}}); err != nil {
		t.Errorf("same email in another tenant: %v", err)
	}
	for name, n := range map[string]account.NewUser{
		"bad email":    {Email: "not an email"},
		"unknown role": {Email: "c@example.com", Roles: role.Set{"root"}},
		"weak":         {Email: "c@example.com", Password: "password1234"},
	} {
		if _, err := s.Create(ctx, "acme", n); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}

	// RLS: the rival tenant sees none of acme's users.
	if _, err := s.Get(ctx, "rival", ada.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rival reads acme's user: %v", err)
	}
	if _, err := s.Update(ctx, "rival", ada.ID, account.Change{Unlock: true}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rival updates acme's user: %v", err)
	}
	if err := s.Delete(ctx, "rival", ada.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rival deletes acme's user: %v", err)
	}
	if _, err := s.Authenticate(ctx, "rival", "Ada@Example.com", goodPassword); !errors.Is(err, account.ErrBadCredentials) {
		t.Errorf("acme's password in rival: %v", err)
	}
	list, err := s.List(ctx, "acme", store.Page{Limit: 10})
	if err != nil || len(list) != 2 || list[0].ID != ada.ID {
		t.Fatalf("list = %+v, %v", list, err)
	}
	if page, err := s.List(ctx, "acme", store.Page{Limit: 10, After: ada.ID}); err != nil || len(page) != 1 || page[0].ID != oidc.ID {
		t.Errorf("second page = %+v, %v", page, err)
	}

	// Update: roles, disable, password.
	roles := role.Set{role.Planner}
	disabled, pw := true, "another long passphrase"
	u, err := s.Update(ctx, "acme", oidc.ID, account.Change{Roles: &roles, Disabled: &disabled, Password: &pw})
	if err != nil || !u.Disabled || !u.HasPassword || len(u.Roles) != 1 || u.Roles[0] != role.Planner || !u.UpdatedAt.After(oidc.UpdatedAt) {
		t.Errorf("update = %+v, %v", u, err)
	}
	if _, err := s.Authenticate(ctx, "acme", "bob@example.com", pw); !errors.Is(err, account.ErrDisabled) {
		t.Errorf("disabled user: %v, want ErrDisabled", err)
	}
	// A user without a password cannot sign in with one.
	if _, err := s.Create(ctx, "acme", account.NewUser{Email: "carol@example.com"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "acme", "carol@example.com", ""); !errors.Is(err, account.ErrBadCredentials) {
		t.Errorf("user without password: %v", err)
	}

	// The technician link.
	ms := &maintenance.Store{DB: s.DB}
	tech, err := ms.CreateTechnician(ctx, "acme", maintenance.Technician{Name: "Maria", Active: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetTechnician(ctx, "acme", ada.ID, tech.ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "acme", ada.ID); got.TechnicianID != tech.ID {
		t.Errorf("linked user's technician = %q, want %q", got.TechnicianID, tech.ID)
	}
	if got, _ := ms.GetTechnician(ctx, "acme", tech.ID); got.UserID != ada.ID {
		t.Errorf("technician's user = %q, want %q", got.UserID, ada.ID)
	}
	if err := s.SetTechnician(ctx, "acme", oidc.ID, tech.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("link a technician of another user: %v, want ErrConflict", err)
	}
	if err := s.SetTechnician(ctx, "acme", ada.ID, "00000000-0000-4000-8000-000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("link an unknown technician: %v, want ErrNotFound", err)
	}
	if err := s.SetTechnician(ctx, "rival", ada.ID, tech.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rival links acme's technician: %v", err)
	}
	if got, _ := s.Get(ctx, "acme", ada.ID); got.TechnicianID != tech.ID {
		t.Errorf("after the refused links the technician is %q, want %q", got.TechnicianID, tech.ID)
	}

	if err := s.Delete(ctx, "acme", ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "acme", ada.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user: %v", err)
	}
	if _, err := ms.GetTechnician(ctx, "acme", tech.ID); err != nil {
		t.Errorf("deleting the user removed the technician: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	s := newStore(t, account.Lockout{})
	ctx := context.Background()
	ada, err := s.Create(ctx, "acme", account.NewUser{Email: "ada@example.com", Roles: role.Set{role.Operator}, Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, "acme", "nobody@example.com", goodPassword); !errors.Is(err, account.ErrBadCredentials) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := s.Authenticate(ctx, "acme", "ada@example.com", "wrong password here"); !errors.Is(err, account.ErrBadCredentials) {
		t.Errorf("wrong password: %v", err)
	}
	if u, _ := s.Get(ctx, "acme", ada.ID); u.FailedAttempts != 1 {
		t.Errorf("failed attempts = %d, want 1", u.FailedAttempts)
	}
	u, err := s.Authenticate(ctx, "acme", "ADA@example.com", goodPassword)
	if err != nil || u.ID != ada.ID || u.LastSignInAt == nil || u.FailedAttempts != 0 {
		t.Errorf("sign-in = %+v, %v; want the user, signed in, failures reset", u, err)
	}
}

// TestLockoutConcurrent guesses wrong from 20 goroutines at once: exactly
// Attempts failures are counted, the user is locked, the right password is
// refused while locked and accepted once the lock has passed.
func TestLockoutConcurrent(t *testing.T) {
	l := account.Lockout{Attempts: 5, Window: time.Minute, Duration: 2 * time.Second}
	s := newStore(t, l)
	ctx := context.Background()
	ada, err := s.Create(ctx, "acme", account.NewUser{Email: "ada@example.com", Roles: role.Set{role.Viewer}, Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := s.Authenticate(ctx, "acme", "ada@example.com", "wrong guess number "+string(rune('a'+i)))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, account.ErrBadCredentials) {
			t.Errorf("wrong guess: %v, want ErrBadCredentials", err)
		}
	}
	u, err := s.Get(ctx, "acme", ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.FailedAttempts != l.Attempts || !u.Locked(time.Now()) {
		t.Fatalf("after 20 wrong guesses: failed_attempts = %d, locked until %v; want %d and locked", u.FailedAttempts, u.LockedUntil, l.Attempts)
	}
	_, err = s.Authenticate(ctx, "acme", "ada@example.com", goodPassword)
	var locked *account.LockedError
	if !errors.As(err, &locked) || !errors.Is(err, account.ErrLocked) || !locked.Until.Equal(*u.LockedUntil) {
		t.Fatalf("right password while locked: %v, want a LockedError until %v", err, u.LockedUntil)
	}
	time.Sleep(time.Until(*u.LockedUntil) + 100*time.Millisecond)
	if _, err := s.Authenticate(ctx, "acme", "ada@example.com", goodPassword); err != nil {
		t.Fatalf("after the lock: %v", err)
	}
	// An admin unlocks early.
	for range l.Attempts {
		s.Authenticate(ctx, "acme", "ada@example.com", "wrong again, sorry")
	}
	if u, _ := s.Get(ctx, "acme", ada.ID); !u.Locked(time.Now()) {
		t.Fatal("not locked again")
	}
	if u, err := s.Update(ctx, "acme", ada.ID, account.Change{Unlock: true}); err != nil || u.Locked(time.Now()) || u.FailedAttempts != 0 {
		t.Fatalf("unlock = %+v, %v", u, err)
	}
	if _, err := s.Authenticate(ctx, "acme", "ada@example.com", goodPassword); err != nil {
		t.Errorf("after unlock: %v", err)
	}
}

// BenchmarkAuthenticate compares the cost of an unknown email with that of
// a wrong and a right password at DefaultParams: the first two must be
// alike so that timing does not tell which emails exist.
func BenchmarkAuthenticate(b *testing.B) {
	db, _ := testenv.DB(b)
	testenv.Tenant(b, db, "acme")
	s := &account.Store{DB: db, Lockout: account.Lockout{Attempts: 1 << 30}}
	ctx := context.Background()
	if _, err := s.Create(ctx, "acme", account.NewUser{Email: "ada@example.com", Password: goodPassword}); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, email, password string }{
		{"unknown email", "nobody@example.com", goodPassword},
		{"wrong password", "ada@example.com", "wrong password here"},
		{"right password", "ada@example.com", goodPassword},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s.Authenticate(ctx, "acme", bc.email, bc.password)
			}
		})
	}
}
