-- Trusted promotion: a model's own evaluation and watch settings
-- (internal/mlops.PromotionOverride: backtest_days, tolerance, watch_band,
-- watch_ratio, watch_for, watch_duration, watch_every, watch_disabled;
-- durations in nanoseconds). An absent key takes the configured default.
ALTER TABLE model_policies
  ADD COLUMN promotion jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(promotion) = 'object');
