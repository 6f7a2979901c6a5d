package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"

	"github.com/smartmaint/smartmaint/activities"
)

func TestStorageMaintenance(t *testing.T) {
	env := newTestEnv()
	var a *activities.Storage
	env.RegisterActivity(a)
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	env.SetStartTime(start)
	var ensured, dropped time.Time
	attempts := 0
	env.OnActivity(a.EnsurePartitions, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PartitionsInput) (activities.PartitionsResult, error) {
		attempts++
		if attempts == 1 {
			return activities.PartitionsResult{}, errors.New("database restarting")
		}
		ensured = in.Now
		return activities.PartitionsResult{Created: []string{"readings_p20260308"}}, nil
	})
	env.OnActivity(a.DropExpired, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PartitionsInput) (activities.PartitionsResult, error) {
		dropped = in.Now
		return activities.PartitionsResult{Dropped: []string{"readings_p20260130"}, RollupsDeleted: 24}, nil
	})
	env.ExecuteWorkflow(StorageMaintenance)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res activities.PartitionsResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 || len(res.Created) != 1 || len(res.Dropped) != 1 || res.RollupsDeleted != 24 {
		t.Errorf("attempts %d, result %+v", attempts, res)
	}
	// Both activities judge by the workflow's clock, not their own.
	if !ensured.Equal(start) || !dropped.Equal(start) {
		t.Errorf("activities got now=%s and %s, want the workflow start %s", ensured, dropped, start)
	}
}
