// Package ratelimit limits API requests per API key and route class with the
// generic cell rate algorithm (GCRA) kept in Redis
// (github.com/go-redis/redis_rate), so every API replica shares one budget.
//
// A busy key does not cost a Redis round trip per request: a replica takes
// a small lease of tokens from Redis (one EVALSHA) and serves the next
// requests of that key from it for up to Options.Lease (50 ms). The lease
// grows while it is used up and shrinks when it is not, so a slow key asks
// for one token at a time and stays exact, while a key sending thousands of
// requests a second costs about twenty round trips a second. Leased tokens
// are already taken from the shared budget, so a lease never lets more
// through than the limit; tokens left when a lease expires are simply lost.
// A refusal is remembered until its Retry-After, so a client hammering a
// spent budget does not reach Redis either.
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
	"sync"
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
	// Backoff is how long Redis is left alone after a failure (default 1s);
	// then one request tries it again while the others keep passing.
	Backoff time.Duration
	// Timeout bounds one Redis call (default 100ms); a slower answer counts
	// as a failure.
	Timeout time.Duration
	// Lease is the longest a replica serves a key from tokens taken ahead
	// (default 50ms; negative asks Redis for every request).
	Lease time.Duration
}

// Limiter decides whether a request may proceed.
type Limiter struct {
	rl      *redis_rate.Limiter
	limits  map[Class]Limit
	prefix  string
	log     *slog.Logger
	backoff time.Duration
	timeout time.Duration
	lease   time.Duration
	now     func() time.Time

	failing   atomic.Bool  // the last Redis call failed
	skipUntil atomic.Int64 // unix nanos: while failing, fail open without asking Redis until then
	warnedAt  atomic.Int64 // unix nanos of the last fail-open warning

	mu     sync.Mutex
	leases map[string]*lease // class:key → tokens taken ahead
}

// lease holds tokens of one class and key already taken from Redis.
type lease struct {
	mu        sync.Mutex
	tokens    int // taken and not yet used
	expires   time.Time
	size      int // tokens to ask for next time
	used      int // of the current grant
	remaining int // in Redis after the grant
	reset     time.Time
	denyUntil time.Time
}

// New returns a Limiter keeping its state in rdb.
func New(rdb redis.UniversalClient, o Options) *Limiter {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 100 * time.Millisecond
	}
	if o.Lease == 0 {
		o.Lease = 50 * time.Millisecond
	}
	limits := make(map[Class]Limit, len(o.Limits))
	for c, l := range o.Limits {
		if l.Burst < 1 {
			l.Burst = max(l.Rate, 1)
		}
		limits[c] = l
	}
	return &Limiter{rl: redis_rate.NewLimiter(rdb), limits: limits, prefix: o.Prefix, log: o.Logger, backoff: o.Backoff, timeout: o.Timeout,
		lease: max(o.Lease, 0), now: time.Now, leases: map[string]*lease{}}
}

// maxLease is the most tokens of lim one lease may hold: what the rate
// earns in one lease period, at most a quarter of the burst.
func (l *Limiter) maxLease(lim Limit) int {
	n := int(float64(lim.Rate) * float64(l.lease) / float64(lim.Period))
	return max(1, min(n, lim.Burst/4))
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
	if l.failing.Load() {
		// One request per backoff period probes Redis; the rest pass.
		until := l.skipUntil.Load()
		if now.UnixNano() < until || !l.skipUntil.CompareAndSwap(until, now.Add(l.backoff).UnixNano()) {
			return l.failOpen(ctx, lim, now, nil)
		}
	}
	redisKey := l.prefix + string(class) + ":" + key
	maxLease := l.maxLease(lim)
	if maxLease == 1 {
		res, err := l.take(ctx, redisKey, lim, 1)
		if err != nil {
			return l.failed(ctx, lim, now, err)
		}
		return l.decide(class, lim, res.Allowed > 0, res.Remaining, res.ResetAfter, res.RetryAfter)
	}

	le := l.leaseOf(redisKey, now)
	le.mu.Lock()
	defer le.mu.Unlock()
	if now.Before(le.denyUntil) {
		return l.decide(class, lim, false, 0, le.reset.Sub(now), le.denyUntil.Sub(now))
	}
	if le.tokens > 0 && now.Before(le.expires) {
		le.tokens--
		le.used++
		return l.decide(class, lim, true, le.remaining+le.tokens, le.reset.Sub(now), 0)
	}
	// Renew: grow the lease while it is used up in time, else fit it to use.
	switch {
	case le.size == 0:
		le.size = 1
	case le.tokens == 0 && now.Before(le.expires):
		le.size = min(2*le.size, maxLease)
	default:
		le.size = max(1, min(2*le.used, maxLease))
	}
	res, err := l.take(ctx, redisKey, lim, le.size)
	if err != nil {
		le.tokens = 0
		return l.failed(ctx, lim, now, err)
	}
	le.used, le.remaining, le.reset = 0, res.Remaining, now.Add(res.ResetAfter)
	if res.Allowed == 0 {
		le.tokens, le.denyUntil = 0, now.Add(res.RetryAfter)
		return l.decide(class, lim, false, 0, res.ResetAfter, res.RetryAfter)
	}
	le.tokens, le.used, le.expires = res.Allowed-1, 1, now.Add(l.lease)
	return l.decide(class, lim, true, le.remaining+le.tokens, res.ResetAfter, 0)
}

// take asks Redis for up to n tokens.
func (l *Limiter) take(ctx context.Context, redisKey string, lim Limit, n int) (*redis_rate.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	rl := redis_rate.Limit{Rate: lim.Rate, Burst: lim.Burst, Period: lim.Period}
	var res *redis_rate.Result
	var err error
	if n == 1 {
		res, err = l.rl.Allow(ctx, redisKey, rl)
	} else {
		res, err = l.rl.AllowAtMost(ctx, redisKey, rl, n)
	}
	if err == nil && l.failing.Load() {
		l.failing.Store(false)
		l.log.InfoContext(ctx, "rate limiting is back on: Redis answers again")
	}
	return res, err
}

func (l *Limiter) decide(class Class, lim Limit, allowed bool, remaining int, reset, retry time.Duration) Decision {
	if allowed {
		return Decision{Allowed: true, Limit: lim, Remaining: remaining, ResetAfter: reset}
	}
	rejected.WithLabelValues(string(class)).Inc()
	return Decision{Limit: lim, ResetAfter: reset, RetryAfter: retry}
}

// leaseOf returns the lease of redisKey, dropping expired ones when the
// table grows large.
func (l *Limiter) leaseOf(redisKey string, now time.Time) *lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	le := l.leases[redisKey]
	if le == nil {
		if len(l.leases) >= 10_000 {
			for k, old := range l.leases {
				if old.mu.TryLock() {
					if now.After(old.expires) && now.After(old.denyUntil) {
						delete(l.leases, k)
					}
					old.mu.Unlock()
				}
			}
		}
		le = &lease{}
		l.leases[redisKey] = le
	}
	return le
}

func (l *Limiter) failed(ctx context.Context, lim Limit, now time.Time, err error) Decision {
	if ctx.Err() != nil {
		// The client went away: nothing to say about Redis.
		return Decision{Allowed: true, Limit: lim, FailedOpen: true}
	}
	l.skipUntil.Store(now.Add(l.backoff).UnixNano())
	l.failing.Store(true)
	return l.failOpen(ctx, lim, now, err)
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
