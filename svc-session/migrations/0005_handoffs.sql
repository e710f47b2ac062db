-- Hand-offs that reach sales: a status sales works through, one chat
-- hand-off per session and reason (a retried turn does not duplicate it),
-- the promise the visitor was given, and an outbox the delivery thread
-- works off (webhook, email), so a notification survives a restart.
ALTER TABLE handoff_records DROP CONSTRAINT IF EXISTS handoff_records_status_check;
UPDATE handoff_records SET status = 'new' WHERE status = 'notified';
UPDATE handoff_records SET status = 'lost' WHERE status = 'closed';
ALTER TABLE handoff_records ADD CONSTRAINT handoff_records_status_check
    CHECK (status IN ('new', 'contacted', 'qualified', 'won', 'lost', 'spam'));
ALTER TABLE handoff_records
    ADD COLUMN IF NOT EXISTS reason_kind TEXT NOT NULL DEFAULT 'other'
        CHECK (reason_kind IN ('demo', 'pricing', 'support', 'person', 'form', 'other')),
    ADD COLUMN IF NOT EXISTS turn_id TEXT,                 -- the chat turn that handed off
    ADD COLUMN IF NOT EXISTS urgency TEXT,                 -- low / normal / high, when the model said
    ADD COLUMN IF NOT EXISTS consent BOOLEAN NOT NULL DEFAULT false,
    ADD COLUMN IF NOT EXISTS promised_response TEXT,       -- what the visitor was told
    ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ NOT NULL DEFAULT now();
-- One chat hand-off per session and kind of reason (contact forms sent
-- from the chat are rows of their own).
CREATE UNIQUE INDEX IF NOT EXISTS handoff_records_chat_once
    ON handoff_records (session_id, reason_kind) WHERE source = 'chat' AND reason_kind <> 'form';

CREATE TABLE IF NOT EXISTS handoff_outbox (
    id BIGSERIAL PRIMARY KEY,
    handoff_id BIGINT NOT NULL REFERENCES handoff_records(id) ON DELETE CASCADE,
    channel TEXT NOT NULL CHECK (channel IN ('webhook', 'email')),
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error TEXT,
    sent_at TIMESTAMPTZ,
    UNIQUE (handoff_id, channel)
);
CREATE INDEX IF NOT EXISTS handoff_outbox_due_idx ON handoff_outbox (next_attempt_at) WHERE state = 'pending';

-- What erasure and retention deleted: counts and a reason, never personal
-- data (the session id is not kept either: it is an identifier of a person
-- in the sense of the GDPR once linked to a lead).
CREATE TABLE IF NOT EXISTS erasure_audit (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    cause TEXT NOT NULL CHECK (cause IN ('request', 'admin', 'retention')),
    sessions INTEGER NOT NULL DEFAULT 0,
    messages INTEGER NOT NULL DEFAULT 0,
    checkpoints INTEGER NOT NULL DEFAULT 0,
    handoffs INTEGER NOT NULL DEFAULT 0,
    outbox INTEGER NOT NULL DEFAULT 0,
    usage_unlinked INTEGER NOT NULL DEFAULT 0
);
