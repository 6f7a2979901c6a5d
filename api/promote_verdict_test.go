package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/smartmaint/smartmaint/internal/mlops"
	"github.com/smartmaint/smartmaint/internal/registry"
)

// TestPromoteWorseVerdict: a version whose recorded verdict (as TrainModel
// records it) says it is worse than the champion is refused the champion
// alias with 409 challenger_worse unless forced; one that passed, and one
// without a verdict, promote as ever.
func TestPromoteWorseVerdict(t *testing.T) {
	s, reg := newRegistryServer(t)
	ctx := context.Background()
	champion := map[string]float64{mlops.MeasurePRAUC: 0.50, mlops.MeasureROCAUC: 0.92}
	trained := func(content string, figures map[string]float64) int {
		t.Helper()
		m := map[string]float64{}
		for k, x := range figures {
			m[k] = x
		}
		for k, x := range mlops.HoldoutMetrics(1, champion, mlops.CompareHoldout(champion, figures, 0.02), 0.02) {
			m[k] = x
		}
		v, err := reg.Create(ctx, "acme", registry.NewVersion{Name: "pump-iforest", Kind: "iforest", Metrics: m,
			Features: []string{"torque"}, TrainingData: "readings", CreatedBy: "test"}, []byte(content))
		if err != nil {
			t.Fatal(err)
		}
		return v.Version
	}
	weak := trained("forest weak", map[string]float64{mlops.MeasurePRAUC: 0.42, mlops.MeasureROCAUC: 0.84})
	good := trained("forest good", map[string]float64{mlops.MeasurePRAUC: 0.51, mlops.MeasureROCAUC: 0.92})
	const path = "/api/v1/models/pump-iforest/promote"
	post := func(body string) (int, map[string]any) {
		code, answer, _ := s.do(t, "ml-ops", "POST", path, "application/json", body)
		return code, answer
	}
	promote := func(version int, extra string) (int, map[string]any) {
		return post(fmt.Sprintf(`{"version":%d,"reason":"retrained"%s}`, version, extra))
	}

	code, body := promote(weak, "")
	if code != 409 || errCode(body) != "challenger_worse" {
		t.Fatalf("weak: %d %v", code, body)
	}
	e := body["error"].(map[string]any)
	d := e["details"].(map[string]any)
	checks, _ := d["checks"].([]any)
	if d["champion"] != 1.0 || d["version"] != float64(weak) || d["tolerance"] != 0.02 || len(checks) != 2 ||
		!strings.Contains(d["failed"].(string), "pr_auc 0.42 against 0.5") || !strings.Contains(e["message"].(string), "force") {
		t.Errorf("refusal: %v", e)
	}
	if v, _ := reg.Resolve(ctx, "acme", "pump-iforest", registry.Champion); v.Version != 1 {
		t.Errorf("champion v%d after a refusal", v.Version)
	}
	// The challenger alias is not the champion: no verdict applies.
	if code, body := post(fmt.Sprintf(`{"version":%d,"alias":"challenger","reason":"look at it"}`, weak)); code != 200 {
		t.Errorf("challenger alias: %d %v", code, body)
	}

	code, body = promote(weak, `,"force":true`)
	if code != 200 || body["to_version"] != float64(weak) || !strings.HasPrefix(body["reason"].(string), "forced over a worse verdict: pr_auc") ||
		!strings.HasSuffix(body["reason"].(string), "; retrained") {
		t.Fatalf("forced: %d %v", code, body)
	}
	history, err := reg.AliasHistory(ctx, "acme", "pump-iforest", 10)
	if err != nil || !strings.HasPrefix(history[0].Reason, "forced over a worse verdict: ") {
		t.Errorf("alias history %+v, %v", history, err)
	}
	// v1 has no verdict; the good version passed.
	for _, v := range []int{1, good} {
		if code, body := promote(v, ""); code != 200 || body["to_version"] != float64(v) {
			t.Errorf("v%d: %d %v", v, code, body)
		}
	}
	// Against a champion other than the one it was compared with, the
	// verdict says nothing.
	if code, body := promote(weak, ""); code != 200 {
		t.Errorf("weak over v%d: %d %v", good, code, body)
	}
}
