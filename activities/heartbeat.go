package activities

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
)

// keepBeating records the current progress as the activity's heartbeat
// every interval (5s when zero) until the returned function is called, so
// a long step between stages does not let the heartbeat time out.
func keepBeating[T any](ctx context.Context, every time.Duration, current func() T) func() {
	if every <= 0 {
		every = 5 * time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, current())
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
