// Package mlopstest lays a slice of AI4I 2020 out as a tenant's stored
// history for the training tests: the process features as the readings of
// a few machines, one record a minute per machine, and each record's
// machine failure label as a confirmed failure (an incident and its done
// work order). The failure-mode columns, which leak the label, are never
// written. CMAPSS does the same with C-MAPSS engines run to failure: their
// edge-computed RUL features, one record a cycle, failing at the last.
package mlopstest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/dataset"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/rul"
	"github.com/smartmaint/smartmaint/internal/simulate"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Step is the time between a machine's records.
const Step = time.Minute

// Record is one AI4I record as a machine's snapshot.
type Record struct {
	Asset   string
	TS      time.Time
	Values  map[string]float64 // by sensor id
	Failure bool
}

// History is records of machines from Start, oldest first: for AI4I, n
// records (cycling through the file when n exceeds it) spread over
// machines, record i belonging to machine i mod len(Assets), at
// Start + (i / len(Assets))·Step.
type History struct {
	Assets  []string
	Sensors []simulate.SensorSpec
	Records []Record
	Start   time.Time
	// Step is the time between a machine's records (the Step constant
	// when zero).
	Step time.Duration
}

// End is one step after the last record.
func (h *History) End() time.Time {
	end := h.Start
	for _, r := range h.Records {
		if r.TS.After(end) {
			end = r.TS
		}
	}
	return end.Add(cmp.Or(h.Step, Step))
}

// Failures counts the records labelled as failures.
func (h *History) Failures() int {
	n := 0
	for _, r := range h.Records {
		if r.Failure {
			n++
		}
	}
	return n
}

// AI4I builds a History of n records over the named machines from start.
func AI4I(tb testing.TB, n int, start time.Time, assets ...string) *History {
	tb.Helper()
	path, err := dataset.AI4IPath()
	if err != nil {
		tb.Skipf("AI4I 2020 not available: %v", err)
	}
	recs, err := dataset.LoadAI4I(path)
	if err != nil {
		tb.Fatal(err)
	}
	h := &History{Assets: assets, Sensors: simulate.Sensors(recs), Start: start}
	for i := range n {
		r := recs[i%len(recs)]
		rec := Record{Asset: assets[i%len(assets)], TS: start.Add(time.Duration(i/len(assets)) * Step), Values: map[string]float64{}, Failure: r.Failure}
		for _, s := range h.Sensors {
			rec.Values[s.ID] = s.Value(r)
		}
		h.Records = append(h.Records, rec)
	}
	return h
}

// CMAPSS builds a History of the n shortest C-MAPSS FD001 training engines
// (run to failure), as assets engine-<unit> sending, one record per cycle
// step apart from start, the RUL features their edge computers make
// (simulate.EngineFeatures with rul.DefaultConfig); each engine's last
// cycle is its failure. The engines run side by side from start, so the
// longer-lived fail later.
func CMAPSS(tb testing.TB, n int, start time.Time, step time.Duration) *History {
	tb.Helper()
	f, err := rul.FD001()
	if err != nil {
		tb.Skipf("C-MAPSS not available: %v", err)
	}
	engines, err := dataset.LoadCMAPSSEngines(f.Train)
	if err != nil {
		tb.Skipf("C-MAPSS not available: %v", err)
	}
	slices.SortStableFunc(engines, func(a, b dataset.CMAPSSEngine) int { return cmp.Compare(len(a.Cycles), len(b.Cycles)) })
	engines = engines[:min(n, len(engines))]
	h := &History{Sensors: simulate.EngineSensors(), Start: start, Step: step}
	names := h.SensorIDs()
	for _, e := range engines {
		asset := fmt.Sprintf("engine-%03d", e.Unit)
		h.Assets = append(h.Assets, asset)
		x, err := simulate.EngineFeatures(e, rul.DefaultConfig())
		if err != nil {
			tb.Fatal(err)
		}
		for c, v := range x {
			rec := Record{Asset: asset, TS: start.Add(time.Duration(c) * step), Values: map[string]float64{}, Failure: c == len(x)-1}
			for i, id := range names {
				rec.Values[id] = v[i]
			}
			h.Records = append(h.Records, rec)
		}
	}
	slices.SortStableFunc(h.Records, func(a, b Record) int { return a.TS.Compare(b.TS) })
	return h
}

// SensorIDs are the history's sensor ids.
func (h *History) SensorIDs() []string {
	ids := make([]string, len(h.Sensors))
	for i, s := range h.Sensors {
		ids[i] = s.ID
	}
	return ids
}

// CreateAssets creates the machines as assets of assetType with the
// history's sensors (no thresholds).
func (h *History) CreateAssets(tb testing.TB, db *store.DB, tenant, assetType string) map[string]map[string]int64 {
	tb.Helper()
	ctx := context.Background()
	keys := map[string]map[string]int64{}
	for _, a := range h.Assets {
		if _, err := db.CreateAsset(ctx, tenant, store.Asset{ID: a, Type: assetType}); err != nil {
			tb.Fatal(err)
		}
		keys[a] = map[string]int64{}
		for _, spec := range h.Sensors {
			s, err := db.CreateSensor(ctx, tenant, store.Sensor{AssetID: a, ID: spec.ID, Unit: spec.Unit})
			if err != nil {
				tb.Fatal(err)
			}
			keys[a][spec.ID] = s.Key
		}
	}
	return keys
}

// WriteReadings stores every record's values as readings.
func (h *History) WriteReadings(tb testing.TB, db *store.DB, tenant string, keys map[string]map[string]int64) {
	tb.Helper()
	rows := make([]store.Reading, 0, len(h.Records)*len(h.Sensors))
	for _, r := range h.Records {
		for id, v := range r.Values {
			rows = append(rows, store.Reading{TenantID: tenant, SensorKey: keys[r.Asset][id], TS: r.TS, Value: v})
		}
	}
	if err := db.WriteReadings(context.Background(), nil, rows); err != nil {
		tb.Fatal(err)
	}
}

// ConfirmFailures records every failure record as a confirmed failure: an
// incident opened at the record's time and closed 30 seconds later. Every
// other one is resolved through its done work order (resolution
// resolved); the rest are closed without a resolution but with a done
// work order, which confirms them as well. A rejected incident a few
// records after each tenth failure is a false alarm that must not count.
func (h *History) ConfirmFailures(tb testing.TB, db *store.DB, tenant string) {
	tb.Helper()
	ctx := context.Background()
	k := 0
	for i, r := range h.Records {
		if !r.Failure {
			continue
		}
		id := fmt.Sprintf("inc-%d", i)
		res := incident.ResolutionResolved
		if k%2 == 1 {
			res = ""
		}
		insertIncident(tb, db, tenant, id, r.Asset, res, r.TS)
		if _, err := db.Pool.Exec(ctx, `
			INSERT INTO work_orders (tenant_id, asset_id, incident_id, title, status, estimated_minutes, completed_at)
			VALUES ($1, $2, $3, $4, $5, 60, $6)`,
			tenant, r.Asset, id, "repair after failure", string(workorder.Done), r.TS.Add(30*time.Second)); err != nil {
			tb.Fatal(err)
		}
		if k%10 == 0 && i+3*len(h.Assets) < len(h.Records) {
			f := h.Records[i+3*len(h.Assets)]
			if !f.Failure {
				insertIncident(tb, db, tenant, fmt.Sprintf("fa-%d", i), f.Asset, incident.ResolutionRejected, f.TS)
			}
		}
		k++
	}
}

func insertIncident(tb testing.TB, db *store.DB, tenant, id, asset string, res incident.Resolution, at time.Time) {
	tb.Helper()
	if _, err := db.Pool.Exec(context.Background(), `
		INSERT INTO incidents (tenant_id, id, asset_id, workflow_id, status, resolution, severity, seq, opened_at, updated_at, closed_at, active)
		VALUES ($1, $2, $3, $4, $5, $6, 'major', 1, $7, $8, $8, false)`,
		tenant, id, asset, "incident/"+tenant+"/"+asset, string(incident.StatusClosed), string(res), at, at.Add(30*time.Second)); err != nil {
		tb.Fatal(err)
	}
}
