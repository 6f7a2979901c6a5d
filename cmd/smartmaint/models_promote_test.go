package main

import (
	"context"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// TestModelsPromoteForce: promoting a version whose recorded verdict is
// worse than the champion is refused until --force.
func TestModelsPromoteForce(t *testing.T) {
	d, reg := modelsServer(t)
	ctx := context.Background()
	run := modelsRunner(t, d)
	files := forestFiles(t, 2)
	if _, err := run("import", files[0], "--name", "iforest-mill", "--alias", "champion"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("import", files[1], "--name", "iforest-mill"); err != nil {
		t.Fatal(err)
	}
	champion, challenger := map[string]float64{mlops.MeasureRMSE: 20}, map[string]float64{mlops.MeasureRMSE: 31}
	m := mlops.HoldoutMetrics(1, champion, mlops.CompareHoldout(champion, challenger, 0.02), 0.02)
	m[mlops.MeasureRMSE] = challenger[mlops.MeasureRMSE]
	if err := reg.AddMetrics(ctx, "acme", "iforest-mill", 2, m); err != nil {
		t.Fatal(err)
	}
	if _, err := run("promote", "iforest-mill", "2"); err == nil || !strings.Contains(err.Error(), "409 challenger_worse") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("promote without --force: %v", err)
	}
	out, err := run("promote", "iforest-mill", "2", "--force", "--reason", "needed now")
	if err != nil || out != "champion of iforest-mill: v1 → v2\n" {
		t.Fatalf("promote --force: %q, %v", out, err)
	}
	h, err := reg.AliasEvents(ctx, "acme", "iforest-mill", registry.Champion, 1, 0)
	if err != nil || !strings.HasPrefix(h[0].Reason, "forced over a worse verdict: rmse 31 against 20") {
		t.Errorf("latest champion move = %+v, %v", h, err)
	}
}
