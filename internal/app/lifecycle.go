package app

import (
	"context"
	"log/slog"

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

// runInBackgroundReady is runInBackground that also waits at the start
// for ready to close; when the start's context ends first, it logs
// notReady as a warning and lets the application start without it.
func runInBackgroundReady(lc fx.Lifecycle, run func(ctx context.Context), ready <-chan struct{}, log *slog.Logger, notReady string) {
	runInBackground(lc, run)
	lc.Append(fx.Hook{
		OnStart: func(start context.Context) error {
			select {
			case <-ready:
			case <-start.Done():
				log.Warn(notReady)
			}
			return nil
		},
	})
}
