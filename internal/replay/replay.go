// Package replay exports workflow histories from a Temporal server as JSON
// files, the form worker.WorkflowReplayer reads, so that the histories of
// real runs can be committed and replayed against every later version of
// the workflow code (workflows/replay_test.go). A change that would break
// a run already in flight (a new activity call without workflow.GetVersion,
// say) then fails the replay instead of the running incident.
package replay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// Options select what Export writes.
type Options struct {
	// Query is a visibility query, for example `WorkflowType = 'Incident'`;
	// empty selects every workflow.
	Query string
	// PerType caps the histories kept per workflow type (default 5); the
	// longest are kept, since they exercise the most code.
	PerType int
	// Prefix starts every file name (for example the version that
	// recorded them).
	Prefix string
}

// Export writes the histories of the closed and running workflows that
// match o to dir, one file per run named <prefix><type>-<n>.json, and
// returns the file names.
func Export(ctx context.Context, c client.Client, dir string, o Options) ([]string, error) {
	if o.PerType <= 0 {
		o.PerType = 5
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	type run struct {
		id, runID string
		events    int64
	}
	byType := map[string][]run{}
	var next []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: o.Query, NextPageToken: next})
		if err != nil {
			return nil, fmt.Errorf("replay: list workflows: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			t := e.GetType().GetName()
			byType[t] = append(byType[t], run{e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), e.GetHistoryLength()})
		}
		if next = resp.GetNextPageToken(); len(next) == 0 {
			break
		}
	}
	var files []string
	for typ, runs := range byType {
		// Longest first.
		for i := range runs {
			for j := i + 1; j < len(runs); j++ {
				if runs[j].events > runs[i].events {
					runs[i], runs[j] = runs[j], runs[i]
				}
			}
		}
		for n, r := range runs[:min(len(runs), o.PerType)] {
			h, err := history(ctx, c, r.id, r.runID)
			if err != nil {
				return nil, err
			}
			b, err := protojson.MarshalOptions{Indent: " "}.Marshal(h)
			if err != nil {
				return nil, fmt.Errorf("replay: encode %s: %w", r.id, err)
			}
			name := filepath.Join(dir, fmt.Sprintf("%s%s-%d.json", o.Prefix, strings.ToLower(typ), n+1))
			if err := os.WriteFile(name, b, 0o644); err != nil {
				return nil, err
			}
			files = append(files, name)
		}
	}
	return files, nil
}

func history(ctx context.Context, c client.Client, id, runID string) (*historypb.History, error) {
	it := c.GetWorkflowHistory(ctx, id, runID, false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("replay: history of %s: %w", id, err)
		}
		h.Events = append(h.Events, e)
	}
	return h, nil
}
