package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/workflow"

	"github.com/smartmaint/smartmaint/activities"
	"github.com/smartmaint/smartmaint/internal/mlops"
)

func TestDriftCheck(t *testing.T) {
	e := newTestEnv()
	e.RegisterWorkflow(DriftCheck)
	e.RegisterWorkflow(Retrain)
	var a *activities.Models
	e.RegisterActivity(a)

	statuses := map[string]string{ // model → outcome of its check
		"iforest-mill":  mlops.StatusDrift,
		"iforest-pump":  mlops.StatusOK,
		"iforest-fan":   mlops.StatusInsufficientData,
		"iforest-gone":  "",
		"iforest-error": "error",
	}
	e.OnActivity(a.MonitoredModels, mock.Anything).Return(func(context.Context) ([]mlops.ModelRef, error) {
		return []mlops.ModelRef{{TenantID: "acme", Name: "iforest-mill"}, {TenantID: "acme", Name: "iforest-pump"},
			{TenantID: "beta", Name: "iforest-fan"}, {TenantID: "beta", Name: "iforest-gone"}, {TenantID: "beta", Name: "iforest-error"}}, nil
	})
	e.OnActivity(a.CheckDrift, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DriftInput) (activities.DriftOutput, error) {
		st := statuses[in.Model]
		switch st {
		case "":
			return activities.DriftOutput{}, nil
		case "error":
			return activities.DriftOutput{}, errors.New("database away")
		}
		return activities.DriftOutput{Check: &mlops.DriftCheck{ID: 7, TenantID: in.TenantID, Name: in.Model, Version: 1, Status: st, Drifted: st == mlops.StatusDrift,
			DriftedFeatures: 2, Features: []mlops.FeatureDrift{{Name: "torque", PSI: 1.2, Drifted: true}, {Name: "speed", PSI: 0.8, Drifted: true}}}}, nil
	})
	var mu sync.Mutex
	var noted []activities.NoteRetrainInput
	e.OnActivity(a.NoteRetrain, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.NoteRetrainInput) error {
		mu.Lock()
		noted = append(noted, in)
		mu.Unlock()
		return nil
	})
	var retrains []RetrainInput
	e.OnWorkflow(Retrain, mock.Anything, mock.Anything).Return(func(ctx workflow.Context, in RetrainInput) (*RetrainState, error) {
		if id := workflow.GetInfo(ctx).WorkflowExecution.ID; id != RetrainWorkflowID(in.TenantID, in.Model) {
			t.Errorf("retrain workflow id %q", id)
		}
		retrains = append(retrains, in)
		return &RetrainState{Outcome: mlops.OutcomePromoted}, nil
	})

	e.ExecuteWorkflow(DriftCheck, DriftCheckInput{})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res DriftCheckResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	got := map[string]ModelDrift{}
	for _, m := range res.Models {
		got[m.Model] = m
	}
	if len(got) != 5 || got["iforest-mill"].Retrain != "retrain/acme/iforest-mill" || got["iforest-pump"].Retrain != "" ||
		got["iforest-fan"].Status != mlops.StatusInsufficientData || got["iforest-gone"].Status != "no_champion" ||
		got["iforest-error"].Status != "error" || got["iforest-error"].Error == "" {
		t.Errorf("result %+v", res.Models)
	}
	if len(retrains) != 1 || retrains[0].Model != "iforest-mill" || retrains[0].Trigger != TriggerDrift {
		t.Fatalf("retrains %+v", retrains)
	}
	if want := "drift check 7 of v1: 2 features drifted: torque (PSI 1.200, KS p 0) speed (PSI 0.800, KS p 0)"; retrains[0].Reason != want {
		t.Errorf("reason %q, want %q", retrains[0].Reason, want)
	}
	if len(noted) != 1 || noted[0].WorkflowID != "retrain/acme/iforest-mill" {
		t.Errorf("noted %+v", noted)
	}
}

func TestDriftCheckOneModel(t *testing.T) {
	e := newTestEnv()
	e.RegisterWorkflow(DriftCheck)
	var a *activities.Models
	e.RegisterActivity(a)
	var checked []string
	e.OnActivity(a.CheckDrift, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DriftInput) (activities.DriftOutput, error) {
		checked = append(checked, in.TenantID+"/"+in.Model)
		return activities.DriftOutput{Check: &mlops.DriftCheck{Status: mlops.StatusOK, Version: 3}}, nil
	})
	e.ExecuteWorkflow(DriftCheck, DriftCheckInput{TenantID: "acme", Model: "iforest-mill"})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if len(checked) != 1 || checked[0] != "acme/iforest-mill" {
		t.Errorf("checked %v; MonitoredModels must not be needed", checked)
	}
}
