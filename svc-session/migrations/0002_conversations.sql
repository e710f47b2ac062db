-- Sessions, messages, leads handed to sales, token usage.
-- No raw visitor IP is stored anywhere: only ip_hash, an HMAC of it.
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,                      -- also the checkpointer thread_id
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL,          -- retention: created_at + RETENTION_DAYS
    ip_hash TEXT,
    origin TEXT,
    locale TEXT,
    turns INTEGER NOT NULL DEFAULT 0,
    lead JSONB NOT NULL DEFAULT '{}',         -- current lead fields (also in the checkpoint)
    active_turn_id TEXT,                      -- the turn in progress (one at a time)
    active_turn_until TIMESTAMPTZ,            -- lock expiry, so a crashed gateway cannot wedge a session
    CHECK (char_length(id) <= 64)
);
CREATE INDEX IF NOT EXISTS sessions_expires_at_idx ON sessions(expires_at);

CREATE TABLE IF NOT EXISTS messages (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    turn_id TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    sources JSONB NOT NULL DEFAULT '[]',
    partial BOOLEAN NOT NULL DEFAULT false,
    stop_reason TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_session_idx ON messages(session_id, id);
CREATE INDEX IF NOT EXISTS messages_created_at_idx ON messages(created_at);

CREATE TABLE IF NOT EXISTS handoff_records (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    source TEXT NOT NULL DEFAULT 'chat' CHECK (source IN ('chat', 'form')),
    name TEXT,
    email TEXT,
    phone TEXT,
    company TEXT,
    need TEXT,
    fields JSONB NOT NULL DEFAULT '{}',       -- further lead fields
    reason TEXT NOT NULL,                     -- why the hand-off happened
    within_business_hours BOOLEAN NOT NULL,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'notified', 'contacted', 'closed')),
    ip_hash TEXT,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS handoff_records_status_idx ON handoff_records(status, created_at);
CREATE INDEX IF NOT EXISTS handoff_records_expires_at_idx ON handoff_records(expires_at);

-- One row per model call (a turn may fall back to a second provider).
CREATE TABLE IF NOT EXISTS usage (
    id BIGSERIAL PRIMARY KEY,
    session_id TEXT REFERENCES sessions(id) ON DELETE SET NULL,
    turn_id TEXT,
    day DATE NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')::date,
    provider TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_creation_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_input_tokens INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS usage_session_idx ON usage(session_id, day);
CREATE INDEX IF NOT EXISTS usage_day_idx ON usage(day);

-- Totals per day, kept by Commit in the same transaction, for global budgets.
CREATE TABLE IF NOT EXISTS usage_daily (
    day DATE NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    turns INTEGER NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cache_creation_input_tokens BIGINT NOT NULL DEFAULT 0,
    cache_read_input_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (day, provider, model)
);
