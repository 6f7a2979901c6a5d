package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// watchRun runs ModelWatch against fake activities: alarms gives the
// alarms of each successive check (on two assets), champion the champion
// each check finds (2 when nil).
type watchRun struct {
	alarms      []int
	champion    func(check int) int
	rollbackErr error

	mu        sync.Mutex
	checks    int
	rollbacks []activities.RollbackInput
	notified  []activities.NotifyInput
}

func (w *watchRun) input(now time.Time) ModelWatchInput {
	return ModelWatchInput{TenantID: "plant-9", Model: "iforest-press", Version: 2, Previous: 1, PromotedAt: now, PromotedBy: "ops"}
}

func (w *watchRun) run(t *testing.T) *ModelWatchState {
	t.Helper()
	e := w.env()
	e.ExecuteWorkflow(ModelWatch, w.input(e.Now()))
	if !e.IsWorkflowCompleted() {
		t.Fatal("watch did not complete")
	}
	if err := e.GetWorkflowError(); err != nil {
		t.Fatalf("watch error: %v", err)
	}
	var s ModelWatchState
	if err := e.GetWorkflowResult(&s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// env is a test environment with the watch's fake activities.
func (w *watchRun) env() *testsuite.TestWorkflowEnvironment {
	var a *activities.Models
	var n *activities.Notifications
	e := newWorkflowEnv(ModelWatch, a, n)
	policy := mlops.WatchPolicy{Band: &[2]float64{0, 6}, For: 10 * time.Minute, Every: 5 * time.Minute, Duration: time.Hour}
	e.OnActivity(a.StartWatch, mock.Anything, mock.Anything).Return(activities.WatchBaseline{Policy: policy, Band: policy.WatchBand(mlops.AlarmRate{})}, nil)
	e.OnActivity(a.MeasureWatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MeasureWatchInput) (activities.WatchMeasure, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		n := 0
		if w.checks < len(w.alarms) {
			n = w.alarms[w.checks]
		}
		champ := 2
		if w.champion != nil {
			champ = w.champion(w.checks)
		}
		w.checks++
		return activities.WatchMeasure{Champion: champ, Rate: mlops.AlarmRate{Version: in.Version, From: in.From, To: in.To, Alarms: n, Assets: 2, Hours: in.To.Sub(in.From).Hours()}}, nil
	})
	e.OnActivity(a.RollbackChampion, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RollbackInput) (registry.AliasEvent, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.rollbacks = append(w.rollbacks, in)
		if w.rollbackErr != nil {
			return registry.AliasEvent{}, w.rollbackErr
		}
		return registry.AliasEvent{Alias: registry.Champion, From: 2, To: 1, Actor: activities.WatchCreator, Reason: registry.AutomaticRollbackPrefix + in.Explanation}, nil
	})
	e.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NotifyInput) (activities.NotifyResult, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.notified = append(w.notified, in)
		return activities.NotifyResult{Key: in.Key}, nil
	})
	return e
}

func TestModelWatch(t *testing.T) {
	// On two assets over five minutes, 60 alarms are 360 per hour per
	// asset, far above the band's 6; one alarm is 6, in band.
	for _, tc := range []struct {
		name        string
		w           *watchRun
		outcome     string
		checks      int
		rollbacks   int
		notified    []string
		reasonParts []string
	}{
		{"misbehaving: rolled back after For", &watchRun{alarms: []int{60, 60, 60}}, WatchRolledBack, 2, 1, []string{"/rollback"},
			[]string{registry.AutomaticRollbackPrefix, "v2 raised 360.0 alarms per hour per asset", "10m0s out of band"}},
		{"a single bad check is forgiven", &watchRun{alarms: []int{60, 1, 60, 60}}, WatchRolledBack, 4, 1, []string{"/rollback"}, []string{"since"}},
		{"in band for the whole watch", &watchRun{alarms: []int{1, 0, 1}}, WatchPassed, 12, 0, nil, []string{"stayed within [0, 6]"}},
		{"another promotion ends the watch", &watchRun{alarms: []int{60}, champion: func(int) int { return 3 }}, WatchSuperseded, 1, 0, nil, []string{"now v3"}},
		{"the champion moved before the rollback", &watchRun{alarms: []int{60, 60},
			rollbackErr: temporal.NewNonRetryableApplicationError("iforest-press v2 is no longer champion", activities.ErrSuperseded, nil)}, WatchSuperseded, 2, 1, nil, []string{"no longer champion"}},
		{"a failed rollback is notified", &watchRun{alarms: []int{60, 60},
			rollbackErr: temporal.NewNonRetryableApplicationError("nothing to roll back to", activities.ErrNotEligible, nil)}, WatchFailed, 2, 1, []string{"/rollback-failed"}, []string{"rollback failed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.w.run(t)
			if s.Outcome != tc.outcome || tc.w.checks != tc.checks || len(tc.w.rollbacks) != tc.rollbacks {
				t.Fatalf("outcome %q after %d checks and %d rollbacks (%s); want %q, %d, %d", s.Outcome, tc.w.checks, len(tc.w.rollbacks), s.Reason, tc.outcome, tc.checks, tc.rollbacks)
			}
			for _, p := range tc.reasonParts {
				if !strings.Contains(s.Reason, p) {
					t.Errorf("reason %q lacks %q", s.Reason, p)
				}
			}
			if len(tc.w.notified) != len(tc.notified) {
				t.Fatalf("notified %+v, want %v", tc.w.notified, tc.notified)
			}
			for i, suffix := range tc.notified {
				if n := tc.w.notified[i]; !strings.HasPrefix(n.Key, "default-test-workflow-id/") || !strings.HasSuffix(n.Key, suffix) || n.TenantID != "plant-9" {
					t.Errorf("notification %+v, want key …%s", n, suffix)
				}
			}
			if tc.outcome == WatchRolledBack {
				r := tc.w.rollbacks[0]
				if r.Version != 2 || r.Reason != mlops.RollbackAlarmRateHigh || s.Rollback == nil || s.Rollback.To != 1 {
					t.Errorf("rollback %+v, state %+v", r, s.Rollback)
				}
			}
		})
	}
}

// TestModelWatchContinuesAsNew: a long watch carries its baseline, its
// out-of-band spell and its position over to the next run.
func TestModelWatchContinuesAsNew(t *testing.T) {
	defer func(n int) { watchChecksPerRun = n }(watchChecksPerRun)
	watchChecksPerRun = 2
	w := &watchRun{alarms: []int{1, 60}}
	e := w.env()
	e.ExecuteWorkflow(ModelWatch, w.input(e.Now()))
	var cont *workflow.ContinueAsNewError
	if err := e.GetWorkflowError(); !errors.As(err, &cont) {
		t.Fatalf("after 2 checks: %v, want continue-as-new", err)
	}
	var next ModelWatchInput
	if err := converter.GetDefaultDataConverter().FromPayloads(cont.Input, &next); err != nil {
		t.Fatal(err)
	}
	r := next.Resume
	if r == nil || r.Watch.Checks != 2 || r.Watch.OutSince == nil || r.Baseline.Band.Max != 6 || !r.From.After(next.PromotedAt) || next.Version != 2 {
		t.Fatalf("next run %+v resume %+v", next, r)
	}
	// The next run goes on from there: one more bad check is the spell's
	// 10 minutes, and it rolls back without reading the policy again.
	w2 := &watchRun{alarms: []int{60}}
	e2 := w2.env()
	e2.SetStartTime(r.From)
	e2.ExecuteWorkflow(ModelWatch, next)
	var s ModelWatchState
	if err := e2.GetWorkflowResult(&s); err != nil || s.Outcome != WatchRolledBack || w2.checks != 1 {
		t.Fatalf("resumed run: %s after %d checks, %v", s.Outcome, w2.checks, err)
	}
}
