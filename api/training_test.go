package api_test

import (
	"context"
	"log/slog"
	"testing"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/store"
)

// TestTrainingRefusals checks the answers given before a training
// workflow starts; its Temporal client never connects (e2e/train_test.go
// trains on a real server).
func TestTrainingRefusals(t *testing.T) {
	tc, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1", Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	s, reg := newModelsServer(t, func(db *store.DB, reg *registry.Registry) *api.Training {
		return &api.Training{DB: db, Registry: reg, Temporal: tc, TaskQueue: "test"}
	})
	ctx := context.Background()
	if _, err := s.db.CreateAsset(ctx, "acme", store.Asset{ID: "cnc-1", Type: "cnc-mill"}); err != nil {
		t.Fatal(err)
	}
	v, err := reg.Create(ctx, "acme", registry.NewVersion{Name: "mill-anomaly", Kind: "iforest", CreatedBy: "test"}, []byte("forest"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Promote(ctx, "acme", registry.Promotion{Name: v.Name, Alias: registry.Champion, Version: v.Version, Actor: "test", Reason: "first"}); err != nil {
		t.Fatal(err)
	}
	const window = `"from":"2026-03-01T00:00:00Z","to":"2026-03-08T00:00:00Z"`
	for _, tt := range []struct {
		name, key, path, body string
		code                  int
		errCode               string
		details               int
	}{
		{"unknown kind", "ml-ops", "/api/v1/models/m/training", `{"kind":"forecast","asset_type":"cnc-mill",` + window + `}`, 422, "invalid_training", 1},
		{"kind trained offline", "ml-ops", "/api/v1/models/m/training", `{"kind":"bearing_health","asset_type":"cnc-mill",` + window + `}`, 422, "invalid_training", 1},
		{"from after to", "ml-ops", "/api/v1/models/m/training", `{"kind":"anomaly","asset_type":"cnc-mill","from":"2026-03-08T00:00:00Z","to":"2026-03-01T00:00:00Z"}`, 422, "invalid_training", 1},
		{"range too long", "ml-ops", "/api/v1/models/m/training", `{"kind":"anomaly","asset_type":"cnc-mill","from":"2020-01-01T00:00:00Z","to":"2026-03-01T00:00:00Z"}`, 422, "invalid_training", 1},
		{"no range", "ml-ops", "/api/v1/models/m/training", `{"kind":"anomaly","asset_type":"cnc-mill"}`, 422, "invalid_training", 1},
		{"no asset type", "ml-ops", "/api/v1/models/m/training", `{"kind":"anomaly",` + window + `}`, 422, "invalid_training", 1},
		{"bad params", "ml-ops", "/api/v1/models/m/training", `{"kind":"failure_risk","asset_type":"cnc-mill",` + window + `,"params":{"horizon":"soon","contamination":0.7,"trees":-1},"alias":"live","features":{"x":"bad source!"}}`, 422, "invalid_training", 5},
		{"unknown asset type", "ml-ops", "/api/v1/models/m/training", `{"kind":"anomaly","asset_type":"robot",` + window + `}`, 422, "unknown_asset_type", 1},
		{"default anomaly name for another kind", "ml-ops", "/api/v1/models/iforest-cnc-mill/training", `{"kind":"failure_risk","asset_type":"cnc-mill",` + window + `}`, 422, "invalid_training", 1},
		{"model of another kind", "ml-ops", "/api/v1/models/mill-anomaly/training", `{"kind":"failure_risk","asset_type":"cnc-mill",` + window + `}`, 422, "kind_mismatch", 0},
		{"champion taken", "ml-ops", "/api/v1/models/mill-anomaly/training", `{"kind":"anomaly","asset_type":"cnc-mill","alias":"champion",` + window + `}`, 409, "champion_exists", 0},
		{"unknown field", "ml-ops", "/api/v1/models/m/training", `{"kind":"anomaly","asset":"cnc-mill"}`, 400, "malformed_body", 0},
		{"read-only key", "reader", "/api/v1/models/m/training", `{"kind":"anomaly","asset_type":"cnc-mill",` + window + `}`, 403, "forbidden", 0},
		{"other tenant's asset type", "rival", "/api/v1/models/m/training", `{"kind":"anomaly","asset_type":"cnc-mill",` + window + `}`, 422, "unknown_asset_type", 1},
	} {
		code, body, _ := s.do(t, tt.key, "POST", tt.path, "application/json", tt.body)
		details, _ := body["error"].(map[string]any)["details"].([]any)
		if code != tt.code || errCode(body) != tt.errCode || len(details) != tt.details {
			t.Errorf("%s: %d %v, want %d %s with %d details", tt.name, code, body, tt.code, tt.errCode, tt.details)
		}
	}
}
