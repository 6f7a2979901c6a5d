package activities

import (
	"errors"

	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Error types of the non-retryable application errors activities return,
// so workflows can tell them apart.
const (
	// ErrTypeConflict is a write refused by a uniqueness rule: retrying
	// the same write can never succeed.
	ErrTypeConflict = "Conflict"
	// ErrTypeInvalid is a write refused by a check or a bad value.
	ErrTypeInvalid = "Invalid"
	// ErrTypeNotFound is a reference to a row that does not exist.
	ErrTypeNotFound = "NotFound"
)

// permanent turns store errors that no retry can cure (constraint
// violations, missing references) into non-retryable application errors,
// so a workflow hears of them at once instead of retrying forever. Other
// errors (a lost connection, a timeout) pass through and are retried.
func permanent(err error) error {
	var typ string
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrConflict):
		typ = ErrTypeConflict
	case errors.Is(err, store.ErrInvalid):
		typ = ErrTypeInvalid
	case errors.Is(err, store.ErrNotFound):
		typ = ErrTypeNotFound
	default:
		return err
	}
	return temporal.NewNonRetryableApplicationError(err.Error(), typ, err)
}

// IsConflict reports whether err, as a workflow receives it from an
// activity, is a uniqueness conflict.
func IsConflict(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr) && appErr.Type() == ErrTypeConflict
}
