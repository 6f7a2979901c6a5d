package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// fixture is a registry over a throwaway database and a temporary folder.
type fixture struct {
	reg    *Registry
	db     *store.DB
	folder *artifact.Folder
	tenant string
}

func newFixture(t *testing.T, opts Options) fixture {
	t.Helper()
	db, _ := testenv.DB(t)
	folder, err := artifact.NewFolder(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return fixture{reg: New(db, folder, opts), db: db, folder: folder, tenant: testenv.Tenant(t, db, "acme")}
}

// create registers a version whose artifact is "model:<name>:<tag>".
func (f fixture) create(t *testing.T, name, tag string, parent int) Version {
	t.Helper()
	v, err := f.reg.Create(context.Background(), f.tenant, NewVersion{
		Name: name, Kind: "iforest", Params: map[string]any{"trees": 100.0, "tag": tag},
		Metrics: map[string]float64{"auc": 0.9}, Features: []string{"air_temp", "torque"},
		TrainingData: "ai4i2020.csv rows 0-8000", TrainingDataSHA256: "abc", Parent: parent, CreatedBy: "test",
	}, []byte("model:"+name+":"+tag))
	if err != nil {
		t.Fatalf("create %s %s: %v", name, tag, err)
	}
	return v
}

func (f fixture) promote(t *testing.T, name, alias string, version int) AliasEvent {
	t.Helper()
	ev, err := f.reg.Promote(context.Background(), f.tenant, Promotion{Name: name, Alias: alias, Version: version, Actor: "tester", Reason: "test"})
	if err != nil {
		t.Fatalf("promote %s v%d to %s: %v", name, version, alias, err)
	}
	return ev
}

func TestCreateVersions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	v1 := f.create(t, "pump-iforest", "a", 0)
	v2 := f.create(t, "pump-iforest", "b", 1)
	other := f.create(t, "mill-gbdt", "a", 0)
	if v1.Version != 1 || v2.Version != 2 || other.Version != 1 {
		t.Fatalf("versions = %d, %d, %d; want 1, 2, 1 (numbered per name)", v1.Version, v2.Version, other.Version)
	}
	if v2.Parent != 1 || v1.Parent != 0 {
		t.Errorf("lineage: v1.Parent = %d, v2.Parent = %d", v1.Parent, v2.Parent)
	}
	if v2.Kind != "iforest" || v2.Metrics["auc"] != 0.9 || v2.Params["tag"] != "b" || !slices.Equal(v2.Features, []string{"air_temp", "torque"}) ||
		v2.TrainingData == "" || v2.TrainingDataSHA256 != "abc" || v2.CreatedBy != "test" || v2.CreatedAt.IsZero() || v2.TenantID != f.tenant {
		t.Errorf("v2 = %+v", v2)
	}
	if v1.Artifact.SHA256 == v2.Artifact.SHA256 || v1.Artifact.Size != int64(len("model:pump-iforest:a")) {
		t.Errorf("artifacts: %+v, %+v", v1.Artifact, v2.Artifact)
	}

	got, err := f.reg.Version(ctx, f.tenant, "pump-iforest", 2)
	if err != nil || got.Artifact != v2.Artifact || got.Params["tag"] != "b" {
		t.Fatalf("Version(2) = %+v, %v", got, err)
	}
	data, err := f.reg.Load(ctx, got)
	if err != nil || string(data) != "model:pump-iforest:b" {
		t.Fatalf("Load = %q, %v", data, err)
	}
	list, err := f.reg.Versions(ctx, f.tenant, "pump-iforest", 0, 0)
	if err != nil || len(list) != 2 || list[0].Version != 2 || list[1].Version != 1 {
		t.Fatalf("Versions = %+v, %v; want 2 then 1", list, err)
	}
	if page, err := f.reg.Versions(ctx, f.tenant, "pump-iforest", 1, 2); err != nil || len(page) != 1 || page[0].Version != 1 {
		t.Fatalf("Versions(limit 1, before 2) = %+v, %v", page, err)
	}
	models, err := f.reg.Models(ctx, f.tenant)
	if err != nil || len(models) != 2 || models[0].Name != "mill-gbdt" || models[1].LatestVersion != 2 || len(models[1].Aliases) != 0 {
		t.Fatalf("Models = %+v, %v", models, err)
	}

	for _, tt := range []struct {
		name string
		err  error
		call func() error
	}{
		{"unknown model's versions", store.ErrNotFound, func() error { _, err := f.reg.Versions(ctx, f.tenant, "nope", 0, 0); return err }},
		{"unknown model", store.ErrNotFound, func() error { _, err := f.reg.Model(ctx, f.tenant, "nope"); return err }},
		{"unknown version", store.ErrNotFound, func() error { _, err := f.reg.Version(ctx, f.tenant, "pump-iforest", 9); return err }},
		{"missing parent", store.ErrNotFound, func() error {
			_, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "pump-iforest", Kind: "iforest", Parent: 7, CreatedBy: "t"}, []byte("x"))
			return err
		}},
		{"bad name", store.ErrInvalid, func() error {
			_, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "../etc", Kind: "iforest", CreatedBy: "t"}, []byte("x"))
			return err
		}},
		{"no kind", store.ErrInvalid, func() error {
			_, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "m", CreatedBy: "t"}, []byte("x"))
			return err
		}},
		{"no creator", store.ErrInvalid, func() error {
			_, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "m", Kind: "k"}, []byte("x"))
			return err
		}},
		{"empty artifact", store.ErrInvalid, func() error {
			_, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "m", Kind: "k", CreatedBy: "t"}, nil)
			return err
		}},
		{"NaN metric", store.ErrInvalid, func() error {
			_, err := f.reg.Create(ctx, f.tenant, NewVersion{Name: "m", Kind: "k", CreatedBy: "t", Metrics: map[string]float64{"auc": nan()}}, []byte("x"))
			return err
		}},
		{"unknown tenant", store.ErrNotFound, func() error {
			_, err := f.reg.Create(ctx, "ghost", NewVersion{Name: "m", Kind: "k", CreatedBy: "t"}, []byte("x"))
			return err
		}},
	} {
		if err := tt.call(); !errors.Is(err, tt.err) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.err)
		}
	}
	if n := len(mustVersions(t, f, "pump-iforest")); n != 2 {
		t.Errorf("a failed create left %d versions, want 2", n)
	}
}

func nan() float64 { zero := 0.0; return zero / zero }

func mustVersions(t *testing.T, f fixture, name string) []Version {
	t.Helper()
	vs, err := f.reg.Versions(context.Background(), f.tenant, name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func TestTenantsAreApart(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.create(t, "pump-iforest", "a", 0)
	f.create(t, "pump-iforest", "b", 0)
	f.promote(t, "pump-iforest", Champion, 2)
	other := testenv.Tenant(t, f.db, "globex")
	if models, err := f.reg.Models(ctx, other); err != nil || len(models) != 0 {
		t.Fatalf("other tenant sees %+v, %v", models, err)
	}
	if _, err := f.reg.Version(ctx, other, "pump-iforest", 1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other tenant reads a version: %v", err)
	}
	if _, err := f.reg.Promote(ctx, other, Promotion{Name: "pump-iforest", Alias: Champion, Version: 1, Actor: "x", Reason: "y"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other tenant promotes: %v", err)
	}
	v, err := f.reg.Create(ctx, other, NewVersion{Name: "pump-iforest", Kind: "iforest", CreatedBy: "t"}, []byte("globex model"))
	if err != nil || v.Version != 1 {
		t.Fatalf("other tenant's first version = %d, %v; want 1", v.Version, err)
	}
}

func TestCreateConcurrently(t *testing.T) {
	f := newFixture(t, Options{})
	const n = 8
	got := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { got[i] = f.create(t, "pump-iforest", fmt.Sprint(i), 0).Version })
	}
	wg.Wait()
	slices.Sort(got)
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("concurrent creates got versions %v, want 1..%d", got, n)
		}
	}
}

func TestPromoteAndHistory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	for _, tag := range []string{"a", "b", "c"} {
		f.create(t, "pump-iforest", tag, 0)
	}
	e1 := f.promote(t, "pump-iforest", Champion, 1)
	if e1.From != 0 || e1.To != 1 || e1.Actor != "tester" || e1.Reason != "test" || e1.Alias != Champion {
		t.Fatalf("first event = %+v", e1)
	}
	_, err := f.reg.Promote(ctx, f.tenant, Promotion{Name: "pump-iforest", Alias: Champion, Version: 1, Actor: "tester", Reason: "again"})
	if !errors.Is(err, ErrAliasUnchanged) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("promoting the champion again: %v, want ErrAliasUnchanged (a conflict)", err)
	}
	e2 := f.promote(t, "pump-iforest", Champion, 2)
	if e2.From != 1 || e2.To != 2 {
		t.Fatalf("second event = %+v", e2)
	}
	e3 := f.promote(t, "pump-iforest", Challenger, 3)
	e4 := f.promote(t, "pump-iforest", Champion, 1) // roll back
	e5, err := f.reg.RemoveAlias(ctx, f.tenant, "pump-iforest", Challenger, "tester", "challenger lost")
	if err != nil || e5.From != 3 || e5.To != 0 {
		t.Fatalf("RemoveAlias = %+v, %v", e5, err)
	}
	if _, err := f.reg.RemoveAlias(ctx, f.tenant, "pump-iforest", Challenger, "tester", "again"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removing an unset alias: %v, want ErrNotFound", err)
	}

	if v, err := f.reg.Resolve(ctx, f.tenant, "pump-iforest", Champion); err != nil || v.Version != 1 {
		t.Fatalf("Resolve(champion) = %d, %v; want 1", v.Version, err)
	}
	if _, err := f.reg.Resolve(ctx, f.tenant, "pump-iforest", Challenger); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resolve(removed challenger) = %v, want ErrNotFound", err)
	}
	m, err := f.reg.Model(ctx, f.tenant, "pump-iforest")
	if err != nil || m.Aliases[Champion] != 1 || len(m.Aliases) != 1 {
		t.Fatalf("Model = %+v, %v", m, err)
	}

	history, err := f.reg.AliasHistory(ctx, f.tenant, "pump-iforest", 0)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, e := range history {
		ids = append(ids, e.ID)
	}
	if want := []int64{e5.ID, e4.ID, e3.ID, e2.ID, e1.ID}; !slices.Equal(ids, want) {
		t.Fatalf("history ids = %v, want newest first %v", ids, want)
	}

	// Which version was live when?
	for _, tt := range []struct {
		name  string
		alias string
		at    time.Time
		want  int // 0: none
	}{
		{"before anything", Champion, e1.At.Add(-time.Microsecond), 0},
		{"at the first promotion", Champion, e1.At, 1},
		{"just before the second", Champion, e2.At.Add(-time.Microsecond), 1},
		{"at the second", Champion, e2.At, 2},
		{"after the rollback", Champion, e4.At.Add(time.Hour), 1},
		{"challenger while set", Challenger, e3.At, 3},
		{"challenger after removal", Challenger, e5.At, 0},
	} {
		v, err := f.reg.AliasAt(ctx, f.tenant, "pump-iforest", tt.alias, tt.at)
		switch {
		case tt.want == 0 && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: AliasAt = v%d, %v; want ErrNotFound", tt.name, v.Version, err)
		case tt.want != 0 && (err != nil || v.Version != tt.want):
			t.Errorf("%s: AliasAt = v%d, %v; want v%d", tt.name, v.Version, err, tt.want)
		}
	}
	if _, err := f.reg.AliasAt(ctx, f.tenant, "nope", Champion, time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AliasAt of an unknown model: %v", err)
	}
}

func TestPromoteRefuses(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.create(t, "pump-iforest", "a", 0)
	v2 := f.create(t, "pump-iforest", "b", 0)
	v3 := f.create(t, "pump-iforest", "c", 0)
	f.promote(t, "pump-iforest", Champion, 1)
	if err := os.WriteFile(filepath.Join(f.folder.Dir(), v2.Artifact.Key), []byte("model:pump-iforest:X"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.folder.Dir(), v3.Artifact.Key)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		p    Promotion
		want []error
	}{
		{"corrupt artifact", Promotion{Name: "pump-iforest", Alias: Champion, Version: 2}, []error{ErrNotEligible, store.ErrConflict, artifact.ErrChecksum}},
		{"missing artifact", Promotion{Name: "pump-iforest", Alias: Champion, Version: 3}, []error{ErrNotEligible, artifact.ErrNotFound}},
		{"unknown version", Promotion{Name: "pump-iforest", Alias: Champion, Version: 4}, []error{store.ErrNotFound}},
		{"unknown model", Promotion{Name: "nope", Alias: Champion, Version: 1}, []error{store.ErrNotFound}},
		{"unknown alias", Promotion{Name: "pump-iforest", Alias: "production", Version: 1}, []error{store.ErrInvalid}},
		{"version zero", Promotion{Name: "pump-iforest", Alias: Champion}, []error{store.ErrInvalid}},
		{"no reason", Promotion{Name: "pump-iforest", Alias: Champion, Version: 2, Actor: "tester", Reason: "-"}, nil},
	} {
		p := tt.p
		if p.Actor == "" {
			p.Actor, p.Reason = "tester", "because"
		}
		if p.Reason == "-" {
			p.Reason = ""
			tt.want = []error{store.ErrInvalid}
		}
		_, err := f.reg.Promote(ctx, f.tenant, p)
		for _, want := range tt.want {
			if !errors.Is(err, want) {
				t.Errorf("%s: err = %v, want it to match %v", tt.name, err, want)
			}
		}
	}
	if v, err := f.reg.Resolve(ctx, f.tenant, "pump-iforest", Champion); err != nil || v.Version != 1 {
		t.Fatalf("after refused promotions the champion is v%d, %v; want v1", v.Version, err)
	}
	if h, _ := f.reg.AliasHistory(ctx, f.tenant, "pump-iforest", 0); len(h) != 1 {
		t.Fatalf("refused promotions were recorded: %+v", h)
	}
}

func TestPromoteConcurrently(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	const n = 6
	for i := range n {
		f.create(t, "pump-iforest", fmt.Sprint(i), 0)
	}
	var wg sync.WaitGroup
	for v := 1; v <= n; v++ {
		wg.Go(func() {
			if _, err := f.reg.Promote(ctx, f.tenant, Promotion{Name: "pump-iforest", Alias: Champion, Version: v, Actor: "racer", Reason: "race"}); err != nil {
				t.Errorf("promote v%d: %v", v, err)
			}
		})
	}
	wg.Wait()
	history, err := f.reg.AliasHistory(ctx, f.tenant, "pump-iforest", 0)
	if err != nil || len(history) != n {
		t.Fatalf("history = %d events, %v; want %d", len(history), err, n)
	}
	// Oldest first, each move starts where the previous one ended.
	slices.Reverse(history)
	prev := 0
	for _, e := range history {
		if e.From != prev {
			t.Fatalf("event %+v does not start at %d: the history has a gap", e, prev)
		}
		prev = e.To
	}
	if v, _ := f.reg.Resolve(ctx, f.tenant, "pump-iforest", Champion); v.Version != prev {
		t.Fatalf("champion is v%d but the last event moved it to v%d", v.Version, prev)
	}
}

func TestAliasHistoryIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Options{})
	f.create(t, "pump-iforest", "a", 0)
	f.promote(t, "pump-iforest", Champion, 1)
	for _, stmt := range []string{
		`UPDATE model_alias_events SET actor = 'someone else'`,
		`DELETE FROM model_alias_events`,
		`UPDATE model_versions SET metrics = '{"auc": 1}'`,
	} {
		err := f.db.InTenant(ctx, f.tenant, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, stmt); return err })
		if err == nil {
			t.Errorf("%s succeeded for the application role", stmt)
		}
	}
}
