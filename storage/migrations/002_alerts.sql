-- The durable alert outbox (SPEC §5): every alert is a row here before anything is sent, so a killed
-- process loses nothing; each platform adapter drains the rows of its own chats.
CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    platform        TEXT NOT NULL,                   -- "telegram", "discord", "console"
    chat_id         TEXT NOT NULL,
    kind            TEXT NOT NULL,                   -- status_change, scan, summary, broadcast ...
    payload_json    TEXT NOT NULL,                   -- the Reply model, platform-free
    status          TEXT NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dropped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,                   -- not sent before this time (backoff, flood waits)
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    last_error      TEXT,
    dedupe_key      TEXT UNIQUE                      -- NULLs never collide: only keyed alerts are deduplicated
);
-- Claiming asks for one platform's due pending rows, oldest first.
CREATE INDEX ix_alerts_claim ON alerts(platform, status, next_attempt_at);
-- A chat's head of line (its oldest unsent alert) and dropping a chat's queue.
CREATE INDEX ix_alerts_chat ON alerts(platform, chat_id, status);
-- Recent sends, to restore per-chat pacing after a restart.
CREATE INDEX ix_alerts_sent ON alerts(platform, sent_at);
CREATE INDEX ix_alerts_kind_status ON alerts(kind, status);

-- Every chat the bot talks to; blocked_at is set when the chat blocked the bot or vanished, and cleared
-- when its user sends /start again. Later issues add subscriptions referencing this table.
CREATE TABLE chats (
    platform       TEXT NOT NULL,
    chat_id        TEXT NOT NULL,
    chat_type      TEXT,                             -- private, group, supergroup, channel; NULL when unknown
    title          TEXT,
    blocked_at     TEXT,
    blocked_reason TEXT,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (platform, chat_id)
);
