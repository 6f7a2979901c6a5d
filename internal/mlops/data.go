package mlops

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
)

// SensorFeatures returns the names that are sensor ids (not metadata
// features, see detect.MetadataFeature).
func SensorFeatures(names []string) []string {
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, detect.MetadataFeature) {
			out = append(out, n)
		}
	}
	return out
}

// RecentValues returns, per feature sensor id, the newest values reported
// in [from, to) by the tenant's assets of assetType: at most limit per
// feature, taken evenly across the assets' sensors.
func RecentValues(ctx context.Context, db *store.DB, tenant, assetType string, features []string, from, to time.Time, limit int) (map[string][]float64, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT s.id, v.value
		FROM sensors s
		JOIN assets a ON a.tenant_id = s.tenant_id AND a.id = s.asset_id
		CROSS JOIN LATERAL (
			SELECT r.value FROM readings r
			WHERE r.sensor_key = s.key AND r.ts >= $4 AND r.ts < $5
			ORDER BY r.ts DESC LIMIT $6) v
		WHERE s.tenant_id = $1 AND a.type = $2 AND s.id = ANY($3)`,
		tenant, assetType, features, from, to, limit)
	if err != nil {
		return nil, fmt.Errorf("mlops: recent values: %w", err)
	}
	out := map[string][]float64{}
	var id string
	var v float64
	if _, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error {
		out[id] = append(out[id], v)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("mlops: recent values: %w", err)
	}
	for id, vs := range out {
		out[id] = thin(vs, limit)
	}
	return out, nil
}

// thin keeps n values spread evenly over vs.
func thin(vs []float64, n int) []float64 {
	if len(vs) <= n {
		return vs
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = vs[i*len(vs)/n]
	}
	return out
}

// Snapshots are feature vectors built from readings: one row per asset and
// time bucket in which every sensor feature reported.
type Snapshots struct {
	Names  []string    `json:"names"`
	Rows   [][]float64 `json:"rows"`
	Times  []time.Time `json:"times"`
	Assets []string    `json:"assets"`
}

// LoadSnapshots reads the feature vectors of the tenant's assets of
// assetType in [from, to), oldest first, at most limit (the newest).
// Readings are grouped into buckets of the given width; a sensor that
// reported twice in a bucket counts with its last value. Metadata features
// are read from each asset's metadata; assets lacking one are left out.
//
// Snapshots taken while the asset had a confirmed fault are left out too,
// so a retrained model does not learn a fault as normal: from one bucket
// before an incident opened until it closed (or until to, while open), for
// incidents approved by a person or the policy (approved, scheduled, in
// progress, or resolved by their work order). Incidents awaiting a decision,
// rejected or found false positives do not count: their readings are normal
// until someone says otherwise. An asset's incidents do not overlap (one
// is open at a time), so only the latest one opened before a snapshot can
// cover it: that is the one looked up, by index.
func LoadSnapshots(ctx context.Context, db *store.DB, tenant, assetType string, names []string, from, to time.Time, bucket time.Duration, limit int) (*Snapshots, error) {
	return loadSnapshots(ctx, db, tenant, assetType, names, from, to, bucket, limit, withoutFaults)
}

// LoadFaultSnapshots is LoadSnapshots keeping only the snapshots it leaves
// out: those taken while the asset had a confirmed fault. They are the
// positives of the labelled evaluation, never trained on.
func LoadFaultSnapshots(ctx context.Context, db *store.DB, tenant, assetType string, names []string, from, to time.Time, bucket time.Duration, limit int) (*Snapshots, error) {
	return loadSnapshots(ctx, db, tenant, assetType, names, from, to, bucket, limit, onlyFaults)
}

// LoadAllSnapshots is LoadSnapshots keeping the snapshots taken during
// confirmed faults: the rows a failure classifier learns failures from.
func LoadAllSnapshots(ctx context.Context, db *store.DB, tenant, assetType string, names []string, from, to time.Time, bucket time.Duration, limit int) (*Snapshots, error) {
	return loadSnapshots(ctx, db, tenant, assetType, names, from, to, bucket, limit, withFaults)
}

// faultFilter says which snapshots loadSnapshots keeps, by whether the
// asset had a confirmed fault when they were taken.
type faultFilter int

const (
	withoutFaults faultFilter = iota
	onlyFaults
	withFaults
)

func loadSnapshots(ctx context.Context, db *store.DB, tenant, assetType string, names []string, from, to time.Time, bucket time.Duration, limit int, filter faultFilter) (*Snapshots, error) {
	sensors := SensorFeatures(names)
	if len(sensors) == 0 {
		return nil, fmt.Errorf("mlops: model features %v name no sensor", names)
	}
	meta := map[string]map[string]any{}
	if len(sensors) < len(names) {
		rows, err := db.Pool.Query(ctx, `SELECT id, metadata FROM assets WHERE tenant_id = $1 AND type = $2`, tenant, assetType)
		if err != nil {
			return nil, fmt.Errorf("mlops: asset metadata: %w", err)
		}
		var id string
		var m map[string]any
		if _, err := pgx.ForEachRow(rows, []any{&id, &m}, func() error { meta[id] = m; return nil }); err != nil {
			return nil, fmt.Errorf("mlops: asset metadata: %w", err)
		}
	}
	// during: the snapshot falls from one bucket before the asset's latest
	// confirmed fault opened until it closed (a confirmed fault of an asset
	// never overlaps the next, so the latest one opened is the only one to
	// look at; found by index).
	during := `EXISTS (
			SELECT 1 FROM (
				SELECT i.closed_at FROM incidents i
				WHERE i.tenant_id = $1 AND i.asset_id = x.asset_id
				  AND ` + incident.RealFaultSQL("i.") + `
				  AND i.opened_at < x.t + 2 * $6
				ORDER BY i.opened_at DESC LIMIT 1) last
			WHERE x.t < coalesce(last.closed_at, $5))`
	keep := map[faultFilter]string{withoutFaults: "NOT " + during, onlyFaults: during, withFaults: "true"}[filter]
	rows, err := db.Pool.Query(ctx, `
		SELECT asset_id, t, ids, vals FROM (
			SELECT s.asset_id, date_bin($6, r.ts, timestamptz '2000-01-01 00:00:00+00') AS t,
				array_agg(s.id ORDER BY r.ts) AS ids, array_agg(r.value ORDER BY r.ts) AS vals,
				count(DISTINCT s.id) AS n
			FROM sensors s
			JOIN assets a ON a.tenant_id = s.tenant_id AND a.id = s.asset_id
			JOIN readings r ON r.sensor_key = s.key
			WHERE s.tenant_id = $1 AND a.type = $2 AND s.id = ANY($3) AND r.ts >= $4 AND r.ts < $5
			GROUP BY 1, 2) x
		WHERE n = $7 AND `+keep+`
		ORDER BY t DESC, asset_id LIMIT $8`,
		tenant, assetType, sensors, from, to, bucket, len(sensors), limit)
	if err != nil {
		return nil, fmt.Errorf("mlops: snapshots: %w", err)
	}
	snap := &Snapshots{Names: names}
	index := map[string]int{}
	for i, n := range names {
		index[n] = i
	}
	var asset string
	var t time.Time
	var ids []string
	var vals []float64
	_, err = pgx.ForEachRow(rows, []any{&asset, &t, &ids, &vals}, func() error {
		x := make([]float64, len(names))
		for i, n := range names {
			if spec, ok := strings.CutPrefix(n, detect.MetadataFeature); ok {
				v, ok := detect.MetadataValue(meta[asset], spec)
				if !ok {
					return nil
				}
				x[i] = v
			}
		}
		for k, id := range ids {
			x[index[id]] = vals[k]
		}
		snap.Rows = append(snap.Rows, x)
		snap.Times = append(snap.Times, t)
		snap.Assets = append(snap.Assets, asset)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mlops: snapshots: %w", err)
	}
	slices.Reverse(snap.Rows)
	slices.Reverse(snap.Times)
	slices.Reverse(snap.Assets)
	return snap, nil
}

// Split divides the snapshots into training rows and a holdout share for
// evaluation, spread evenly over the window (with holdout 0.2, every fifth
// snapshot): both sets see the whole window, so a trend within it does not
// make the holdout look unlike the training data. At least one row goes to
// each side; the split is deterministic.
func (s *Snapshots) Split(holdout float64) (train, test [][]float64) {
	for i, row := range s.Rows {
		if math.Floor(float64(i+1)*holdout) > math.Floor(float64(i)*holdout) {
			test = append(test, row)
		} else {
			train = append(train, row)
		}
	}
	switch {
	case len(test) == 0 && len(train) > 1:
		test, train = train[len(train)-1:], train[:len(train)-1]
	case len(train) == 0 && len(test) > 1:
		train, test = test[:1], test[1:]
	}
	return train, test
}

// ConfirmedFaults returns, per asset of assetType, when each incident that
// turned out a real fault (incident.RealFaultSQL) opened in [from, to),
// oldest first; with the type's assets, those without faults included.
func ConfirmedFaults(ctx context.Context, db *store.DB, tenant, assetType string, from, to time.Time) (map[string][]time.Time, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT a.id, i.opened_at FROM assets a
		LEFT JOIN incidents i ON i.tenant_id = a.tenant_id AND i.asset_id = a.id
		  AND `+incident.RealFaultSQL("i.")+` AND i.opened_at >= $3 AND i.opened_at < $4
		WHERE a.tenant_id = $1 AND a.type = $2
		ORDER BY a.id, i.opened_at`, tenant, assetType, from, to)
	if err != nil {
		return nil, fmt.Errorf("mlops: confirmed faults: %w", err)
	}
	out := map[string][]time.Time{}
	var id string
	var at *time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		if _, ok := out[id]; !ok {
			out[id] = nil
		}
		if at != nil {
			out[id] = append(out[id], *at)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("mlops: confirmed faults: %w", err)
	}
	return out, nil
}
