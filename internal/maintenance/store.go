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
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
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

// checkID is store.ErrNotFound, worded as store.GetByID words it ("store:
// kind "id": not found"), for an id that is not a uuid, which no row can
// have; nil for one that is.
func checkID(kind, id string) error {
	if uuid.Validate(id) != nil {
		return fmt.Errorf("store: %s %q: %w", kind, id, store.ErrNotFound)
	}
	return nil
}

// optionalID reports whether id is empty or a uuid: a filter or page cursor
// that rows can match (an empty one matches every row).
func optionalID(id string) bool { return id == "" || uuid.Validate(id) == nil }

// nonNil is s, or an empty slice for nil: what the columns and the JSON
// expect of a list that has no items.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// inTenant runs fn in tenant's row-level security (store.DB.InTenant) and
// returns what fn made.
func inTenant[T any](ctx context.Context, db *store.DB, tenant string, fn func(pgx.Tx) (T, error)) (T, error) {
	var out T
	err := db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	return out, err
}

// queryRow runs query in tenant and scans the one row it returns.
func queryRow[T any](ctx context.Context, db *store.DB, tenant string, scan func(pgx.Row) (T, error), query string, args ...any) (T, error) {
	return inTenant(ctx, db, tenant, func(tx pgx.Tx) (T, error) { return scan(tx.QueryRow(ctx, query, args...)) })
}

// list is store.Collect in tenant, its error wrapped as "store: what: ...".
func list[T any](ctx context.Context, db *store.DB, tenant, what string, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	out, err := inTenant(ctx, db, tenant, func(tx pgx.Tx) ([]T, error) { return store.Collect(ctx, tx, scan, query, args...) })
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}
