package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/activities"
)

// TestModelsTrainArguments checks what `smartmaint models train` refuses
// before calling the API and how it prints an ended training;
// e2e/train_test.go runs it against the real stack.
func TestModelsTrainArguments(t *testing.T) {
	d := modelsDefaults{URL: "http://127.0.0.1:1", Key: "k"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train"}, "want one model name"},
		{[]string{"train", "risk", "--kind", "failure_risk"}, "are required"},
		{[]string{"train", "risk", "--feature", "torque"}, "want NAME=SOURCE"},
	} {
		var out, info bytes.Buffer
		err := modelsCommand(context.Background(), d, tc.args, &out, &info)
		if err == nil || !strings.Contains(err.Error()+info.String(), tc.want) {
			t.Errorf("%q: %v (%s), want %q", tc.args, err, info.String(), tc.want)
		}
	}
	if !strings.Contains(modelsUsage(), "smartmaint models train NAME --kind") {
		t.Errorf("usage lacks train:\n%s", modelsUsage())
	}

	var out bytes.Buffer
	err := printTraining(&out, "risk", trainingState{Status: "completed", Result: &activities.TrainModelOutput{
		Model: "risk", Version: 2, Kind: "failure_risk", Alias: "challenger", TrainRows: 80, HoldoutRows: 20, HoldoutFrom: time.Unix(0, 0),
		Metrics: map[string]float64{"roc_auc": 0.91}, Unavailable: map[string]string{"pr_auc": "no positive"}}})
	if err != nil || !strings.Contains(out.String(), "trained risk version 2 (failure_risk, challenger)") || !strings.Contains(out.String(), "pr_auc                 unavailable: no positive") {
		t.Errorf("printed %q, %v", out.String(), err)
	}
	if err := printTraining(&out, "risk", trainingState{Status: "failed", Error: "3 of the 800 training snapshots"}); err == nil || !strings.Contains(err.Error(), "3 of the 800") {
		t.Errorf("failed training: %v", err)
	}
}
