package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/store"
)

func TestAliasEventsPaged(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	for _, tag := range []string{"a", "b", "c"} {
		f.create(t, "pump-iforest", tag, 0)
	}
	f.promote(t, "pump-iforest", Champion, 1)
	f.promote(t, "pump-iforest", Challenger, 2)
	f.promote(t, "pump-iforest", Champion, 2)
	f.promote(t, "pump-iforest", Champion, 3)

	all, err := f.reg.AliasEvents(ctx, f.tenant, "pump-iforest", Champion, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].To != 3 || all[0].From != 2 || all[2].From != 0 || all[2].To != 1 {
		t.Fatalf("champion history = %+v", all)
	}
	page, err := f.reg.AliasEvents(ctx, f.tenant, "pump-iforest", Champion, 2, all[1].ID)
	if err != nil || len(page) != 1 || page[0].ID != all[2].ID {
		t.Fatalf("page before %d = %+v, %v", all[1].ID, page, err)
	}
	if ev, err := f.reg.AliasEvents(ctx, f.tenant, "pump-iforest", Challenger, 0, 0); err != nil || len(ev) != 1 || ev[0].To != 2 {
		t.Errorf("challenger history = %+v, %v", ev, err)
	}
	if _, err := f.reg.AliasEvents(ctx, f.tenant, "nope", Champion, 0, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown model: %v", err)
	}
	if _, err := f.reg.AliasEvents(ctx, f.tenant, "pump-iforest", "staging", 0, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unknown alias: %v", err)
	}
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	for _, tag := range []string{"a", "b", "c", "d"} {
		f.create(t, "pump-iforest", tag, 0)
	}
	if _, err := f.reg.Rollback(ctx, f.tenant, "pump-iforest", Champion, "tester"); !errors.Is(err, ErrNothingToRollBack) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("rollback of an unset alias: %v", err)
	}
	f.promote(t, "pump-iforest", Champion, 1)
	if _, err := f.reg.Rollback(ctx, f.tenant, "pump-iforest", Champion, "tester"); !errors.Is(err, ErrNothingToRollBack) {
		t.Fatalf("rollback of the first assignment: %v", err)
	}
	f.promote(t, "pump-iforest", Champion, 2)
	f.promote(t, "pump-iforest", Champion, 3)

	resolve := func() int {
		t.Helper()
		v, err := f.reg.Resolve(ctx, f.tenant, "pump-iforest", Champion)
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	// Rollbacks stack: 3 → 2 → 1, then nothing is left to undo.
	for _, want := range []int{2, 1} {
		ev, err := f.reg.Rollback(ctx, f.tenant, "pump-iforest", Champion, "tester")
		if err != nil {
			t.Fatal(err)
		}
		if ev.To != want || ev.Reason != RollbackReason || ev.Actor != "tester" || resolve() != want {
			t.Fatalf("rollback = %+v, champion %d; want version %d", ev, resolve(), want)
		}
	}
	if _, err := f.reg.Rollback(ctx, f.tenant, "pump-iforest", Champion, "tester"); !errors.Is(err, ErrNothingToRollBack) {
		t.Fatalf("third rollback: %v", err)
	}
	// A promotion after rollbacks is undone by the next one.
	f.promote(t, "pump-iforest", Champion, 4)
	if ev, err := f.reg.Rollback(ctx, f.tenant, "pump-iforest", Champion, "tester"); err != nil || ev.From != 4 || ev.To != 1 {
		t.Fatalf("rollback after a new promotion = %+v, %v", ev, err)
	}
	// An automatic rollback records its reason and stacks like the others:
	// 1 → 2, rolled back automatically to 1, leaves nothing to undo.
	f.promote(t, "pump-iforest", Champion, 2)
	ev, err := f.reg.RollbackBecause(ctx, f.tenant, "pump-iforest", Champion, "model-watch", "too many alarms")
	if err != nil || ev.To != 1 || ev.Reason != AutomaticRollbackPrefix+"too many alarms" || !IsRollback(ev.Reason) {
		t.Fatalf("automatic rollback = %+v, %v", ev, err)
	}
	if _, err := f.reg.RollbackBecause(ctx, f.tenant, "pump-iforest", Champion, "model-watch", ""); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("automatic rollback without a reason: %v", err)
	}

	// A version whose artifact is gone is not rolled back to.
	f.promote(t, "pump-iforest", Champion, 3)
	v1, _ := f.reg.Version(ctx, f.tenant, "pump-iforest", 1)
	if err := os.Remove(filepath.Join(f.folder.Dir(), v1.Artifact.Key)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.reg.Rollback(ctx, f.tenant, "pump-iforest", Champion, "tester"); !errors.Is(err, ErrNotEligible) {
		t.Fatalf("rollback to a version without artifact: %v", err)
	}
	if resolve() != 3 {
		t.Errorf("champion moved on a refused rollback: %d", resolve())
	}

	for _, tt := range []struct {
		name, alias, actor string
		want               error
	}{
		{"nope", Champion, "tester", store.ErrNotFound},
		{"pump-iforest", "staging", "tester", store.ErrInvalid},
		{"pump-iforest", Champion, "", store.ErrInvalid},
	} {
		if _, err := f.reg.Rollback(ctx, f.tenant, tt.name, tt.alias, tt.actor); !errors.Is(err, tt.want) {
			t.Errorf("rollback %s %s by %q: %v, want %v", tt.name, tt.alias, tt.actor, err, tt.want)
		}
	}
}

func TestVersionNote(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	spec := NewVersion{Name: "pump-iforest", Kind: "iforest", CreatedBy: "test", Note: "hand-tuned on the March data"}
	v, err := f.reg.Create(ctx, f.tenant, spec, []byte("model"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.reg.Version(ctx, f.tenant, "pump-iforest", v.Version)
	if err != nil || got.Note != spec.Note || v.Note != spec.Note {
		t.Fatalf("note = %q / %q, %v", v.Note, got.Note, err)
	}
	spec.Note = strings.Repeat("x", MaxNote+1)
	if _, err := f.reg.Create(ctx, f.tenant, spec, []byte("other")); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an over-long note: %v", err)
	}
}
