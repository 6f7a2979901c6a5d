package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
)

// The retry policies of the workflows' activities. Every policy backs off
// from a second, doubling; they differ in how long they keep trying.

// retryUntilDone retries until the activity succeeds, backing off to a
// minute: for the steps of a long-lived process that cannot be skipped (an
// incident's writes, forecast, booking and notices). Errors the activities
// mark non-retryable (activities.ErrTypeConflict and the like) still end
// it at once.
func retryUntilDone() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}
}

// retryAttempts retries up to attempts times, backing off to a minute, for
// the steps of a run that may fail and report it (a retrain, a report, a
// drift check); errors of the nonRetryable types fail at once.
func retryAttempts(attempts int32, nonRetryable ...string) *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		MaximumAttempts: attempts, NonRetryableErrorTypes: nonRetryable}
}

// retryBriefly retries five times within about a minute, backing off to 30
// seconds: for side steps a run does not wait long on (a retrain's notices,
// raising one preventive work order among many).
func retryBriefly() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second, MaximumAttempts: 5}
}
