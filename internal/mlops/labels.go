package mlops

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/ml/modelfile"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// Failure is a confirmed failure of an asset: an incident that is a real
// fault (incident.RealFault), or whose work order is done. At is when the
// incident opened: the moment the failure showed.
type Failure struct {
	Asset    string    `json:"asset"`
	Incident string    `json:"incident"`
	At       time.Time `json:"at"`
}

// LoadFailures returns the confirmed failures of the tenant's assets of
// assetType that showed in [from, to), by asset and time.
func LoadFailures(ctx context.Context, db *store.DB, tenant, assetType string, from, to time.Time) ([]Failure, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT i.asset_id, i.id, i.opened_at
		FROM incidents i
		JOIN assets a ON a.tenant_id = i.tenant_id AND a.id = i.asset_id
		WHERE i.tenant_id = $1 AND a.type = $2 AND i.opened_at >= $3 AND i.opened_at < $4
		  AND (`+incident.RealFaultSQL("i.")+` OR EXISTS (
			SELECT 1 FROM work_orders w
			WHERE w.tenant_id = i.tenant_id AND w.incident_id = i.id AND w.status = $5))
		ORDER BY i.asset_id, i.opened_at`,
		tenant, assetType, from, to, string(workorder.Done))
	if err != nil {
		return nil, fmt.Errorf("mlops: failures: %w", err)
	}
	var out []Failure
	var f Failure
	if _, err := pgx.ForEachRow(rows, []any{&f.Asset, &f.Incident, &f.At}, func() error {
		out = append(out, f)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("mlops: failures: %w", err)
	}
	return out, nil
}

// FailureLabels labels each snapshot true when a failure of its asset
// shows within horizon of it: at or after the snapshot's time and before
// the time plus horizon. failures must be sorted by asset and time, as
// LoadFailures returns them.
func FailureLabels(s *Snapshots, failures []Failure, horizon time.Duration) []bool {
	byAsset := map[string][]time.Time{}
	for _, f := range failures {
		byAsset[f.Asset] = append(byAsset[f.Asset], f.At)
	}
	y := make([]bool, len(s.Rows))
	for i, t := range s.Times {
		for _, at := range byAsset[s.Assets[i]] {
			if !at.Before(t) && at.Before(t.Add(horizon)) {
				y[i] = true
				break
			}
			if !at.Before(t.Add(horizon)) {
				break
			}
		}
	}
	return y
}

// TimeSplit returns the index of the first holdout snapshot when the
// newest holdout share of the window's time is kept for evaluation: the
// snapshots (oldest first) before the index were taken in the first
// 1 − holdout of the time from the first snapshot to the last.
func (s *Snapshots) TimeSplit(holdout float64) int {
	if len(s.Times) < 2 {
		return len(s.Times)
	}
	first, last := s.Times[0], s.Times[len(s.Times)-1]
	cut := first.Add(time.Duration(float64(last.Sub(first)) * (1 - holdout)))
	for i, t := range s.Times {
		if !t.Before(cut) {
			return i
		}
	}
	return len(s.Times)
}

// Rename returns the snapshots with their columns named names (the model's
// feature names, where Names are the sources the values were read from).
func (s *Snapshots) Rename(names []string) *Snapshots {
	out := *s
	out.Names = names
	return &out
}

// RegistryKind is the registry kind of the versions that training
// (the TrainModel workflow) makes for k: "iforest" for an anomaly model,
// "gbdt" for a failure risk model, "rul" for a remaining useful life
// model; "" for a kind it cannot train.
func RegistryKind(k modelkind.Kind) string {
	switch k {
	case modelkind.Anomaly:
		return Kind
	case modelkind.FailureRisk:
		return modelfile.KindGBDT
	case modelkind.RUL:
		return modelfile.KindRUL
	}
	return ""
}

// TrainableKinds are the kinds the TrainModel workflow trains from stored
// readings.
var TrainableKinds = []modelkind.Kind{modelkind.Anomaly, modelkind.FailureRisk, modelkind.RUL}

// NameProblem says why a model called name cannot hold models of kind k,
// or "" when it can: the asset types' default anomaly models
// (binding.ModelPrefix) are anomaly models.
func NameProblem(name string, k modelkind.Kind) string {
	if strings.HasPrefix(name, binding.ModelPrefix) && k != modelkind.Anomaly {
		return fmt.Sprintf("models named %s<asset type> are the asset types' default anomaly models; a %s model needs another name", binding.ModelPrefix, k)
	}
	return ""
}

// CommonSensors returns, sorted, the sensor ids that every asset of the
// tenant's assetType has: the default features of a first model.
func CommonSensors(ctx context.Context, db *store.DB, tenant, assetType string) ([]string, error) {
	rows, err := db.Pool.Query(ctx, `
		SELECT s.id
		FROM sensors s
		JOIN assets a ON a.tenant_id = s.tenant_id AND a.id = s.asset_id
		WHERE s.tenant_id = $1 AND a.type = $2
		GROUP BY s.id
		HAVING count(DISTINCT a.id) = (SELECT count(*) FROM assets WHERE tenant_id = $1 AND type = $2)
		ORDER BY s.id`, tenant, assetType)
	if err != nil {
		return nil, fmt.Errorf("mlops: sensors of %s: %w", assetType, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("mlops: sensors of %s: %w", assetType, err)
	}
	return ids, nil
}

// Run is one asset's run to failure within snapshots: the indexes of its
// snapshots (in time order) after its previous confirmed failure, or
// from its first snapshot, up to and including the last one at or before
// Failure.
type Run struct {
	Asset   string  `json:"asset"`
	Failure Failure `json:"failure"`
	Rows    []int   `json:"rows"`
}

// CyclesLeft is the number of cycles (snapshots) from the run's k-th
// snapshot to its failure: 0 at its last.
func (r Run) CyclesLeft(k int) int { return len(r.Rows) - 1 - k }

// FailureRuns splits each asset's snapshots, taken one per cycle, at its
// confirmed failures: a run is the snapshots up to a failure since the
// previous one. Snapshots after an asset's last failure end no run and
// are left out, as are failures with no snapshot before them. The runs
// are ordered by failure time (then asset); failures must be sorted by
// asset and time, as LoadFailures returns them.
func FailureRuns(s *Snapshots, failures []Failure) []Run {
	byAsset := map[string][]int{}
	for i, a := range s.Assets {
		byAsset[a] = append(byAsset[a], i)
	}
	var runs []Run
	next := map[string]int{} // per asset, the position in byAsset of the next snapshot to place
	for _, f := range failures {
		idx := byAsset[f.Asset]
		k := next[f.Asset]
		r := Run{Asset: f.Asset, Failure: f}
		for k < len(idx) && !s.Times[idx[k]].After(f.At) {
			r.Rows = append(r.Rows, idx[k])
			k++
		}
		next[f.Asset] = k
		if len(r.Rows) > 0 {
			runs = append(runs, r)
		}
	}
	slices.SortStableFunc(runs, func(a, b Run) int {
		return cmp.Or(a.Failure.At.Compare(b.Failure.At), strings.Compare(a.Asset, b.Asset))
	})
	return runs
}
