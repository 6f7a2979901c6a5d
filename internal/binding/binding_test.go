package binding

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

func ptr(v float64) *float64 { return &v }

func TestCheck(t *testing.T) {
	gbdt := modelfile.Metadata{Kind: modelfile.KindGBDT, FeatureNames: []string{"volt_mean_3h", "model=model3", "age"}, Threshold: 0.4}
	for _, tc := range []struct {
		name   string
		b      Binding
		meta   modelfile.Metadata
		fields []string // problem fields, in order
	}{
		{"mapped", Binding{Kind: modelkind.FailureRisk, Model: "risk", Features: map[string]string{"model=model3": "asset.model=model3", "age": "asset.age"}}, gbdt, nil},
		{"identity name not a source", Binding{Kind: modelkind.FailureRisk, Model: "risk"}, gbdt, []string{"features.model=model3"}},
		{"incompatible kind", Binding{Kind: modelkind.RUL, Model: "risk"}, gbdt, []string{"model"}},
		{"unknown feature and bad source", Binding{Kind: modelkind.FailureRisk, Model: "risk", Features: map[string]string{"nope": "x", "model=model3": "bad source!"}}, gbdt, []string{"features.nope", "features.model=model3"}},
		{"sensor feeds two features", Binding{Kind: modelkind.FailureRisk, Model: "risk", Features: map[string]string{"model=model3": "asset.model=model3", "age": "volt_mean_3h"}}, gbdt, []string{"features.age"}},
		{"probability threshold", Binding{Kind: modelkind.FailureRisk, Model: "risk", Features: map[string]string{"model=model3": "asset.m", "age": "asset.age"}, Threshold: ptr(1.5)}, gbdt, []string{"threshold"}},
		{"nan threshold", Binding{Kind: modelkind.FailureRisk, Model: "risk", Features: map[string]string{"model=model3": "asset.m", "age": "asset.age"}, Threshold: ptr(math.NaN())}, gbdt, []string{"threshold"}},
		{"anomaly score threshold", Binding{Kind: modelkind.Anomaly, Model: "f", Threshold: ptr(1)}, modelfile.Metadata{Kind: modelfile.KindIsolationForest, FeatureNames: []string{"torque"}}, []string{"threshold"}},
		{"rul needs a threshold", Binding{Kind: modelkind.RUL, Model: "rul"}, modelfile.Metadata{Kind: modelfile.KindRUL, FeatureNames: []string{"cycle"}}, []string{"threshold"}},
		{"rul with threshold", Binding{Kind: modelkind.RUL, Model: "rul", Threshold: ptr(30)}, modelfile.Metadata{Kind: modelfile.KindRUL, FeatureNames: []string{"cycle"}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range Check(&tc.b, tc.meta) {
				got = append(got, p.Field)
				if p.Message == "" {
					t.Error("problem without a message")
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("problems on %q, want %q", got, tc.fields)
			}
		})
	}
}

func TestDefault(t *testing.T) {
	b, ok := Default("acme", "pump", modelkind.Anomaly)
	if !ok || b.Model != "iforest-pump" || !b.Default || b.Source("temp") != "temp" {
		t.Fatalf("default anomaly binding %+v", b)
	}
	for _, k := range modelkind.Kinds[1:] {
		if _, ok := Default("acme", "pump", k); ok {
			t.Errorf("a default %s binding", k)
		}
	}
}

// registerModel records a model name as the registry does.
func registerModel(t *testing.T, db *store.DB, tenant, name string) {
	t.Helper()
	if _, err := db.Pool.Exec(context.Background(), `INSERT INTO models (tenant_id, name) VALUES ($1, $2)`, tenant, name); err != nil {
		t.Fatal(err)
	}
}

// TestStore runs on the latest schema, whatever the migration's number.
func TestStore(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := context.Background()
	testenv.Tenant(t, db, "plant-7")
	testenv.Tenant(t, db, "rival")
	registerModel(t, db, "plant-7", "risk-pump")
	registerModel(t, db, "rival", "risk-pump")
	s := &Store{DB: db}

	// Every kind of the vocabulary can be stored; the table's check keeps
	// anything else out.
	for _, k := range modelkind.Kinds {
		if _, err := s.Put(ctx, Binding{TenantID: "plant-7", AssetType: "pump", Kind: k, Model: "risk-pump", UpdatedBy: "test"}); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	if _, err := db.Pool.Exec(ctx, `INSERT INTO model_bindings (tenant_id, asset_type, kind, model, updated_by) VALUES ('plant-7', 'pump', 'forecast', 'risk-pump', 'x')`); err == nil {
		t.Error("the table took an unknown kind")
	}
	if _, err := s.Put(ctx, Binding{TenantID: "plant-7", AssetType: "pump", Kind: modelkind.RUL, Model: "ghost", UpdatedBy: "test"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unregistered model: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Put(ctx, Binding{TenantID: "plant-7", AssetType: "pump", Kind: modelkind.RUL, Model: "risk-pump", Threshold: ptr(-1), UpdatedBy: "test"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("negative threshold: err = %v, want ErrInvalid", err)
	}

	// Replace one, read it back.
	first, _ := s.Get(ctx, "plant-7", "pump", modelkind.FailureRisk)
	b, err := s.Put(ctx, Binding{TenantID: "plant-7", AssetType: "pump", Kind: modelkind.FailureRisk, Model: "risk-pump",
		Features: map[string]string{"age": "asset.age"}, Threshold: ptr(0.3), UpdatedBy: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	if b.Features["age"] != "asset.age" || *b.Threshold != 0.3 || b.UpdatedBy != "ops" || !b.CreatedAt.Equal(first.CreatedAt) || !b.UpdatedAt.After(first.UpdatedAt) {
		t.Errorf("replaced binding %+v (first %+v)", b, first)
	}
	got, err := s.Get(ctx, "plant-7", "pump", modelkind.FailureRisk)
	if err != nil || got.Features["age"] != "asset.age" || got.Model != "risk-pump" {
		t.Errorf("get: %+v %v", got, err)
	}
	list, err := s.List(ctx, "plant-7", "pump")
	if err != nil || len(list) != len(modelkind.Kinds) {
		t.Errorf("list: %d %v", len(list), err)
	}

	// Row-level security: another tenant sees, changes and deletes nothing.
	if _, err := s.Get(ctx, "rival", "pump", modelkind.FailureRisk); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another tenant's binding: err = %v", err)
	}
	if l, _ := s.List(ctx, "rival", ""); len(l) != 0 {
		t.Errorf("rival lists %d bindings", len(l))
	}
	if err := s.Delete(ctx, "rival", "pump", modelkind.FailureRisk); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rival deleted: %v", err)
	}
	err = db.InTenant(ctx, "rival", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO model_bindings (tenant_id, asset_type, kind, model, updated_by) VALUES ('plant-7', 'x', 'rul', 'risk-pump', 'x')`)
		return err
	})
	if err == nil {
		t.Error("rival wrote a binding of plant-7")
	}

	if err := s.Delete(ctx, "plant-7", "pump", modelkind.BearingHealth); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "plant-7", "pump", modelkind.BearingHealth); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	all, err := s.All(ctx)
	if err != nil || len(all) != len(modelkind.Kinds)-1 {
		t.Errorf("all: %d %v", len(all), err)
	}
}

func TestCache(t *testing.T) {
	db, _ := testenv.DB(t)
	ctx := t.Context()
	testenv.Tenant(t, db, "plant-7")
	registerModel(t, db, "plant-7", "rul-engine")
	s := &Store{DB: db}
	c := NewCache(s, 100*time.Millisecond, nil)
	go c.Run(ctx)
	<-c.Ready()
	def, ok := c.Binding("plant-7", "engine", modelkind.Anomaly)
	if !ok || !def.Default || def.Model != "iforest-engine" {
		t.Errorf("default anomaly binding: %+v %v", def, ok)
	}
	if again, _ := c.Binding("plant-7", "engine", modelkind.Anomaly); again != def {
		t.Error("the default binding changed pointer")
	}
	if _, ok := c.Binding("plant-7", "engine", modelkind.RUL); ok {
		t.Error("a rul binding before any was stored")
	}
	gen := c.Generation()
	if _, err := s.Put(ctx, Binding{TenantID: "plant-7", AssetType: "engine", Kind: modelkind.RUL, Model: "rul-engine", Threshold: ptr(30), UpdatedBy: "t"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		if b, ok := c.Binding("plant-7", "engine", modelkind.RUL); ok {
			if b.Model != "rul-engine" || c.Generation() == gen {
				t.Errorf("binding %+v at generation %d", b, c.Generation())
			}
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("a stored binding was not served within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("binding served %v after it was stored", time.Since(start).Round(time.Millisecond))
	// An unchanged table keeps the generation and the pointers.
	gen = c.Generation()
	b1, _ := c.Binding("plant-7", "engine", modelkind.RUL)
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if b2, _ := c.Binding("plant-7", "engine", modelkind.RUL); b2 != b1 || c.Generation() != gen {
		t.Error("a refresh without changes moved the generation or the binding")
	}
	if err := s.Delete(ctx, "plant-7", "engine", modelkind.RUL); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Binding("plant-7", "engine", modelkind.RUL); ok || c.Generation() == gen {
		t.Error("a deleted binding is still served")
	}
}
