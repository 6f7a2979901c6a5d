package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/internal/app"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/devserver"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/maintenance"
	"github.com/smartmaint/smartmaint/internal/requestid"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/internal/testenv"
	"github.com/smartmaint/smartmaint/internal/workorder"
)

// devConfig is a dev stack's configuration on a database of its own and
// free ports, without the simulator.
func devConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := defaults(t)
	free := func() int {
		p, err := devserver.FreePort("127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	name := "smartmaint_restart_" + requestid.New()[:10]
	admin, err := pgx.ParseConfig(testenv.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", admin.User, admin.Host, admin.Port, name)
	t.Cleanup(func() {
		if err := store.DropDatabase(context.Background(), testenv.AdminURL(), name); err != nil {
			t.Log(err)
		}
	})
	cfg.RedisURL = ""
	cfg.TemporalAddress = fmt.Sprintf("127.0.0.1:%d", free())
	cfg.TemporalUIPort = 0
	cfg.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", free())
	cfg.ModelDir = t.TempDir()
	cfg.DevSimulate = false
	cfg.LogLevel = "error"
	return cfg
}

// startDev starts `smartmaint dev` in process (with its simulator when
// cfg.DevSimulate is on) and returns it with a stop function.
func startDev(t *testing.T, cfg config.Config) (*stack, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var db *store.DB
	a := fx.New(app.Core(cfg), app.Dev(), app.API(), app.Worker(), app.DevSimulator(), fx.Populate(&db), fx.NopLogger)
	if err := a.Start(ctx); err != nil {
		t.Fatalf("start dev stack: %v", err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	}
	t.Cleanup(stop)
	s := &stack{t: t, cfg: cfg, baseURL: "http://" + cfg.HTTPAddr, db: db, keys: map[string]string{"dev": cfg.DevAPIKey}}
	return s, stop
}

// orphan is an open incident written to the projection as its workflow
// last recorded it.
type orphan struct {
	asset     string
	status    incident.Status
	workOrder string // the work order's status, "" for none
	id, woID  string
}

// seedOrphans writes open incidents in every open status, as a stopped dev
// stack leaves them in PostgreSQL.
func seedOrphans(t *testing.T, s *stack, os []*orphan) {
	t.Helper()
	ctx := context.Background()
	tenant := s.cfg.DevTenant
	for _, o := range os {
		s.must(201, "dev", "POST", "/api/v1/assets", map[string]any{"id": o.asset, "type": "press"})
		s.must(201, "dev", "POST", "/api/v1/assets/"+o.asset+"/sensors", map[string]any{"id": "oil_temp", "unit": "K",
			"min_valid": 200, "max_valid": 500, "alarm_high": 350})
		o.id = uuid.NewString()
		now := time.Now().UTC()
		sum := map[string]any{
			"evidence": map[string]any{"anomalies": 3, "first": now.Add(-time.Hour), "last": now.Add(-time.Minute), "severity": "major",
				"by_sensor": map[string]any{"oil_temp": map[string]any{"count": 3, "severity": "major", "last_value": 361, "last_ts": now.Add(-time.Minute), "direction": 1, "high": 3}}},
			"escalation_stage": 0, "decision_due": now.Add(time.Hour), "snoozed_until": now.Add(3 * time.Second),
		}
		raw, _ := json.Marshal(sum)
		inc := incident.Projection{TenantID: tenant, ID: o.id, AssetID: o.asset, WorkflowID: incident.WorkflowID(tenant, o.asset),
			Status: o.status, Severity: "major", Active: true, Confidence: 0.6, Anomalies: 3, Summary: raw, Seq: 4,
			OpenedAt: now.Add(-time.Hour), UpdatedAt: now}
		if o.workOrder != "" {
			wo, _, err := (&maintenance.Store{DB: s.db}).CreateWorkOrderForIncident(ctx, tenant, maintenance.WorkOrder{AssetID: o.asset, IncidentID: o.id,
				Title: "Inspect " + o.asset, Priority: "high", EstimatedMinutes: 60})
			if err != nil {
				t.Fatal(err)
			}
			o.woID = wo.ID
			inc.WorkOrderID = &o.woID
			if o.workOrder == "in_progress" {
				if _, _, err := (&maintenance.Store{DB: s.db}).UpdateWorkOrderStatus(ctx, tenant, wo.ID, workorder.InProgress, now); err != nil {
					t.Fatal(err)
				}
			}
		}
		log := []store.LogEntry{{Seq: 1, At: inc.OpenedAt, Actor: "system", Event: "opened", Message: "seeded"},
			{Seq: 2, At: inc.OpenedAt, Actor: "system", Event: "collected", Message: "seeded"}}
		if err := s.db.RecordIncident(ctx, inc, log); err != nil {
			t.Fatal(err)
		}
	}
}

func (s *stack) incident(id string) map[string]any {
	out := s.must(200, "dev", "GET", "/api/v1/incidents/"+id, nil)
	inc, _ := out["incident"].(map[string]any)
	if st, ok := out["state"].(map[string]any); ok {
		inc["live"] = st
	}
	return inc
}

func (s *stack) logEvents(asset, id string) []string {
	out := s.must(200, "dev", "GET", "/api/v1/assets/"+asset+"/log?incident="+id, nil)
	items, _ := out["items"].([]any)
	var events []string
	for _, it := range items {
		events = append(events, it.(map[string]any)["event"].(string))
	}
	return events
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestDevRestart stops and restarts the dev stack with open incidents in
// every status. The first start meets incidents whose workflows are gone (a
// Temporal server that lost its history): each is re-attached and stays
// actionable. The second start, on the same history file, finds every
// workflow still running. The third, on a fresh in-memory server, re-attaches
// again. Decisions, work-order changes and new anomalies reach the incident
// they are meant for, never a new one.
func TestDevRestart(t *testing.T) {
	cfg := devConfig(t)
	cfg.TemporalDBFile = filepath.Join(t.TempDir(), "temporal.db")

	s, stop := startDev(t, cfg)
	orphans := []*orphan{
		{asset: "press-c", status: incident.StatusCollecting},
		{asset: "press-v", status: incident.StatusValidating},
		{asset: "press-a", status: incident.StatusAwaiting},
		{asset: "press-b", status: incident.StatusAwaiting},
		{asset: "press-z", status: incident.StatusSnoozed},
		{asset: "press-p", status: incident.StatusApproved},
		{asset: "press-s", status: incident.StatusScheduled, workOrder: "scheduled"},
		{asset: "press-i", status: incident.StatusInProgress, workOrder: "in_progress"},
	}
	seedOrphans(t, s, orphans)
	stop()

	// 1. The history never had these workflows: re-attached at start.
	s, stop = startDev(t, cfg)
	for _, o := range orphans {
		eventually(t, 60*time.Second, o.asset+" re-attached", func() bool {
			return contains(s.logEvents(o.asset, o.id), incident.EventReattached)
		})
	}
	byAsset := map[string]*orphan{}
	for _, o := range orphans {
		byAsset[o.asset] = o
	}
	// Awaiting: a decision is taken by the re-attached run.
	a := byAsset["press-a"]
	s.must(200, "dev", "POST", "/api/v1/incidents/"+a.id+"/decision", map[string]any{"action": "approve", "user": "olga"})
	eventually(t, 30*time.Second, "press-a scheduled", func() bool { return s.incident(a.id)["status"] == string(incident.StatusScheduled) })
	// Work orders followed again: done resolves the incident.
	for _, name := range []string{"press-s", "press-i"} {
		o := byAsset[name]
		if o.workOrder == "scheduled" {
			s.must(200, "dev", "PUT", "/api/v1/work-orders/"+o.woID+"/status", map[string]any{"status": "in_progress"})
		}
		s.must(200, "dev", "PUT", "/api/v1/work-orders/"+o.woID+"/status", map[string]any{"status": "done"})
		eventually(t, 30*time.Second, name+" resolved", func() bool { return s.incident(o.id)["status"] == string(incident.StatusResolved) })
	}
	// Approved: planned again, once.
	p := byAsset["press-p"]
	eventually(t, 30*time.Second, "press-p scheduled", func() bool { return s.incident(p.id)["status"] == string(incident.StatusScheduled) })
	// Collecting, validating and snoozed move on by themselves.
	for _, name := range []string{"press-c", "press-v", "press-z"} {
		o := byAsset[name]
		eventually(t, 60*time.Second, name+" moving on", func() bool {
			text, _ := s.incident(o.id)["status"].(string)
			st := incident.Status(text)
			return st != o.status && st != incident.StatusCollecting && st != incident.StatusValidating
		})
	}
	// A new anomaly joins the asset's re-attached incident.
	b := byAsset["press-b"]
	s.must(201, "dev", "POST", "/api/v1/readings", map[string]any{"asset_id": "press-b", "sensor_id": "oil_temp",
		"ts": time.Now().UTC().Add(-time.Second), "value": 420})
	eventually(t, 30*time.Second, "press-b's anomaly joining its incident", func() bool {
		live, _ := s.incident(b.id)["live"].(map[string]any)
		ev, _ := live["evidence"].(map[string]any)
		n, _ := ev["anomalies"].(float64)
		return n > 3
	})
	open := s.must(200, "dev", "GET", "/api/v1/incidents?asset=press-b&status=open", nil)
	if items, _ := open["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != b.id {
		t.Errorf("open incidents of press-b: %v, want only %s", open, b.id)
	}
	stop()

	// 2. Same history file: every workflow is still running; nothing is
	// re-attached twice, and press-b still takes a decision.
	s, stop = startDev(t, cfg)
	s.must(200, "dev", "POST", "/api/v1/incidents/"+b.id+"/decision", map[string]any{"action": "acknowledge", "user": "olga"})
	if got := s.logEvents("press-b", b.id); countOf(got, incident.EventReattached) != 1 {
		t.Errorf("press-b log %v: re-attached %d times after a restart on the same history", got, countOf(got, incident.EventReattached))
	}
	code, body := s.call("dev", "POST", "/api/v1/incidents/"+b.id+"/decision", map[string]any{"action": "acknowledge", "user": "piotr"})
	if code != 409 || field(body, "error", "code") != "already_acknowledged" {
		t.Errorf("second acknowledgement: %d %v, want 409 already_acknowledged", code, body)
	}
	stop()

	// 3. A fresh in-memory server lost everything: re-attached again, and
	// the acknowledgement survived in the projection.
	cfg.TemporalDBFile = "memory"
	s, stop = startDev(t, cfg)
	eventually(t, 60*time.Second, "press-b re-attached again", func() bool {
		return countOf(s.logEvents("press-b", b.id), incident.EventReattached) == 2
	})
	s.must(200, "dev", "POST", "/api/v1/incidents/"+b.id+"/decision", map[string]any{"action": "reject", "user": "olga", "comment": "sensor swapped"})
	eventually(t, 30*time.Second, "press-b rejected", func() bool { return s.incident(b.id)["resolution"] == string(incident.ResolutionRejected) })
	for _, o := range orphans {
		inc := s.incident(o.id)
		if inc["closed_at"] == nil {
			if _, live := inc["live"]; !live {
				t.Errorf("%s is open (%s) without a live workflow: %v", o.asset, inc["status"], inc)
			}
		}
	}
	stop()
}

func countOf(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}
