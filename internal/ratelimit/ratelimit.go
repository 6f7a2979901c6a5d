// Package ratelimit limits API requests per API key and route class with the
// generic cell rate algorithm (GCRA) kept in Redis
// (github.com/go-redis/redis_rate): one EVALSHA round trip per request, the
// same answer from every API replica.
//
// When Redis cannot be asked the limiter fails open: the request passes,
// smartmaint_ratelimit_fail_open_total counts it, a warning is logged at
// most once a minute, and Redis is left alone for a second before the next
// try so a dead Redis costs the hot path nothing.
package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/redis/go-redis/v9"
)

// Class groups routes that share a budget.
type Class string

// The route classes.
const (
	// Ingest is POST /api/v1/readings.
	Ingest Class = "ingest"
	// Read is every GET.
	Read Class = "read"
	// Write is every other change.
	Write Class = "write"
	// Expensive is work that costs far more than a request: model retrain
	// and promote, report generation.
	Expensive Class = "expensive"
)

// Classes lists every class in a stable order.
var Classes = []Class{Ingest, Read, Write, Expensive}

// Limit is a sustained rate with a burst. The zero Limit is no limit.
type Limit struct {
	// Rate requests are allowed per Period.
	Rate   int
	Period time.Duration
	// Burst is how many requests may come at once (at least 1).
	Burst int
}

// Unlimited reports whether l lets everything through.
func (l Limit) Unlimited() bool { return l.Rate <= 0 }

// String formats l the way ParseLimit reads it.
func (l Limit) String() string {
	if l.Unlimited() {
		return "off"
	}
	s := strconv.Itoa(l.Rate) + "/" + unitOf(l.Period)
	if l.Burst != l.Rate {
		s += ":" + strconv.Itoa(l.Burst)
	}
	return s
}

// Describe is a sentence-sized account of l for error messages.
func (l Limit) Describe() string {
	if l.Unlimited() {
		return "no limit"
	}
	return fmt.Sprintf("%d requests per %s (bursts of up to %d)", l.Rate, strings.TrimPrefix(unitName(l.Period), "1 "), l.Burst)
}

func unitOf(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "m"
	case time.Hour:
		return "h"
	}
	return d.String()
}

func unitName(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

// ParseLimit reads "<rate>/<unit>[:<burst>]" where unit is s, m or h, for
// example "20000/s", "10/m" or "50/s:100"; the burst defaults to the rate.
// "off" or "0" is no limit.
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Limit{}, nil
	}
	rateStr, rest, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("ratelimit: %q is not <rate>/<unit>[:<burst>] such as 100/s, 10/m or 50/s:100 (or off)", s)
	}
	unit, burstStr, hasBurst := strings.Cut(rest, ":")
	rate, err := strconv.Atoi(rateStr)
	if err != nil || rate < 1 {
		return Limit{}, fmt.Errorf("ratelimit: %q: the rate must be a whole number of at least 1", s)
	}
	l := Limit{Rate: rate, Burst: rate}
	switch unit {
	case "s":
		l.Period = time.Second
	case "m":
		l.Period = time.Minute
	case "h":
		l.Period = time.Hour
	default:
		return Limit{}, fmt.Errorf("ratelimit: %q: the unit must be s, m or h", s)
	}
	if hasBurst {
		b, err := strconv.Atoi(burstStr)
		if err != nil || b < 1 {
			return Limit{}, fmt.Errorf("ratelimit: %q: the burst must be a whole number of at least 1", s)
		}
		l.Burst = b
	}
	return l, nil
}

var (
	failOpen = promauto.NewCounter(prometheus.CounterOpts{
		Name: "smartmaint_ratelimit_fail_open_total",
		Help: "Requests let through without a rate-limit check because Redis could not be asked.",
	})
	rejected = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "smartmaint_ratelimit_rejected_total",
		Help: "Requests answered 429 by route class.",
	}, []string{"class"})
)

// Options configure a Limiter.
type Options struct {
	// Limits per class; a class without an entry is unlimited.
	Limits map[Class]Limit
	// Prefix is put before every Redis key (tests use their own).
	Prefix string
	// Logger receives the fail-open warnings (default slog.Default()).
	Logger *slog.Logger
	// Backoff is how long Redis is left alone after a failure (default 1s).
	Backoff time.Duration
}

// Limiter decides whether a request may proceed.
type Limiter struct {
	rl      *redis_rate.Limiter
	limits  map[Class]Limit
	prefix  string
	log     *slog.Logger
	backoff time.Duration
	now     func() time.Time

	skipUntil atomic.Int64 // unix nanos: fail open without asking Redis until then
	warnedAt  atomic.Int64 // unix nanos of the last fail-open warning
}

// New returns a Limiter keeping its state in rdb.
func New(rdb redis.UniversalClient, o Options) *Limiter {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	limits := make(map[Class]Limit, len(o.Limits))
	for c, l := range o.Limits {
		if l.Burst < 1 {
			l.Burst = max(l.Rate, 1)
		}
		limits[c] = l
	}
	return &Limiter{rl: redis_rate.NewLimiter(rdb), limits: limits, prefix: o.Prefix, log: o.Logger, backoff: o.Backoff, now: time.Now}
}

// Limit returns the limit of class.
func (l *Limiter) Limit(class Class) Limit { return l.limits[class] }

// Decision is the answer for one request.
type Decision struct {
	// Allowed is false when the request must be refused (429).
	Allowed bool
	// Limit is the class's limit; Unlimited when there is none.
	Limit Limit
	// Remaining is how many more requests would be allowed right now.
	Remaining int
	// ResetAfter is when the budget is full again.
	ResetAfter time.Duration
	// RetryAfter is when the next request would be allowed (refusals only).
	RetryAfter time.Duration
	// FailedOpen is true when Redis could not be asked and the request was
	// let through unchecked.
	FailedOpen bool
}

// Allow takes one request of class for key (an API key prefix) out of the
// budget. It never fails: without Redis the answer is to let it through.
func (l *Limiter) Allow(ctx context.Context, key string, class Class) Decision {
	lim := l.limits[class]
	if lim.Unlimited() {
		return Decision{Allowed: true, Limit: lim}
	}
	now := l.now()
	if now.UnixNano() < l.skipUntil.Load() {
		return l.failOpen(ctx, lim, now, nil)
	}
	res, err := l.rl.Allow(ctx, l.prefix+string(class)+":"+key, redis_rate.Limit{Rate: lim.Rate, Burst: lim.Burst, Period: lim.Period})
	if err != nil {
		if ctx.Err() != nil {
			// The client went away: nothing to say about Redis.
			return Decision{Allowed: true, Limit: lim, FailedOpen: true}
		}
		l.skipUntil.Store(now.Add(l.backoff).UnixNano())
		return l.failOpen(ctx, lim, now, err)
	}
	d := Decision{Allowed: res.Allowed > 0, Limit: lim, Remaining: res.Remaining, ResetAfter: res.ResetAfter}
	if !d.Allowed {
		d.RetryAfter = res.RetryAfter
		rejected.WithLabelValues(string(class)).Inc()
	}
	return d
}

func (l *Limiter) failOpen(ctx context.Context, lim Limit, now time.Time, err error) Decision {
	failOpen.Inc()
	last := l.warnedAt.Load()
	if now.UnixNano()-last >= int64(time.Minute) && l.warnedAt.CompareAndSwap(last, now.UnixNano()) {
		msg := "rate limiting is off: Redis is unreachable, requests pass unchecked (logged at most once a minute)"
		if err != nil {
			l.log.WarnContext(ctx, msg, "error", err)
		} else {
			l.log.WarnContext(ctx, msg)
		}
	}
	return Decision{Allowed: true, Limit: lim, FailedOpen: true}
}
