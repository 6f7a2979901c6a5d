package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smartmaint/smartmaint/internal/apikey"
	"github.com/smartmaint/smartmaint/internal/mlops/mlopstest"
)

// TestTrainFirstModel trains the first failure risk model of a tenant that
// is not the demo tenant (plant-9) on the real stack: six thousand AI4I
// records stored as two CNC mills' readings, their machine failures
// confirmed as incidents with done work orders; POST training, GET until
// done, the version is the champion, bound as the asset type's
// failure_risk model it scores newly posted readings. Then `smartmaint
// models train` (the built binary) trains an anomaly challenger through
// the same API.
func TestTrainFirstModel(t *testing.T) {
	s := startStack(t, nil)
	const tenant, assetType, model = "plant-9", "cnc-mill", "risk-cnc-mill"
	s.key("plant", tenant, apikey.Admin)
	// Within the raw readings' retention (30 days by default), which the
	// stack's storage workflow enforces.
	start := time.Now().UTC().Add(-10 * 24 * time.Hour).Truncate(time.Hour)
	h := mlopstest.AI4I(t, 6000, start, "cnc-1", "cnc-2")
	keys := h.CreateAssets(t, s.db, tenant, assetType)
	h.WriteReadings(t, s.db, tenant, keys)
	h.ConfirmFailures(t, s.db, tenant)

	body := map[string]any{"kind": "failure_risk", "asset_type": assetType, "alias": "champion",
		"from": start.Format(time.RFC3339), "to": h.End().Format(time.RFC3339), "params": map[string]any{"horizon": "1m"}}
	started := s.must(202, "plant", "POST", "/api/v1/models/"+model+"/training", body)
	id, _ := started["training_id"].(string)
	loc, _ := started["location"].(string)
	if id == "" || loc != "/api/v1/models/"+model+"/training/"+url.PathEscape(id) || started["workflow_id"] != "train-model/"+tenant+"/"+model {
		t.Fatalf("POST training: %v", started)
	}
	if code, out := s.call("plant", "POST", "/api/v1/models/"+model+"/training", body); code != 409 || field(out, "error", "code") != "training_running" {
		t.Errorf("second start while one runs: %d %v", code, out)
	}
	var got map[string]any
	eventually(t, 2*time.Minute, "the training to end", func() bool {
		got = s.must(200, "plant", "GET", loc, nil)
		return got["status"] != "running"
	})
	metrics, _ := field(got, "result", "metrics").(map[string]any)
	if got["status"] != "completed" || got["stage"] != "done" || field(got, "result", "version") != 1.0 || field(got, "result", "alias") != "champion" ||
		field(got, "progress", "percent") != 100.0 || field(got, "input", "asset_type") != assetType {
		t.Fatalf("training: %v", got)
	}
	// The seed comes from the run id, so the figures vary from run to run
	// (PR AUC 0.26–0.49 measured; the base rate is 2.8%): only far better
	// than chance is asked here, activities/train_model_test.go checks the
	// quality on a fixed seed.
	if pr, _ := metrics["pr_auc"].(float64); pr < 0.1 || metrics["roc_auc"].(float64) < 0.85 {
		t.Errorf("holdout metrics: %v", metrics)
	}
	t.Logf("failure risk model: %v", got["result"])
	versions := s.must(200, "plant", "GET", "/api/v1/models/"+model+"/versions", nil)
	if field(versions, "model", "aliases", "champion") != 1.0 {
		t.Fatalf("versions: %v", versions)
	}
	// Another tenant sees no such training.
	s.key("rival", "rival", apikey.Admin)
	if code, _ := s.call("rival", "GET", loc, nil); code != 404 {
		t.Errorf("another tenant's GET: %d", code)
	}

	s.must(200, "plant", "PUT", "/api/v1/asset-types/"+assetType+"/models/failure_risk", map[string]any{"model": model, "threshold": 0.05})
	// A failing record of the history, posted anew, is scored by v1.
	var fail mlopstest.Record
	for _, r := range h.Records {
		if r.Failure && r.Values["torque"] > fail.Values["torque"] {
			fail = r
		}
	}
	reason := fmt.Sprintf("model=%s version=1", model)
	ts := time.Now().UTC().Truncate(time.Second)
	eventually(t, 30*time.Second, "a finding of "+model+" v1", func() bool {
		ts = ts.Add(time.Second)
		var readings []map[string]any
		for id, v := range fail.Values {
			readings = append(readings, map[string]any{"asset_id": "cnc-1", "sensor_id": id, "ts": ts.Format(time.RFC3339Nano), "value": v})
		}
		s.must(201, "plant", "POST", "/api/v1/readings", readings)
		var n int
		if err := s.db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM anomalies WHERE tenant_id = $1 AND asset_id = 'cnc-1' AND reason LIKE '%' || $2 || '%'`,
			tenant, reason).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})

	// The CLI on the same API: an anomaly challenger for the mills.
	bin := filepath.Join(t.TempDir(), "smartmaint")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/smartmaint/smartmaint/cmd/smartmaint").CombinedOutput(); err != nil {
		t.Fatalf("build smartmaint: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "models", "train", "iforest-"+assetType, "--kind", "anomaly", "--asset-type", assetType,
		"--from", start.Format(time.RFC3339), "--to", h.End().Format(time.RFC3339), "--url", s.baseURL, "--api-key", s.keys["plant"], "--poll", "100ms")
	cmd.Env = os.Environ()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("smartmaint models train: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "trained iforest-"+assetType+" version 1 (anomaly, challenger)") || !strings.Contains(out, "holdout_anomaly_rate") {
		t.Errorf("CLI output:\n%s", out)
	}
	t.Logf("smartmaint models train:\n%s", stdout.String())
	// A failing training exits non-zero with the reason.
	cmd = exec.Command(bin, "models", "train", "risk-2", "--kind", "failure_risk", "--asset-type", assetType,
		"--from", start.Format(time.RFC3339), "--to", start.Add(20*time.Minute).Format(time.RFC3339), "--url", s.baseURL, "--api-key", s.keys["plant"], "--quiet")
	cmd.Env = os.Environ()
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "complete snapshots") {
		t.Errorf("training on too little data: %v\n%s", err, out)
	}
	s.recordHistories("WorkflowType = 'TrainModel'")
}
