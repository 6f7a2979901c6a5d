package report

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Report statuses.
const (
	StatusRunning = "running"
	StatusDone    = "done"
	StatusFailed  = "failed"
)

// Triggers say what started a report.
const (
	TriggerAPI      = "api"
	TriggerSchedule = "schedule"
)

// Meta is a stored report without its document.
type Meta struct {
	ID          string `json:"id"`
	TenantID    string `json:"-"`
	WorkflowID  string `json:"workflow_id"`
	Trigger     string `json:"trigger"`
	RequestedBy string `json:"requested_by"`
	Status      string `json:"status"`
	Window
	Assets     []string   `json:"assets"`
	Charts     []string   `json:"charts"`
	Error      string     `json:"error,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ComputedAt *time.Time `json:"computed_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

// Store keeps reports and their charts in PostgreSQL. Reads go through the
// tenant's row-level security; the workflow's writes use the owner role.
type Store struct {
	DB *store.DB
}

const metaColumns = `id::text, workflow_id, trigger, requested_by, status, window_from, window_to, assets, charts, error,
	created_at, computed_at, finished_at`

// scanMeta reads metaColumns and then the extra columns into extra.
func scanMeta(row pgx.Row, extra ...any) (Meta, error) {
	var m Meta
	err := row.Scan(append([]any{&m.ID, &m.WorkflowID, &m.Trigger, &m.RequestedBy, &m.Status, &m.From, &m.To, &m.Assets, &m.Charts, &m.Error,
		&m.CreatedAt, &m.ComputedAt, &m.FinishedAt}, extra...)...)
	if m.Assets == nil {
		m.Assets = []string{}
	}
	if m.Charts == nil {
		m.Charts = []string{}
	}
	return m, err
}

// Create records m as a running report unless its id exists already, and
// returns the stored report either way: the API and the workflow may both
// call it.
func (s *Store) Create(ctx context.Context, m Meta) (Meta, error) {
	if uuid.Validate(m.ID) != nil {
		return Meta{}, fmt.Errorf("report: create: %w: id %q is not a UUID", store.ErrInvalid, m.ID)
	}
	if m.Assets == nil {
		m.Assets = []string{}
	}
	var out Meta
	err := s.DB.InTenant(ctx, m.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `
			INSERT INTO reports (tenant_id, id, workflow_id, trigger, requested_by, window_from, window_to, assets)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (tenant_id, id) DO NOTHING`,
			m.TenantID, m.ID, m.WorkflowID, m.Trigger, m.RequestedBy, m.From, m.To, m.Assets)
		if err != nil {
			return err
		}
		out, err = scanMeta(tx.QueryRow(ctx, `SELECT `+metaColumns+` FROM reports WHERE id = $1`, m.ID))
		return err
	})
	if err != nil {
		return Meta{}, fmt.Errorf("report: create %s: %w", m.ID, err)
	}
	out.TenantID = m.TenantID
	return out, nil
}

// SaveDocument stores r as the document of report id, replacing what an
// earlier attempt stored.
func (s *Store) SaveDocument(ctx context.Context, tenant, id string, r *Report) error {
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("report: encode %s: %w", id, err)
	}
	return s.update(ctx, "save document of", tenant, id,
		`UPDATE reports SET document = $3, computed_at = $4 WHERE tenant_id = $1 AND id = $2`, doc, r.ComputedAt)
}

// Rendered is a chart in one format.
type Rendered struct {
	Name    string
	Format  Format
	Content []byte
}

// SaveCharts stores charts of report id, replacing same-named ones.
func (s *Store) SaveCharts(ctx context.Context, tenant, id string, charts []Rendered) error {
	if len(charts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, c := range charts {
		b.Queue(`
			INSERT INTO report_charts (tenant_id, report_id, name, format, content) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (tenant_id, report_id, name, format) DO UPDATE SET content = excluded.content, created_at = now()`,
			tenant, id, c.Name, string(c.Format), c.Content)
	}
	if err := s.DB.Pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("report: save charts of %s: %w", id, err)
	}
	return nil
}

// Finish marks report id done with its chart names. Finishing twice keeps
// the first finish time.
func (s *Store) Finish(ctx context.Context, tenant, id string, charts []string) error {
	if charts == nil {
		charts = []string{}
	}
	return s.update(ctx, "finish", tenant, id, `
		UPDATE reports SET status = 'done', charts = $3, error = '', finished_at = coalesce(finished_at, now())
		WHERE tenant_id = $1 AND id = $2`, charts)
}

// Fail marks report id failed with message, unless it is done.
func (s *Store) Fail(ctx context.Context, tenant, id, message string) error {
	return s.update(ctx, "fail", tenant, id, `
		UPDATE reports SET status = 'failed', error = $3, finished_at = coalesce(finished_at, now())
		WHERE tenant_id = $1 AND id = $2 AND status <> 'done'`, message)
}

func (s *Store) update(ctx context.Context, what, tenant, id, statement string, args ...any) error {
	tag, err := s.DB.Pool.Exec(ctx, statement, append([]any{tenant, id}, args...)...)
	if err != nil {
		return fmt.Errorf("report: %s %s: %w", what, id, err)
	}
	if tag.RowsAffected() == 0 && what != "fail" {
		return fmt.Errorf("report: %s %s: %w", what, id, store.ErrNotFound)
	}
	return nil
}

// Get returns report id of tenant and its raw JSON document (nil until
// computed).
func (s *Store) Get(ctx context.Context, tenant, id string) (Meta, json.RawMessage, error) {
	if uuid.Validate(id) != nil {
		return Meta{}, nil, fmt.Errorf("report %q: %w", id, store.ErrNotFound)
	}
	var m Meta
	var doc json.RawMessage
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		var err error
		m, err = scanMeta(tx.QueryRow(ctx, `SELECT `+metaColumns+`, document FROM reports WHERE id = $1`, id), &doc)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Meta{}, nil, fmt.Errorf("report %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return Meta{}, nil, fmt.Errorf("report: get %s: %w", id, err)
	}
	m.TenantID = tenant
	return m, doc, nil
}

// Document returns the decoded document of report id; store.ErrNotFound
// when the report does not exist or has none yet.
func (s *Store) Document(ctx context.Context, tenant, id string) (*Report, error) {
	_, raw, err := s.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("report %q has no document yet: %w", id, store.ErrNotFound)
	}
	var r Report
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("report: decode %s: %w", id, err)
	}
	return &r, nil
}

// ListFilter narrows List.
type ListFilter struct {
	// Status is running, done or failed; empty for all.
	Status string
	// Before is the id of the last report of the previous page.
	Before string
	Limit  int
}

// List returns tenant's reports newest first.
func (s *Store) List(ctx context.Context, tenant string, f ListFilter) ([]Meta, error) {
	if f.Limit <= 0 || f.Limit > 100 {
		f.Limit = 20
	}
	if f.Before != "" && uuid.Validate(f.Before) != nil {
		return nil, fmt.Errorf("report: list: %w: before %q is not a report id", store.ErrInvalid, f.Before)
	}
	out := []Meta{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT `+metaColumns+` FROM reports
			WHERE ($1 = '' OR status = $1)
			  AND ($2 = '' OR (created_at, id) < (SELECT created_at, id FROM reports WHERE id = nullif($2, '')::uuid))
			ORDER BY created_at DESC, id DESC LIMIT $3`, f.Status, f.Before, f.Limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Meta, error) { return scanMeta(r) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("report: list: %w", err)
	}
	return out, nil
}

// Chart returns a chart of report id in format.
func (s *Store) Chart(ctx context.Context, tenant, id, name string, format Format) ([]byte, error) {
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("report %q: %w", id, store.ErrNotFound)
	}
	var content []byte
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT content FROM report_charts WHERE report_id = $1 AND name = $2 AND format = $3`,
			id, name, string(format)).Scan(&content)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("chart %q of report %s: %w", name+"."+string(format), id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("report: chart %s of %s: %w", name, id, err)
	}
	return content, nil
}

// TenantsWithAssets lists the tenants that have at least one asset (owner
// role; for the report schedule).
func (s *Store) TenantsWithAssets(ctx context.Context) ([]string, error) {
	rows, err := s.DB.Pool.Query(ctx, `SELECT id FROM tenants t WHERE EXISTS (SELECT 1 FROM assets a WHERE a.tenant_id = t.id) ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("report: tenants: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("report: tenants: %w", err)
	}
	return ids, nil
}

// MissingAssets returns the ids among ids that are not assets of tenant.
func (s *Store) MissingAssets(ctx context.Context, tenant string, ids []string) ([]string, error) {
	missing := []string{}
	err := s.DB.InTenant(ctx, tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			SELECT id FROM unnest($1::text[]) AS wanted(id)
			WHERE NOT EXISTS (SELECT 1 FROM assets a WHERE a.id = wanted.id)
			ORDER BY id`, ids)
		if err != nil {
			return err
		}
		missing, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("report: check assets: %w", err)
	}
	return missing, nil
}
