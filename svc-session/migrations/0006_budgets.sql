-- Cost budgets: what each model call cost (micro-units of COST_CURRENCY,
-- from MODEL_PRICES at Commit), and the daily totals sharded so concurrent
-- Commits do not all wait on one hot row: each connection adds to the row
-- of its shard (backend pid mod 8); readers sum the shards.
ALTER TABLE usage ADD COLUMN IF NOT EXISTS cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS cost_micros BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_daily ADD COLUMN IF NOT EXISTS shard SMALLINT NOT NULL DEFAULT 0 CHECK (shard BETWEEN 0 AND 63);
ALTER TABLE usage_daily DROP CONSTRAINT IF EXISTS usage_daily_pkey;
ALTER TABLE usage_daily ADD PRIMARY KEY (day, provider, model, shard);
-- Turns per minute of a session are counted from its usage rows.
CREATE INDEX IF NOT EXISTS usage_session_created_idx ON usage (session_id, created_at);
