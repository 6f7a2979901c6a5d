package mlops

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/binding"
	"github.com/smartmaint/smartmaint/internal/detect"
	"github.com/smartmaint/smartmaint/internal/modelkind"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// LiveAlarms counts the anomalies version of model raised for the tenant
// that were stored in [from, to) — attributed by their reason
// (detect.ReasonMarks) and timed by when they were stored, that is when
// the version scored them — and the assets the model serves: those of the
// asset types bound to it, and, for a model named binding.ModelPrefix +
// type, the assets of that type without an anomaly binding of their own.
func (s *Store) LiveAlarms(ctx context.Context, tenant, model string, version int, from, to time.Time) (AlarmRate, error) {
	r := AlarmRate{Version: version, From: from, To: to, Hours: to.Sub(from).Hours()}
	marks := detect.ReasonMarks(model, version)
	err := s.DB.Pool.QueryRow(ctx, `
		SELECT
			(SELECT count(*) FROM anomalies
			 WHERE tenant_id = $1 AND created_at >= $3 AND created_at < $4
			   AND (strpos(reason, $5) > 0 OR strpos(reason, $6) > 0)),
			(SELECT count(*) FROM assets a
			 WHERE a.tenant_id = $1 AND (
			   EXISTS (SELECT 1 FROM model_bindings b WHERE b.tenant_id = a.tenant_id AND b.asset_type = a.type AND b.model = $2)
			   OR ($2 = $7 || a.type AND NOT EXISTS (
			     SELECT 1 FROM model_bindings b WHERE b.tenant_id = a.tenant_id AND b.asset_type = a.type AND b.kind = $8))))`,
		tenant, model, from, to, marks[0], marks[1], binding.ModelPrefix, string(modelkind.Anomaly)).Scan(&r.Alarms, &r.Assets)
	if err != nil {
		return r, fmt.Errorf("mlops: live alarms of %s v%d: %w", model, version, err)
	}
	return r, nil
}

// RollbackCount is how many automatic rollbacks of one reason a model's
// champion had.
type RollbackCount struct {
	TenantID string
	Name     string
	Reason   string
	N        int
}

// AutomaticRollbacks counts, across tenants, the champion moves recorded
// with registry.AutomaticRollbackPrefix, by model and reason
// (RollbackReasonOf).
func (s *Store) AutomaticRollbacks(ctx context.Context) ([]RollbackCount, error) {
	rows, err := s.DB.Pool.Query(ctx, `
		SELECT tenant_id, name, reason FROM model_alias_events
		WHERE alias = $1 AND starts_with(reason, $2) ORDER BY tenant_id, name, id`, registry.Champion, registry.AutomaticRollbackPrefix)
	if err != nil {
		return nil, fmt.Errorf("mlops: automatic rollbacks: %w", err)
	}
	var out []RollbackCount
	var tenant, name, reason string
	_, err = pgx.ForEachRow(rows, []any{&tenant, &name, &reason}, func() error {
		label := RollbackReasonOf(reason)
		for i := range out {
			if out[i].TenantID == tenant && out[i].Name == name && out[i].Reason == label {
				out[i].N++
				return nil
			}
		}
		out = append(out, RollbackCount{TenantID: tenant, Name: name, Reason: label, N: 1})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mlops: automatic rollbacks: %w", err)
	}
	return out, nil
}
