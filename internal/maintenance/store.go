// Package maintenance keeps smartmaint's maintenance work in PostgreSQL:
// work orders and their lifecycle, technicians and their bookings,
// preventive schedules and when they fall due, and the planning that books
// work on technicians through internal/schedule (placing one work order,
// displacing less urgent work, re-planning the tenant's scheduled work).
//
// Store sits on the shared store.DB: request-scoped work runs in the
// tenant's row-level security (store.DB.InTenant), metrics read through the
// owner pool. Errors match store.ErrNotFound, store.ErrConflict and
// store.ErrInvalid, so the API maps them like every other repository's.
package maintenance

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Store keeps work orders, technicians and preventive schedules.
type Store struct {
	DB *store.DB
}

// The statuses as SQL literals, for the queries (and the index predicates
// they must match) that name one; workorder.OpenSQL lists the open ones.
const (
	scheduledSQL  = "'" + string(workorder.Scheduled) + "'"
	inProgressSQL = "'" + string(workorder.InProgress) + "'"
)

// ErrSlotTaken is returned when a booking would overlap another open work
// order of the same technician; it wraps store.ErrConflict.
var ErrSlotTaken = fmt.Errorf("%w: the technician is already booked in that slot", store.ErrConflict)

// ErrUnschedulable is returned when no technician can take a work order
// (nobody has the skills, or nobody is free within the horizon); it wraps
// store.ErrInvalid.
var ErrUnschedulable = fmt.Errorf("%w: no technician can take the work order", store.ErrInvalid)

// mapBookingError turns an exclusion violation of the booking constraint into
// ErrSlotTaken and anything else through store.MapError.
func mapBookingError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "23P01" || pgErr.Code == "40P01") {
		// 23P01: the exclusion constraint found an overlapping booking.
		// 40P01: two transactions booking overlapping slots at once can each
		// wait for the other's constraint check; PostgreSQL aborts one as a
		// deadlock and the other keeps the slot, so for the loser it is
		// the same answer.
		return ErrSlotTaken
	}
	return store.MapError(err)
}

// nullIfEmpty is NULL for the empty string.
func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// notFoundOr maps err for a lookup of one work order: no rows is
// store.ErrNotFound; the lifecycle's and store's own errors pass unchanged;
// anything else goes through mapBookingError.
func notFoundOr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var te *TransitionError
	if errors.As(err, &te) || errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalid) {
		return err
	}
	return mapBookingError(err)
}
