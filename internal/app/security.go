package app

import (
	"fmt"
	"log/slog"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.uber.org/fx"

	"github.com/smartmaint/smartmaint/api"
	"github.com/smartmaint/smartmaint/internal/chaos"
	"github.com/smartmaint/smartmaint/internal/config"
	"github.com/smartmaint/smartmaint/internal/idempotency"
	"github.com/smartmaint/smartmaint/internal/ratelimit"
)

// redisPrefix namespaces smartmaint's rate-limit and idempotency keys in a
// shared Redis.
const redisPrefix = "smartmaint:"

// securityAPI gives the router its body limit, rate limits and
// Idempotency-Key store (api.NewRouter takes them as options).
func securityAPI() fx.Option {
	return fx.Provide(newRouterOptions)
}

func newRouterOptions(cfg config.Config, rdb redis.UniversalClient, log *slog.Logger) ([]api.Option, error) {
	limits := map[ratelimit.Class]ratelimit.Limit{}
	for _, s := range []struct {
		class       ratelimit.Class
		name, value string
	}{
		{ratelimit.Ingest, "RATE_LIMIT_INGEST", cfg.RateLimitIngest},
		{ratelimit.Read, "RATE_LIMIT_READ", cfg.RateLimitRead},
		{ratelimit.Write, "RATE_LIMIT_WRITE", cfg.RateLimitWrite},
		{ratelimit.Expensive, "RATE_LIMIT_EXPENSIVE", cfg.RateLimitExpensive},
	} {
		l, err := ratelimit.ParseLimit(s.value)
		if err != nil {
			return nil, fmt.Errorf("config: %s: %w", s.name, err)
		}
		limits[s.class] = l
	}
	return []api.Option{
		api.WithMaxBodyBytes(cfg.MaxBodyBytes),
		api.WithRateLimit(ratelimit.New(rdb, ratelimit.Options{Limits: limits, Prefix: redisPrefix, Logger: log.With("component", "ratelimit")})),
		api.WithIdempotency(idempotency.New(rdb, idempotency.Options{Prefix: redisPrefix, TTL: cfg.IdempotencyTTL})),
	}, nil
}

// chaosWorker gives the worker a Temporal client carrying the chaos
// interceptor when CHAOS_ACTIVITY_ERRORS or CHAOS_ACTIVITY_DELAY is set;
// otherwise the client is left as it is.
func chaosWorker() fx.Option {
	return fx.Decorate(withChaos)
}

func withChaos(lc fx.Lifecycle, cfg config.Config, c client.Client, log *slog.Logger) (client.Client, error) {
	faults, err := chaos.Parse(cfg.ChaosActivityErrors, cfg.ChaosActivityDelay)
	if err != nil {
		return nil, err
	}
	if !faults.Enabled() {
		return c, nil
	}
	log.Warn("CHAOS MODE: this worker fails and delays activities on purpose (CHAOS_ACTIVITY_ERRORS, CHAOS_ACTIVITY_DELAY); never run it in production",
		"faults", faults.String())
	cc, err := client.NewClientFromExisting(c, client.Options{
		Namespace:    cfg.TemporalNamespace,
		Logger:       tlog.NewStructuredLogger(log.With("component", "temporal-client")),
		Interceptors: []interceptor.ClientInterceptor{chaos.NewInterceptor(faults)},
	})
	if err != nil {
		return nil, fmt.Errorf("temporal client with the chaos interceptor: %w", err)
	}
	lc.Append(fx.StopHook(cc.Close))
	return cc, nil
}
