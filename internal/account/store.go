package account

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/role"
	"github.com/smartmaint/smartmaint/internal/store"
)

// Store keeps users in PostgreSQL, every query inside the tenant's
// row-level security.
type Store struct {
	DB *store.DB
	// Params hash new passwords; zero means DefaultParams.
	Params Params
	// Lockout is the lock-out policy; zero fields take DefaultLockout's.
	Lockout Lockout
}

func (s *Store) params() Params {
	if s.Params == (Params{}) {
		return DefaultParams
	}
	return s.Params
}

func (s *Store) lockout() Lockout {
	return Lockout{
		Attempts: cmp.Or(s.Lockout.Attempts, DefaultLockout.Attempts),
		Window:   cmp.Or(s.Lockout.Window, DefaultLockout.Window),
		Duration: cmp.Or(s.Lockout.Duration, DefaultLockout.Duration),
	}
}

// dummyHashes holds one hash per Params, verified for unknown users so that
// they cost the same time as known ones.
var dummyHashes sync.Map // Params → string

func dummyHash(p Params) string {
	if h, ok := dummyHashes.Load(p); ok {
		return h.(string)
	}
	h, _ := dummyHashes.LoadOrStore(p, Hash("smartmaint dummy password", p))
	return h.(string)
}

const userColumns = `id::text, tenant_id, email, display_name, roles, password_hash IS NOT NULL, disabled,
	coalesce((SELECT t.id::text FROM technicians t WHERE t.tenant_id = users.tenant_id AND t.user_id = users.id), ''),
	failed_attempts, CASE WHEN locked_until > now() THEN locked_until END, last_sign_in_at, created_at, updated_at`

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	var roles []string
	err := row.Scan(append([]any{&u.ID, &u.TenantID, &u.Email, &u.DisplayName, &roles, &u.HasPassword, &u.Disabled, &u.TechnicianID,
		&u.FailedAttempts, &u.LockedUntil, &u.LastSignInAt, &u.CreatedAt, &u.UpdatedAt}, extra...)...)
	u.Roles = make(role.Set, len(roles))
	for i, r := range roles {
		u.Roles[i] = role.Role(r)
	}
	return u, err
}

func scanOne(row pgx.Row) (User, error) { return scanUser(row) }

// queryUser runs query in tenant and scans the one user it returns.
func (s *Store) queryUser(ctx context.Context, tenant, query string, args ...any) (User, error) {
	var u User
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, query, args...))
		return err
	})
	return u, err
}

// NewUser is what Create needs.
type NewUser struct {
	Email       string
	DisplayName string
	Roles       role.Set
	// Password is empty for a user who will sign in through OIDC.
	Password string
	Disabled bool
}

// invalid wraps a caller's mistake as store.ErrInvalid.
func invalid(field string, err error) error {
	return fmt.Errorf("account: %w: %s: %w", store.ErrInvalid, field, err)
}

func checkCommon(email, displayName string, roles role.Set) (role.Set, error) {
	if err := CheckEmail(email); err != nil {
		return nil, invalid("email", err)
	}
	if len(displayName) > MaxDisplayNameLen {
		return nil, invalid("display_name", fmt.Errorf("at most %d characters", MaxDisplayNameLen))
	}
	roles, err := roles.Normalize()
	if err != nil {
		return nil, invalid("roles", err)
	}
	return roles, nil
}

func roleStrings(roles role.Set) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = string(r)
	}
	return out
}

// Create adds a user to tenant. An email already taken in the tenant (in
// any case) is store.ErrConflict; bad fields and a refused password are
// store.ErrInvalid.
func (s *Store) Create(ctx context.Context, tenant string, n NewUser) (User, error) {
	roles, err := checkCommon(n.Email, n.DisplayName, n.Roles)
	if err != nil {
		return User{}, err
	}
	var hash *string
	if n.Password != "" {
		if err := CheckPassword(n.Password, n.Email); err != nil {
			return User{}, invalid("password", err)
		}
		h := Hash(n.Password, s.params())
		hash = &h
	}
	u, err := s.queryUser(ctx, tenant, `
		INSERT INTO users (tenant_id, email, display_name, roles, password_hash, disabled)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING `+userColumns, tenant, n.Email, strings.TrimSpace(n.DisplayName), roleStrings(roles), hash, n.Disabled)
	if err != nil {
		return User{}, fmt.Errorf("account: create user: %w", store.MapError(err))
	}
	return u, nil
}

// Get returns the user with id.
func (s *Store) Get(ctx context.Context, tenant, id string) (User, error) {
	return store.GetByID(ctx, s.DB, tenant, "user", id, `SELECT `+userColumns+` FROM users WHERE id = $1`, scanOne)
}

// List returns the tenant's users ordered by email (ignoring case), then
// id; p.After is the id of the last user of the previous page.
func (s *Store) List(ctx context.Context, tenant string, p store.Page) ([]User, error) {
	if p.After != "" {
		if _, err := s.Get(ctx, tenant, p.After); err != nil {
			return nil, fmt.Errorf("account: list users: %w: after must be a user id", store.ErrInvalid)
		}
	}
	var out []User
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = store.Collect(ctx, tx, scanOne, `
			SELECT `+userColumns+` FROM users
			WHERE $1 = '' OR (lower(email), id) > (SELECT lower(email), id FROM users WHERE id = $1::uuid)
			ORDER BY lower(email), id LIMIT $2`, p.After, p.Size())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("account: list users: %w", err)
	}
	return out, nil
}

// Change is an update of some of a user's fields: nil leaves a field as it
// is.
type Change struct {
	Email       *string
	DisplayName *string
	Roles       *role.Set
	Disabled    *bool
	// Password sets a new password (checked by CheckPassword) and unlocks.
	Password *string
	// Unlock clears the failed attempts and any lock.
	Unlock bool
	// TechnicianID links the user to this technician record ("" unlinks),
	// as SetTechnician does; an unknown technician is store.ErrInvalid.
	TechnicianID *string
}

// Update applies c to the user with id and returns the result.
func (s *Store) Update(ctx context.Context, tenant, id string, c Change) (User, error) {
	cur, err := s.Get(ctx, tenant, id)
	if err != nil {
		return User{}, err
	}
	email, name, roles := cur.Email, cur.DisplayName, cur.Roles
	if c.Email != nil {
		email = *c.Email
	}
	if c.DisplayName != nil {
		name = strings.TrimSpace(*c.DisplayName)
	}
	if c.Roles != nil {
		roles = *c.Roles
	}
	if roles, err = checkCommon(email, name, roles); err != nil {
		return User{}, err
	}
	var hash *string
	if c.Password != nil {
		if err := CheckPassword(*c.Password, email); err != nil {
			return User{}, invalid("password", err)
		}
		h := Hash(*c.Password, s.params())
		hash = &h
	}
	disabled := cur.Disabled
	if c.Disabled != nil {
		disabled = *c.Disabled
	}
	if c.TechnicianID != nil && *c.TechnicianID != "" && uuid.Validate(*c.TechnicianID) != nil {
		return User{}, invalid("technician_id", fmt.Errorf("%q is not a technician id", *c.TechnicianID))
	}
	unlock := c.Unlock || c.Password != nil
	var u User
	err = s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		if c.TechnicianID != nil {
			err := setTechnician(ctx, tx, id, *c.TechnicianID)
			if errors.Is(err, pgx.ErrNoRows) {
				return invalid("technician_id", fmt.Errorf("no technician %s", *c.TechnicianID))
			}
			if err != nil {
				return err
			}
		}
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `
		UPDATE users SET email = $2, display_name = $3, roles = $4, disabled = $5,
			password_hash = coalesce($6, password_hash),
			failed_attempts = CASE WHEN $7 THEN 0 ELSE failed_attempts END,
			first_failed_at = CASE WHEN $7 THEN NULL ELSE first_failed_at END,
			locked_until = CASE WHEN $7 THEN NULL ELSE locked_until END,
			updated_at = now()
		WHERE id = $1
		RETURNING `+userColumns, id, email, name, roleStrings(roles), disabled, hash, unlock))
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("account: update user: %w", store.NotFound(err, "user", id))
	}
	return u, nil
}

// Delete removes the user with id; a technician linked to them is unlinked.
func (s *Store) Delete(ctx context.Context, tenant, id string) error {
	return store.DeleteByID(ctx, s.DB, tenant, "user", id, `DELETE FROM users WHERE id = $1`)
}

// SetTechnician links user userID to the technician record technicianID,
// unlinking any technician linked to the user before; "" only unlinks. A
// technician already linked to another user is store.ErrConflict.
func (s *Store) SetTechnician(ctx context.Context, tenant, userID, technicianID string) error {
	if uuid.Validate(userID) != nil {
		return fmt.Errorf("account: user %q: %w", userID, store.ErrNotFound)
	}
	if technicianID != "" && uuid.Validate(technicianID) != nil {
		return fmt.Errorf("account: technician %q: %w", technicianID, store.ErrNotFound)
	}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error { return setTechnician(ctx, tx, userID, technicianID) })
	if err != nil {
		return fmt.Errorf("account: link technician: %w", store.NotFound(store.MapError(err), "technician", technicianID))
	}
	return nil
}

// setTechnician is SetTechnician in tx; an unknown technician is
// pgx.ErrNoRows.
func setTechnician(ctx context.Context, tx pgx.Tx, userID, technicianID string) error {
	if _, err := tx.Exec(ctx, `UPDATE technicians SET user_id = NULL, updated_at = now() WHERE user_id = $1 AND id::text <> $2`, userID, technicianID); err != nil {
		return err
	}
	if technicianID == "" {
		return nil
	}
	// The condition is on the row itself, so a concurrent link of the
	// same technician to another user is seen after its row lock.
	tag, err := tx.Exec(ctx, `UPDATE technicians SET user_id = $1, updated_at = now() WHERE id = $2 AND (user_id IS NULL OR user_id = $1)`,
		userID, technicianID)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM technicians WHERE id = $1)`, technicianID).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return pgx.ErrNoRows
	}
	return fmt.Errorf("%w: technician %s is linked to another user", store.ErrConflict, technicianID)
}

// Authenticate checks email (any case) and password for tenant and returns
// the user. A wrong password or an unknown email is ErrBadCredentials, and
// both cost one argon2id hash, so neither the answer nor its time tells
// whether the email exists; a user without a password (OIDC only) is
// ErrBadCredentials too. Each wrong password counts towards the lock-out
// atomically in PostgreSQL; a correct one while locked is a *LockedError
// (errors.Is ErrLocked), for a disabled user ErrDisabled, and otherwise it
// resets the count and records the sign-in.
func (s *Store) Authenticate(ctx context.Context, tenant, email, password string) (User, error) {
	var hash *string
	var u User
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx, `SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower($1)`, email), &hash)
		return err
	})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("account: authenticate: %w", err)
	}
	if hash == nil {
		Verify(password, dummyHash(s.params()))
		return User{}, ErrBadCredentials
	}
	ok, err := Verify(password, *hash)
	if err != nil {
		return User{}, fmt.Errorf("account: authenticate %s: %w", u.ID, err)
	}
	if !ok {
		if err := s.countFailure(ctx, tenant, u.ID); err != nil {
			return User{}, err
		}
		return User{}, ErrBadCredentials
	}
	return s.signedIn(ctx, tenant, u.ID)
}

// fresh says whether a failure starts a new lock-out window ($2 is the
// window in microseconds) and failures is the count after this one. They
// are spelled inline, not in a CTE: a CTE's row comes from the statement's
// snapshot, while the SET expressions are evaluated again on the newest row
// version when a concurrent UPDATE went first.
const (
	fresh    = `(first_failed_at IS NULL OR first_failed_at <= now() - $2 * interval '1 microsecond' OR locked_until <= now())`
	failures = `(CASE WHEN ` + fresh + ` THEN 1 ELSE failed_attempts + 1 END)`
)

// countFailure counts one wrong password for user id. The row lock of the
// UPDATE serialises concurrent guesses, and once one of them locks the user
// the others no longer match, so no more than Attempts are counted per
// lock. A window starts afresh once the previous one or a lock has expired.
func (s *Store) countFailure(ctx context.Context, tenant, id string) error {
	l := s.lockout()
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			UPDATE users SET
				failed_attempts = `+failures+`,
				first_failed_at = CASE WHEN `+fresh+` THEN now() ELSE first_failed_at END,
				locked_until = CASE
					WHEN `+failures+` >= $3 THEN now() + $4 * interval '1 microsecond'
					WHEN `+fresh+` THEN NULL
					ELSE locked_until END
			WHERE id = $1 AND (locked_until IS NULL OR locked_until <= now())`,
			id, l.Window.Microseconds(), l.Attempts, l.Duration.Microseconds())
		return err
	})
	if err != nil {
		return fmt.Errorf("account: count failed sign-in: %w", err)
	}
	return nil
}

// signedIn resets user id's failures and records the sign-in, unless the
// user is disabled or locked.
func (s *Store) signedIn(ctx context.Context, tenant, id string) (User, error) {
	u, err := s.queryUser(ctx, tenant, `
		UPDATE users SET failed_attempts = 0, first_failed_at = NULL, locked_until = NULL, last_sign_in_at = now()
		WHERE id = $1 AND NOT disabled AND (locked_until IS NULL OR locked_until <= now())
		RETURNING `+userColumns, id)
	if err == nil {
		return u, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("account: record sign-in: %w", err)
	}
	var disabled bool
	var until *time.Time
	err = s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT disabled, locked_until FROM users WHERE id = $1`, id).Scan(&disabled, &until)
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return User{}, ErrBadCredentials // deleted meanwhile
	case err != nil:
		return User{}, fmt.Errorf("account: authenticate: %w", err)
	case disabled:
		return User{}, ErrDisabled
	case until != nil:
		return User{}, &LockedError{Until: *until}
	}
	return User{}, ErrBadCredentials
}
