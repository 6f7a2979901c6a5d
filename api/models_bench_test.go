package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/auth"
	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/ingest"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
)

// BenchmarkIngestScoring measures what scoring adds to the whole ingest
// path: POSTs of 30 readings (six milling machines reporting their five
// sensors, AI4I records) through the router, authentication, validation
// and the group-commit batcher into PostgreSQL, 16 requests in flight,
// scored by no detector, by the threshold and robust z-score detectors, and
// by those plus the model detector with the AI4I Isolation Forest champion
// served by a registry Loader. ns/reading is the server-side cost per
// reading; the model detector's share of ingest cost is the difference
// between the last two over the last.
func BenchmarkIngestScoring(b *testing.B) {
	db, _ := testenv.DB(b)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	testenv.Tenant(b, db, "acme")
	folder, err := artifact.NewFolder(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	reg := registry.New(db, folder, registry.Options{Logger: log})
	if _, _, err := mlops.Bootstrap(ctx, reg, &mlops.Store{DB: db}, "acme"); err != nil {
		b.Fatal(err)
	}
	loader := registry.NewLoader(reg, modelfile.Unmarshal, registry.LoaderOptions{Kind: mlops.Kind, Logger: log})
	if err := loader.Refresh(ctx); err != nil {
		b.Fatal(err)
	}
	recs, err := dataset.ShippedAI4I()
	if err != nil {
		b.Fatal(err)
	}
	specs := simulate.Sensors(recs)
	for m := range 6 {
		id := fmt.Sprintf("mill-%02d", m+1)
		if _, err := db.CreateAsset(ctx, "acme", store.Asset{ID: id, Type: simulate.AssetType}); err != nil {
			b.Fatal(err)
		}
		for _, s := range specs {
			if _, err := db.CreateSensor(ctx, "acme", store.Sensor{AssetID: id, ID: s.ID, Kind: s.Kind, Unit: s.Unit,
				MinValid: s.MinValid, MaxValid: s.MaxValid, WarnLow: s.WarnLow, WarnHigh: s.WarnHigh, AlarmLow: s.AlarmLow, AlarmHigh: s.AlarmHigh}); err != nil {
				b.Fatal(err)
			}
		}
	}
	key, prefix, hash := apikey.Generate()
	if _, err := db.CreateAPIKey(ctx, "acme", "bench", prefix, hash, []apikey.Scope{apikey.ReadingsWrite}, nil); err != nil {
		b.Fatal(err)
	}
	// Request bodies: record k of every machine, stamped at send time.
	bodyOf := func(k int64, ts time.Time) string {
		var sb strings.Builder
		sb.WriteByte('[')
		stamp := ts.UTC().Format(time.RFC3339Nano)
		for m := range 6 {
			rec := recs[(int(k)*6+m)%len(recs)]
			for j, s := range specs {
				if m+j > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"asset_id":"mill-%02d","sensor_id":%q,"ts":%q,"value":%g}`, m+1, s.ID, stamp, s.Value(rec))
			}
		}
		sb.WriteByte(']')
		return sb.String()
	}
	cases := []struct {
		name string
		dets func() []detect.Detector
	}{
		{"none", nil},
		{"threshold+robust-z", func() []detect.Detector { return []detect.Detector{detect.Threshold{}, detect.NewRobustZ(6, 0.05)} }},
		{"threshold+robust-z+model", func() []detect.Detector {
			return []detect.Detector{detect.Threshold{}, detect.NewRobustZ(6, 0.05), detect.NewModel(loader, detect.NewAssetCache(db, 0), 0)}
		}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			bt := ingest.NewBatcher(db, ingest.Options{})
			defer bt.Close()
			h := &api.Readings{DB: db, Batcher: bt, MaxBodyBytes: 1 << 20, MaxReadings: 100,
				Validator: &ingest.Validator{Catalog: ingest.NewCatalog(db, log), MaxSkew: 5 * time.Minute, Retention: 48 * time.Hour}}
			var scored atomic.Int64
			if tc.dets != nil {
				e := &detect.Engine{Detectors: tc.dets()}
				h.Scorer = func(_ *http.Request, tenant string, v ingest.Valid) any {
					scored.Add(int64(len(e.Score(tenant, v.Rows, v.Sensors))))
					return nil
				}
			}
			router := api.NewRouter(log, auth.NewAuthenticator(db, log), &api.Health{}, []api.Routes{h}, nil)
			var n atomic.Int64
			start := time.Now().Add(-time.Minute)
			b.SetParallelism(8) // 16 requests in flight on two cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					k := n.Add(1)
					req := httptest.NewRequest(http.MethodPost, "/api/v1/readings", strings.NewReader(bodyOf(k, start.Add(time.Duration(k)*time.Millisecond))))
					req.Header.Set("X-API-Key", key)
					req.Header.Set("Content-Type", "application/json")
					rec := httptest.NewRecorder()
					router.ServeHTTP(rec, req)
					if rec.Code != http.StatusCreated {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*30), "ns/reading")
			b.ReportMetric(float64(scored.Load())/float64(b.N*30), "anomalies/reading")
		})
	}
}
