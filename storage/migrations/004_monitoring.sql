-- Monitoring (SPEC §3) and what chats follow (SPEC §5): watchlists, subscriptions, cycle figures.

-- Compact per-signal monitoring record: a counter and the last values, so history does not grow each cycle.
CREATE TABLE signal_monitor (
    signal_id       INTEGER PRIMARY KEY REFERENCES signals(id) ON DELETE CASCADE,
    cycles          INTEGER NOT NULL DEFAULT 0,
    last_checked_at TEXT NOT NULL,
    last_fused      REAL,
    last_technical  REAL,
    last_sentiment  REAL,
    last_price      TEXT,
    last_bar_time   TEXT
);

-- One row per job run (monitor, scan, summary); pruned to the most recent rows.
CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY,
    job         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    duration_ms REAL NOT NULL,
    monitored   INTEGER NOT NULL DEFAULT 0,
    changed     INTEGER NOT NULL DEFAULT 0,
    expired     INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    detail_json TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ix_job_runs ON job_runs(job, id DESC);

CREATE TABLE watchlist (
    id              INTEGER PRIMARY KEY,
    platform        TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,   -- who added it (owns pushed tips)
    symbol          TEXT NOT NULL,
    timeframe       TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    last_pushed_rec TEXT,
    last_pushed_bar TEXT,
    UNIQUE (platform, chat_id, symbol, timeframe)
);
CREATE INDEX ix_watchlist_symbol ON watchlist(symbol, timeframe);

CREATE TABLE subscriptions (
    platform   TEXT NOT NULL,
    chat_id    TEXT NOT NULL,
    symbol     TEXT NOT NULL,          -- a symbol, or '*' for all
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (platform, chat_id, symbol)
);
CREATE INDEX ix_subscriptions_symbol ON subscriptions(symbol);
