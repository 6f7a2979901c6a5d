// Package account keeps the users of each tenant: who they are, the roles
// they hold (internal/role), their argon2id password hashes and the
// lock-out that stops password guessing. Authenticate is the check a
// sign-in endpoint calls; sessions, OIDC and the route table build on it.
package account

import (
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/smartmaint/smartmaint/internal/role"
)

// User is a person of one tenant who can sign in. The password hash never
// leaves the package; HasPassword says whether there is one (a user without
// signs in through OIDC).
type User struct {
	ID          string   `json:"id"`
	TenantID    string   `json:"tenant"`
	Email       string   `json:"email"`
	DisplayName string   `json:"display_name"`
	Roles       role.Set `json:"roles"`
	HasPassword bool     `json:"has_password"`
	Disabled    bool     `json:"disabled"`
	// TechnicianID is the technician record linked to this user, if any.
	TechnicianID string `json:"technician_id,omitempty"`
	// FailedAttempts counts the wrong passwords of the current lock-out window.
	FailedAttempts int        `json:"failed_attempts"`
	LockedUntil    *time.Time `json:"locked_until,omitempty"`
	LastSignInAt   *time.Time `json:"last_sign_in_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// Locked reports whether u is locked out at now.
func (u User) Locked(now time.Time) bool { return u.LockedUntil != nil && u.LockedUntil.After(now) }

// The errors of Authenticate. ErrBadCredentials is the same for an unknown
// email and a wrong password, so the answer does not tell which emails
// exist; ErrLocked and ErrDisabled are only returned once the password has
// been verified correct.
var (
	ErrBadCredentials = errors.New("account: wrong email or password")
	ErrDisabled       = errors.New("account: the user is disabled")
	ErrLocked         = errors.New("account: the user is locked out after too many failed sign-ins")
)

// LockedError is ErrLocked with the time the lock ends.
type LockedError struct {
	Until time.Time
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("%v; try again after %s", ErrLocked, e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Is(target error) bool { return target == ErrLocked }

// MaxEmailLen is the longest email address accepted (RFC 5321's path limit).
const MaxEmailLen = 254

// CheckEmail says why email is not a plain address such as
// ada@example.com, or returns nil.
func CheckEmail(email string) error {
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > MaxEmailLen {
		return fmt.Errorf("must be a plain address such as ada@example.com, at most %d characters", MaxEmailLen)
	}
	return nil
}

// MaxDisplayNameLen bounds User.DisplayName, in bytes.
const MaxDisplayNameLen = 200

// Lockout says when repeated wrong passwords lock a user out: Attempts
// failures within Window lock the user for Duration. A correct password
// resets the count.
type Lockout struct {
	Attempts int
	Window   time.Duration
	Duration time.Duration
}

// DefaultLockout locks a user for 15 minutes after 5 wrong passwords
// within 15 minutes.
var DefaultLockout = Lockout{Attempts: 5, Window: 15 * time.Minute, Duration: 15 * time.Minute}
