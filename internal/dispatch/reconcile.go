package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/incident"
	"github.com/smartmaint/smartmaint/internal/store"
	"github.com/smartmaint/smartmaint/workflows"
)

// Outcomes of reconciling one open incident.
const (
	// ReconcileRunning: its workflow runs and carries it.
	ReconcileRunning = "running"
	// ReconcileReattached: its workflow was gone; a new run carries it on.
	ReconcileReattached = "reattached"
	// ReconcileClosed: its workflow was gone and another incident holds
	// the asset; it was closed as orphaned.
	ReconcileClosed = "closed"
	// ReconcileFailed: it could not be checked now; the next start tries
	// again, and a new anomaly's run adopts it meanwhile.
	ReconcileFailed = "failed"
)

var reconciled = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "smartmaint_incidents_reconciled_total",
	Help: "Open incidents checked against Temporal at start-up, by outcome (running, reattached, closed, failed).",
}, []string{"outcome"})

// ReconcileReport counts the outcomes of one reconciliation.
type ReconcileReport map[string]int

// Reconcile makes PostgreSQL's open incidents and Temporal's incident
// workflows agree, so that no incident is left in limbo after a Temporal
// server lost its history (an in-memory dev server restarted, a cluster
// restored from an older backup) or a run was terminated by hand. For
// every open incident:
//
//   - its workflow runs and carries it: nothing to do;
//   - no run of the asset's workflow is open: a new run is started that
//     carries the incident on from its projection (workflows.ReattachState:
//     awaiting incidents still accept a decision, work orders are followed
//     again), and the maintenance log says so;
//   - the asset's workflow carries a different incident: this one is closed
//     with resolution "orphaned" and a log entry naming the other.
//
// Every outcome is logged and counted in
// smartmaint_incidents_reconciled_total. Run it after the worker started,
// since telling which incident a run carries may need a query. Starting a
// run with a fixed workflow id is safe to race with another replica's
// reconciliation or with the dispatcher: only one run can be open.
func Reconcile(ctx context.Context, c client.Client, db *store.DB, taskQueue string, log *slog.Logger) (ReconcileReport, error) {
	open, err := db.OpenIncidents(ctx)
	if err != nil {
		return nil, err
	}
	rep := ReconcileReport{}
	for _, inc := range open {
		outcome, detail, err := reconcileOne(ctx, c, db, taskQueue, inc)
		if err != nil {
			outcome, detail = ReconcileFailed, err.Error()
		}
		rep[outcome]++
		reconciled.WithLabelValues(outcome).Inc()
		level := slog.LevelInfo
		switch outcome {
		case ReconcileRunning:
			level = slog.LevelDebug
		case ReconcileFailed:
			level = slog.LevelWarn
		}
		log.Log(ctx, level, "incident reconciled", "tenant", inc.TenantID, "incident", inc.ID, "asset", inc.AssetID,
			"status", inc.Status, "outcome", outcome, "detail", detail)
	}
	if len(open) > 0 {
		log.Info("open incidents reconciled with Temporal", "open", len(open), "running", rep[ReconcileRunning],
			"reattached", rep[ReconcileReattached], "closed", rep[ReconcileClosed], "failed", rep[ReconcileFailed])
	}
	return rep, nil
}

func reconcileOne(ctx context.Context, c client.Client, db *store.DB, taskQueue string, inc incident.Projection) (outcome, detail string, err error) {
	wid := inc.WorkflowID
	if wid == "" {
		wid = incident.WorkflowID(inc.TenantID, inc.AssetID)
	}
	for attempt := 0; attempt < 3; attempt++ {
		holder, err := runningIncident(ctx, c, wid, inc.ID)
		if err != nil {
			return "", "", err
		}
		switch {
		case holder == inc.ID:
			return ReconcileRunning, "", nil
		case holder != "":
			now := time.Now()
			msg := fmt.Sprintf("closed at start-up: its workflow was gone and %s now carries incident %s of the asset", wid, holder)
			err := db.CloseOpenIncident(ctx, inc.TenantID, inc.ID, incident.StatusClosed, incident.ResolutionOrphaned,
				"system", incident.EventClosedOrphaned, msg, now)
			if errors.Is(err, store.ErrNotOpen) {
				return ReconcileRunning, "closed meanwhile", nil
			}
			if err != nil {
				return "", "", err
			}
			return ReconcileClosed, msg, nil
		}
		// No open run: carry the incident on in a new one.
		o, err := activities.LoadOrphan(ctx, db, inc)
		if err != nil {
			return "", "", err
		}
		why := fmt.Sprintf("re-attached at start-up: its workflow was gone; carried on as %s", inc.Status)
		st, err := workflows.ReattachState(*o, time.Now(), why)
		if err != nil {
			return "", "", err
		}
		_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: wid, TaskQueue: taskQueue,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		}, workflows.Incident, workflows.IncidentInput{TenantID: inc.TenantID, AssetID: inc.AssetID, State: st, Reattach: true})
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if errors.As(err, &started) {
			continue // someone started a run meanwhile: look again
		}
		if err != nil {
			return "", "", fmt.Errorf("start a run for incident %s: %w", inc.ID, err)
		}
		return ReconcileReattached, why, nil
	}
	return "", "", fmt.Errorf("incident %s: the asset's workflow kept changing", inc.ID)
}

// runningIncident returns the id of the incident the open run of workflow
// id carries, or "" when no run is open; want is the incident expected.
func runningIncident(ctx context.Context, c client.Client, id, want string) (string, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("describe %s: %w", id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return "", nil
	}
	// A run the dispatcher started carries the incident named after its
	// first run; a re-attached or adopted one says in its state.
	if info.GetFirstRunId() == want {
		return want, nil
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, id, info.GetExecution().GetRunId(), workflows.QueryState)
	if err != nil {
		return "", fmt.Errorf("query %s: %w", id, err)
	}
	var s workflows.IncidentState
	if err := v.Get(&s); err != nil {
		return "", fmt.Errorf("query %s: %w", id, err)
	}
	return s.ID, nil
}
