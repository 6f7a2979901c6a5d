// Package chaos injects failures and delays into Temporal activities on
// purpose, to show that workflows finish anyway: a Temporal worker
// interceptor configured per activity type by CHAOS_ACTIVITY_ERRORS and
// CHAOS_ACTIVITY_DELAY. It is off unless configured, and meant for test and
// staging workers only.
//
// An injected failure hits either before the activity runs or after it ran
// (its result is then thrown away), at random, so retries meet both a clean
// slate and work already done — the case idempotent activities exist for. A
// delay holds the result back after the activity ran: a worker killed
// during it leaves the work done but unreported.
package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
)

// ErrorType is the Temporal application error type of injected failures.
const ErrorType = "ChaosInjected"

// Any is the activity type that stands for every type without its own entry.
const Any = "*"

var injected = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "smartmaint_chaos_injected_total",
	Help: "Faults injected into activities by CHAOS_ACTIVITY_ERRORS and CHAOS_ACTIVITY_DELAY, by activity type and kind (fail_before, fail_after, delay).",
}, []string{"activity", "kind"})

// Config says which activity types fail or slow down, and how much.
type Config struct {
	// Errors maps an activity type (or Any) to the probability in [0, 1]
	// that an attempt fails.
	Errors map[string]float64
	// Delays maps an activity type (or Any) to how long its result is held.
	Delays map[string]time.Duration
}

// Parse reads CHAOS_ACTIVITY_ERRORS ("Notify=0.3,ScheduleWorkOrder=0.2")
// and CHAOS_ACTIVITY_DELAY ("Notify=5s,*=100ms"). Empty strings are off.
func Parse(errors, delays string) (Config, error) {
	var c Config
	err := parsePairs(errors, func(name, v string) error {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || !(p >= 0 && p <= 1) {
			return fmt.Errorf("chaos: CHAOS_ACTIVITY_ERRORS: %s=%s: the error rate must be a number from 0 to 1", name, v)
		}
		if c.Errors == nil {
			c.Errors = map[string]float64{}
		}
		c.Errors[name] = p
		return nil
	})
	if err != nil {
		return Config{}, err
	}
	err = parsePairs(delays, func(name, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Hour {
			return fmt.Errorf("chaos: CHAOS_ACTIVITY_DELAY: %s=%s: the delay must be a duration from 0 to 1h such as 500ms or 5s", name, v)
		}
		if c.Delays == nil {
			c.Delays = map[string]time.Duration{}
		}
		c.Delays[name] = d
		return nil
	})
	if err != nil {
		return Config{}, err
	}
	return c, nil
}

// parsePairs calls set for each name=value of a comma-separated list.
func parsePairs(s string, set func(name, value string) error) error {
	for _, pair := range strings.Split(s, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		name, v, ok := strings.Cut(pair, "=")
		name, v = strings.TrimSpace(name), strings.TrimSpace(v)
		if !ok || name == "" || v == "" {
			return fmt.Errorf("chaos: %q is not ActivityType=value (use * for every type)", pair)
		}
		if err := set(name, v); err != nil {
			return err
		}
	}
	return nil
}

// Enabled reports whether c injects anything.
func (c Config) Enabled() bool {
	for _, p := range c.Errors {
		if p > 0 {
			return true
		}
	}
	for _, d := range c.Delays {
		if d > 0 {
			return true
		}
	}
	return false
}

// ErrorRate is the failure probability of an activity type's attempts.
func (c Config) ErrorRate(activityType string) float64 {
	if p, ok := c.Errors[activityType]; ok {
		return p
	}
	return c.Errors[Any]
}

// Delay is how long an activity type's results are held.
func (c Config) Delay(activityType string) time.Duration {
	if d, ok := c.Delays[activityType]; ok {
		return d
	}
	return c.Delays[Any]
}

// String lists the settings in a stable order, for the start-up warning.
func (c Config) String() string {
	var parts []string
	for name, p := range c.Errors {
		parts = append(parts, fmt.Sprintf("%s fails %.0f%%", name, 100*p))
	}
	for name, d := range c.Delays {
		parts = append(parts, fmt.Sprintf("%s held %s", name, d))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// Interceptor injects c's faults into every activity a worker runs. Pass it
// in worker.Options.Interceptors, or in client.Options.Interceptors so
// workers made from that client use it.
type Interceptor struct {
	interceptor.InterceptorBase
	cfg Config
	// roll returns a number in [0, 1); replaced by tests.
	roll func() float64
}

// NewInterceptor returns an interceptor injecting cfg's faults.
func NewInterceptor(cfg Config) *Interceptor {
	return &Interceptor{cfg: cfg, roll: rand.Float64}
}

// InterceptActivity implements interceptor.WorkerInterceptor.
func (i *Interceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	a := &activityInbound{root: i}
	a.Next = next
	return a
}

type activityInbound struct {
	interceptor.ActivityInboundInterceptorBase
	root *Interceptor
}

func (a *activityInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	typ := info.ActivityType.Name
	cfg := a.root.cfg
	fail := cfg.ErrorRate(typ) > 0 && a.root.roll() < cfg.ErrorRate(typ)
	before := fail && a.root.roll() < 0.5
	if before {
		injected.WithLabelValues(typ, "fail_before").Inc()
		return nil, failure(typ, info.Attempt, "before it ran")
	}
	res, err := a.Next.ExecuteActivity(ctx, in)
	if d := cfg.Delay(typ); d > 0 {
		injected.WithLabelValues(typ, "delay").Inc()
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if fail && err == nil {
		injected.WithLabelValues(typ, "fail_after").Inc()
		return nil, failure(typ, info.Attempt, "after it ran; its result is discarded")
	}
	return res, err
}

func failure(typ string, attempt int32, when string) error {
	return temporal.NewApplicationError(fmt.Sprintf("chaos: injected failure of %s attempt %d %s (CHAOS_ACTIVITY_ERRORS)", typ, attempt, when), ErrorType)
}
