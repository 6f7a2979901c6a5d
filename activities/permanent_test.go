package activities

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/temporal"

	"github.com/smartmaint/smartmaint/internal/store"
)

func TestPermanent(t *testing.T) {
	tests := []struct {
		err          error
		nonRetryable bool
		typ          string
	}{
		{fmt.Errorf("record: %w", store.ErrConflict), true, ErrTypeConflict},
		{fmt.Errorf("plan: %w", store.ErrInvalid), true, ErrTypeInvalid},
		{fmt.Errorf("asset: %w", store.ErrNotFound), true, ErrTypeNotFound},
		{errors.New("connection reset by peer"), false, ""},
	}
	for _, tt := range tests {
		err := permanent(tt.err)
		var appErr *temporal.ApplicationError
		isApp := errors.As(err, &appErr)
		if isApp != tt.nonRetryable || isApp && (!appErr.NonRetryable() || appErr.Type() != tt.typ) {
			t.Errorf("permanent(%v) = %v", tt.err, err)
		}
		if IsConflict(err) != (tt.typ == ErrTypeConflict) {
			t.Errorf("IsConflict(permanent(%v)) = %v", tt.err, IsConflict(err))
		}
	}
	if permanent(nil) != nil {
		t.Error("permanent(nil) is not nil")
	}
}
