-- Users, tips, their history, the activity log, small key/value state and multi-step chat flows.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    identity      TEXT NOT NULL UNIQUE,          -- "telegram:123", "discord:456", "console:local"
    platform      TEXT NOT NULL,
    username      TEXT,
    display_name  TEXT,
    role          TEXT NOT NULL,
    state         TEXT NOT NULL DEFAULT 'active',
    settings_json TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT
);

CREATE TABLE signals (
    id                  INTEGER PRIMARY KEY,
    user_id             INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    platform            TEXT NOT NULL,
    chat_id             TEXT NOT NULL,
    symbol              TEXT NOT NULL,
    timeframe           TEXT NOT NULL,
    recommendation      TEXT NOT NULL,
    status              TEXT NOT NULL DEFAULT 'active',
    confidence          REAL NOT NULL,
    technical_score     REAL NOT NULL,
    sentiment_score     REAL NOT NULL,
    fused_score         REAL NOT NULL,
    price               TEXT NOT NULL,           -- Decimal as text: lossless
    atr                 TEXT NOT NULL,
    stop_loss           TEXT,
    take_profit         TEXT,
    bar_time            TEXT NOT NULL,
    demo                INTEGER NOT NULL,
    data_json           TEXT NOT NULL,           -- the full Signal model, for the card and re-evaluation
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL
);
CREATE INDEX ix_signals_user_time ON signals(user_id, created_at DESC);
CREATE INDEX ix_signals_symbol_time ON signals(symbol, created_at DESC);
CREATE INDEX ix_signals_status ON signals(status, symbol, timeframe);
CREATE INDEX ix_signals_time ON signals(created_at DESC);

CREATE TABLE signal_history (
    id          INTEGER PRIMARY KEY,
    signal_id   INTEGER NOT NULL REFERENCES signals(id) ON DELETE CASCADE,
    event       TEXT NOT NULL,
    description TEXT NOT NULL,
    data_json   TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);
CREATE INDEX ix_history_signal ON signal_history(signal_id, id);

CREATE TABLE activity (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER REFERENCES users(id) ON DELETE SET NULL,
    kind        TEXT NOT NULL,
    description TEXT NOT NULL,
    data_json   TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);
CREATE INDEX ix_activity_user_time ON activity(user_id, created_at DESC);
CREATE INDEX ix_activity_time ON activity(created_at DESC);

CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- A multi-step flow (pick a symbol, then a timeframe; type a custom size ...) per user and chat.
CREATE TABLE flows (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_key   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    state_json TEXT NOT NULL DEFAULT '{}',
    expires_at TEXT NOT NULL,
    PRIMARY KEY (user_id, chat_key)
);
