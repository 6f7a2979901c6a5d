package workflows

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry/artifact"
)

// retrainEnv runs Retrain against recorded fake activities: these tests
// check the workflow's decisions; activities/models_test.go and the
// end-to-end test check the activities.
type retrainEnv struct {
	*testsuite.TestWorkflowEnvironment
	t *testing.T

	mu         sync.Mutex
	policy     mlops.Policy
	trainErr   []error // returned by successive Train attempts, then success
	trainCalls int
	trainSeeds []uint64
	eval       activities.EvaluateOutput
	promoted   []activities.PromoteInput
	watches    []ModelWatchInput
	recorded   []mlops.Retrain
	notified   []activities.NotifyInput
}

func newRetrainEnv(t *testing.T) *retrainEnv {
	e := &retrainEnv{
		TestWorkflowEnvironment: newTestEnv(), t: t,
		policy: mlops.Policy{Drift: mlops.DefaultDriftPolicy(), MinImprovement: 0.01, ApprovalTimeout: 24 * time.Hour},
		eval: activities.EvaluateOutput{HoldoutRows: 400,
			Champion:   mlops.Evaluation{Rows: 400, AnomalyRate: 0.30, Contamination: 0.01, CalibrationError: 0.29, Score: 0.71},
			Challenger: mlops.Evaluation{Rows: 400, AnomalyRate: 0.012, Contamination: 0.01, CalibrationError: 0.002, Score: 0.998},
		},
	}
	e.eval.Improvement = e.eval.Challenger.Score - e.eval.Champion.Score
	e.RegisterWorkflow(Retrain)
	e.RegisterWorkflow(ModelWatch)
	e.OnWorkflow(ModelWatch, mock.Anything, mock.Anything).Return(func(_ workflow.Context, in ModelWatchInput) (*ModelWatchState, error) {
		e.mu.Lock()
		e.watches = append(e.watches, in)
		e.mu.Unlock()
		return &ModelWatchState{Input: in, Outcome: WatchPassed}, nil
	})
	var a *activities.Models
	var n *activities.Notifications
	e.RegisterActivity(a)
	e.RegisterActivity(n)
	e.OnActivity(a.ModelPolicy, mock.Anything, mock.Anything).Return(func(context.Context, activities.ModelInput) (mlops.Policy, error) { return e.policy, nil })
	e.OnActivity(a.TrainChallenger, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.TrainInput) (activities.TrainOutput, error) {
		e.mu.Lock()
		defer e.mu.Unlock()
		e.trainCalls++
		e.trainSeeds = append(e.trainSeeds, in.Seed)
		if len(e.trainErr) > 0 {
			err := e.trainErr[0]
			e.trainErr = e.trainErr[1:]
			activity.RecordHeartbeat(ctx, activities.TrainProgress{Stage: "snapshot"})
			return activities.TrainOutput{}, err
		}
		return activities.TrainOutput{Champion: 1, Challenger: 2, TrainRows: 1600, HoldoutRows: 400, Checkpoint: artifact.Ref{Key: "acme/m/checkpoints/x"}}, nil
	})
	e.OnActivity(a.EvaluateChallenger, mock.Anything, mock.Anything).Return(func(context.Context, activities.EvaluateInput) (activities.EvaluateOutput, error) {
		return e.eval, nil
	})
	e.OnActivity(a.PromoteChampion, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PromoteInput) error {
		e.mu.Lock()
		e.promoted = append(e.promoted, in)
		e.mu.Unlock()
		return nil
	})
	e.OnActivity(a.RecordRetrain, mock.Anything, mock.Anything).Return(func(_ context.Context, r mlops.Retrain) error {
		e.mu.Lock()
		e.recorded = append(e.recorded, r)
		e.mu.Unlock()
		return nil
	})
	e.OnActivity(n.Notify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NotifyInput) (activities.NotifyResult, error) {
		e.mu.Lock()
		e.notified = append(e.notified, in)
		e.mu.Unlock()
		return activities.NotifyResult{Key: in.Key}, nil
	})
	return e
}

func (e *retrainEnv) run() *RetrainState {
	e.t.Helper()
	e.ExecuteWorkflow(Retrain, RetrainInput{TenantID: "acme", Model: "iforest-milling-machine", Trigger: TriggerDrift, RequestedBy: "drift-check", Reason: "drift"})
	if !e.IsWorkflowCompleted() {
		e.t.Fatal("workflow did not complete")
	}
	if err := e.GetWorkflowError(); err != nil {
		e.t.Fatalf("workflow error: %v", err)
	}
	var s RetrainState
	if err := e.GetWorkflowResult(&s); err != nil {
		e.t.Fatal(err)
	}
	if len(e.recorded) != 1 || e.recorded[0].Outcome != s.Outcome || e.recorded[0].Reason != s.Reason {
		e.t.Errorf("recorded %+v for outcome %q", e.recorded, s.Outcome)
	}
	last := e.notified[len(e.notified)-1]
	if !strings.HasSuffix(last.Key, "/outcome") || !strings.Contains(last.Subject, s.Outcome) || last.Text != s.Reason {
		e.t.Errorf("last notification %+v does not report outcome %q", last, s.Outcome)
	}
	return &s
}

func TestRetrainPromotesBetterChallenger(t *testing.T) {
	e := newRetrainEnv(t)
	s := e.run()
	if s.Outcome != mlops.OutcomePromoted || len(e.promoted) != 1 || e.promoted[0].Version != 2 {
		t.Fatalf("outcome %q, promoted %+v", s.Outcome, e.promoted)
	}
	if s.Watch != ModelWatchWorkflowID("acme", "iforest-milling-machine") || len(e.watches) != 1 || e.watches[0].Version != 2 || e.watches[0].Previous != 1 {
		t.Errorf("watch %q started %+v, want one of v2 over v1", s.Watch, e.watches)
	}
	if !strings.Contains(s.Reason, "challenger v2 promoted") || !strings.Contains(e.promoted[0].Reason, "improvement +0.2880") {
		t.Errorf("reason %q / promotion reason %q", s.Reason, e.promoted[0].Reason)
	}
	r := e.recorded[0]
	if r.TenantID != "acme" || r.Name != "iforest-milling-machine" || r.ChampionVersion != 1 || r.ChallengerVersion != 2 || r.Metrics["improvement"] < 0.28 || r.Trigger != TriggerDrift {
		t.Errorf("record %+v", r)
	}
}

func TestRetrainKeepsChampionBelowMargin(t *testing.T) {
	for _, tc := range []struct {
		name        string
		improvement float64
		margin      float64
	}{
		{"worse", -0.05, 0.01},
		{"below margin", 0.005, 0.01},
		{"equal with no margin", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRetrainEnv(t)
			e.policy.MinImprovement = tc.margin
			e.eval.Challenger.Score = e.eval.Champion.Score + tc.improvement
			e.eval.Improvement = tc.improvement
			s := e.run()
			if s.Outcome != mlops.OutcomeKept || len(e.promoted) != 0 {
				t.Fatalf("outcome %q, promoted %+v", s.Outcome, e.promoted)
			}
			if !strings.Contains(s.Reason, "champion kept") || !strings.Contains(s.Reason, "margin") {
				t.Errorf("reason %q does not say why", s.Reason)
			}
		})
	}
}

func TestRetrainFailedTraining(t *testing.T) {
	e := newRetrainEnv(t)
	e.trainErr = []error{temporal.NewNonRetryableApplicationError("12 complete snapshots, fewer than the 500 needed", activities.ErrNotEnoughData, nil)}
	s := e.run()
	if s.Outcome != mlops.OutcomeFailed || e.trainCalls != 1 || len(e.promoted) != 0 {
		t.Fatalf("outcome %q after %d attempts", s.Outcome, e.trainCalls)
	}
	if !strings.Contains(s.Reason, "fewer than the 500 needed") {
		t.Errorf("reason %q", s.Reason)
	}
	if e.notified[0].Severity != "major" {
		t.Errorf("failure notified as %q", e.notified[0].Severity)
	}
}

func TestRetrainRetriesTrainingWithTheSameSeed(t *testing.T) {
	e := newRetrainEnv(t)
	e.trainErr = []error{temporal.NewApplicationError("worker stopping after stage snapshot", "WorkerStopping")}
	s := e.run()
	if s.Outcome != mlops.OutcomePromoted || e.trainCalls != 2 {
		t.Fatalf("outcome %q after %d attempts", s.Outcome, e.trainCalls)
	}
	if e.trainSeeds[0] != e.trainSeeds[1] {
		t.Errorf("attempts trained with seeds %v: a retry must rebuild the same forest", e.trainSeeds)
	}
}

func TestRetrainApproval(t *testing.T) {
	for _, tc := range []struct {
		name    string
		signal  *RetrainApproval
		outcome string
		reason  string
	}{
		{"approved", &RetrainApproval{Approve: true, User: "ana"}, mlops.OutcomePromoted, "promoted"},
		{"rejected", &RetrainApproval{Approve: false, User: "ana", Comment: "wait for the new tooling"}, mlops.OutcomeRejected, "ana rejected the promotion: wait for the new tooling"},
		{"timed out", nil, mlops.OutcomeRejected, "nobody approved the promotion within 2h0m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRetrainEnv(t)
			e.policy.RequireApproval, e.policy.ApprovalTimeout = true, 2*time.Hour
			e.RegisterDelayedCallback(func() {
				v, err := e.QueryWorkflow(QueryRetrainState)
				if err != nil {
					t.Error(err)
					return
				}
				var s RetrainState
				if err := v.Get(&s); err != nil || s.Stage != mlops.StageAwaiting || s.ApprovalDue == nil {
					t.Errorf("state while awaiting: %+v %v", s, err)
				}
				if tc.signal != nil {
					e.SignalWorkflow(SignalRetrainApproval, *tc.signal)
				}
			}, time.Hour)
			s := e.run()
			if s.Outcome != tc.outcome || !strings.Contains(s.Reason, tc.reason) {
				t.Fatalf("outcome %q reason %q", s.Outcome, s.Reason)
			}
			if promoted := len(e.promoted) > 0; promoted != (tc.outcome == mlops.OutcomePromoted) {
				t.Errorf("promoted %+v", e.promoted)
			}
			if tc.outcome == mlops.OutcomePromoted && !strings.Contains(e.promoted[0].Actor, "approved by ana") {
				t.Errorf("actor %q", e.promoted[0].Actor)
			}
			if len(e.notified) != 2 || !strings.HasSuffix(e.notified[0].Key, "/approval") {
				t.Errorf("notifications %+v: want the approval request, then the outcome", e.notified)
			}
		})
	}
}

// TestRetrainFollowsTheVerdict: with a comparison the promotion rule's
// verdict decides, and its evidence is in the reason and the record.
func TestRetrainFollowsTheVerdict(t *testing.T) {
	for _, tc := range []struct {
		name    string
		labels  mlops.Labelled
		outcome string
		reason  string
	}{
		{"labels agree", mlops.Labelled{Positives: 30, Negatives: 400, Champion: mlops.LabelledScores{PRAUC: 0.5, ROCAUC: 0.8}, Challenger: mlops.LabelledScores{PRAUC: 0.55, ROCAUC: 0.82}},
			mlops.OutcomePromoted, "evidence: calibration, labels; pr_auc 0.55 against 0.5"},
		{"worse on the labels", mlops.Labelled{Positives: 30, Negatives: 400, Champion: mlops.LabelledScores{PRAUC: 0.5, ROCAUC: 0.8}, Challenger: mlops.LabelledScores{PRAUC: 0.3, ROCAUC: 0.8}},
			mlops.OutcomeKept, "failed: pr_auc 0.3 against 0.5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRetrainEnv(t)
			e.eval.Comparison = mlops.Comparison{Improvement: e.eval.Improvement, Labelled: &tc.labels}
			v := mlops.Compare(e.eval.Comparison, 0.01, 0.02)
			e.eval.Verdict = &v
			s := e.run()
			if s.Outcome != tc.outcome || !strings.Contains(s.Reason, tc.reason) || !strings.Contains(s.Reason, "no backtest") {
				t.Fatalf("outcome %q: %s", s.Outcome, s.Reason)
			}
			if m := e.recorded[0].Metrics; m["challenger_pr_auc"] != tc.labels.Challenger.PRAUC || m["labelled_positives"] != 30 {
				t.Errorf("recorded metrics %v", m)
			}
		})
	}
}
