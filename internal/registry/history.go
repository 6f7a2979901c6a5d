package registry

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// RollbackReason is the reason Rollback records. A move with exactly this
// reason counts as a rollback when the next Rollback looks for the move to
// undo.
const RollbackReason = "rollback"

// AutomaticRollbackPrefix starts the reason of a rollback a watch made
// (RollbackBecause): "automatic rollback: " and why.
const AutomaticRollbackPrefix = "automatic rollback: "

// IsRollback reports whether a move's reason marks it as a rollback.
func IsRollback(reason string) bool {
	return reason == RollbackReason || strings.HasPrefix(reason, AutomaticRollbackPrefix)
}

var (
	// ErrNothingToRollBack means the alias has no earlier version to go back
	// to: its moves so far only set it the first time or were undone.
	ErrNothingToRollBack error = conflict("registry: the alias has no earlier version to roll back to")
	// ErrAliasMoved means the alias moved while a rollback was verifying the
	// version it would go back to; the rollback did nothing and can be
	// retried.
	ErrAliasMoved error = conflict("registry: the alias moved during the rollback")
)

// AliasEvents returns up to limit moves of one alias of name, newest first,
// older than the move with id before (0: from the newest). limit is clamped
// to 1…1000 (100 when 0). An unknown model is store.ErrNotFound; a model
// whose alias never moved has no events.
func (r *Registry) AliasEvents(ctx context.Context, tenant, name, alias string, limit int, before int64) ([]AliasEvent, error) {
	if !ValidAlias(alias) {
		return nil, invalid("alias %q: want one of %v", alias, Aliases)
	}
	out, err := list(ctx, r, tenant, name, scanEvent, `
		SELECT `+eventColumns+` FROM model_alias_events
		WHERE name = $1 AND alias = $2 AND ($3 = 0 OR id < $3)
		ORDER BY id DESC LIMIT $4`, name, alias, before, clampLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("registry: history of %s of %q: %w", alias, name, err)
	}
	return out, nil
}

// Rollback moves alias of name back to the version it held before its
// latest move, recording the move with reason RollbackReason and actor.
// Rollbacks stack: a second rollback undoes the move before the one the
// first undid, not the first rollback itself, so v1 → v2 → v3 rolls back to
// v2 and then to v1.
//
// The version rolled back to is verified as Promote verifies (ErrNotEligible
// when its artifact is missing or corrupt). ErrNothingToRollBack when there
// is no earlier version, ErrAliasMoved when the alias moved meanwhile, and
// an unknown model is store.ErrNotFound.
func (r *Registry) Rollback(ctx context.Context, tenant, name, alias, actor string) (AliasEvent, error) {
	return r.rollback(ctx, tenant, name, alias, actor, RollbackReason)
}

// RollbackBecause is Rollback recording the reason AutomaticRollbackPrefix
// + why, for a rollback the system decided on; it stacks like any other.
func (r *Registry) RollbackBecause(ctx context.Context, tenant, name, alias, actor, why string) (AliasEvent, error) {
	if why == "" {
		return AliasEvent{}, invalid("an automatic rollback needs a reason")
	}
	return r.rollback(ctx, tenant, name, alias, actor, AutomaticRollbackPrefix+why)
}

func (r *Registry) rollback(ctx context.Context, tenant, name, alias, actor, reason string) (AliasEvent, error) {
	switch {
	case !ValidAlias(alias):
		return AliasEvent{}, invalid("alias %q: want one of %v", alias, Aliases)
	case actor == "":
		return AliasEvent{}, invalid("rollback needs an actor")
	}
	var v Version
	err := r.db.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		to, err := rollbackTarget(ctx, tx, name, alias)
		if err != nil {
			return err
		}
		v, err = versionIn(ctx, tx, name, to)
		return err
	})
	if err != nil {
		return AliasEvent{}, err
	}
	// Outside the transaction, as in Promote; the move re-checks the target
	// under the model's lock.
	if err := r.verifyEligible(ctx, v); err != nil {
		return AliasEvent{}, err
	}
	return r.moveAlias(ctx, tenant, name, alias, v.Version, actor, reason, func(tx pgx.Tx) error {
		to, err := rollbackTarget(ctx, tx, name, alias)
		if err != nil {
			return err
		}
		if to != v.Version {
			return fmt.Errorf("%w: %s of %q now rolls back to version %d, not %d; retry", ErrAliasMoved, alias, name, to, v.Version)
		}
		return nil
	})
}

// rollbackTarget walks alias's moves newest first, skipping each rollback
// together with the move it undid, and returns the from-version of the
// first move left: the version the alias held before it.
func rollbackTarget(ctx context.Context, tx pgx.Tx, name, alias string) (int, error) {
	if err := modelExists(ctx, tx, name); err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `
		SELECT coalesce(from_version, 0), reason FROM model_alias_events
		WHERE name = $1 AND alias = $2 ORDER BY id DESC`, name, alias)
	if err != nil {
		return 0, fmt.Errorf("registry: history of %s of %q: %w", alias, name, err)
	}
	defer rows.Close()
	undone := 0
	for rows.Next() {
		var (
			from   int
			reason string
		)
		if err := rows.Scan(&from, &reason); err != nil {
			return 0, fmt.Errorf("registry: history of %s of %q: %w", alias, name, err)
		}
		switch {
		case IsRollback(reason):
			undone++
		case undone > 0:
			undone--
		case from == 0:
			return 0, fmt.Errorf("%w: %s of %q was first set by its latest move", ErrNothingToRollBack, alias, name)
		default:
			return from, nil
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("registry: history of %s of %q: %w", alias, name, err)
	}
	return 0, fmt.Errorf("%w: %s of %q has no move left to undo", ErrNothingToRollBack, alias, name)
}
