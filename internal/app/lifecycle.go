package app

import (
	"context"

	"go.uber.org/fx"
)

// runInBackground runs run in a goroutine of its own from the application's
// start to its stop: run's context ends at stop, and stop waits for run to
// return.
func runInBackground(lc fx.Lifecycle, run func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			go func() { defer close(done); run(ctx) }()
			return nil
		},
		OnStop: func(context.Context) error { cancel(); <-done; return nil },
	})
}
