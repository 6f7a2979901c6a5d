package workflows

import (
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays the histories of real runs, recorded
// from `smartmaint dev` with `smartmaint histories` (some by earlier
// versions of the code), against the workflows as they are now. A change
// that would break a run in flight (an activity call, timer or signal wait
// inserted, removed or reordered without workflow.GetVersion) fails here
// instead of in production. See docs/DEVELOPMENT.md for re-recording.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no recorded histories under testdata/histories")
	}
	seen := map[string]bool{}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			for _, w := range []any{Incident, DriftCheck, Retrain, ModelWatch, TrainModel, PreventiveMaintenance, Report, ScheduledReports, StorageMaintenance, Backtest} {
				r.RegisterWorkflow(w)
			}
			if err := r.ReplayWorkflowHistoryFromJSONFile(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)), f); err != nil {
				t.Errorf("replay %s: %v", f, err)
			}
		})
		seen[filepath.Base(f)] = true
	}
	// The incident workflow, the one that waits days for people, must
	// always have recorded runs.
	var incidents int
	for f := range seen {
		if strings.Contains(f, "incident-") {
			incidents++
		}
	}
	if incidents == 0 {
		t.Error("no recorded incident histories")
	}
}
