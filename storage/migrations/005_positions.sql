-- Positions (SPEC §4): paper accounts, positions and the broker orders behind them. Money is TEXT (Decimal).
CREATE TABLE paper_accounts (
    user_id         INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    cash            TEXT NOT NULL,
    starting_equity TEXT NOT NULL,
    reset_at        TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE positions (
    id                INTEGER PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    signal_id         INTEGER REFERENCES signals(id) ON DELETE SET NULL,
    platform          TEXT NOT NULL,
    chat_id           TEXT NOT NULL,
    symbol            TEXT NOT NULL,
    side              TEXT NOT NULL CHECK (side IN ('long', 'short')),
    broker            TEXT NOT NULL,
    -- pending: entry order sent, fill not confirmed; closing: exit order sent; failed: never opened
    status            TEXT NOT NULL CHECK (status IN ('pending', 'open', 'closing', 'closed', 'failed')),
    notional          TEXT NOT NULL,          -- the size the user chose, in quote currency
    quantity          TEXT,
    entry_price       TEXT,
    entry_fee         TEXT,
    stop_loss         TEXT,
    take_profit       TEXT,
    price_decimals    INTEGER NOT NULL DEFAULT 2,
    trail_extreme     TEXT,                   -- best price since entry (high for longs, low for shorts)
    trail_active      INTEGER NOT NULL DEFAULT 0,
    last_price        TEXT,
    last_alert_pnl    REAL NOT NULL DEFAULT 0,
    near_target_sent  INTEGER NOT NULL DEFAULT 0,
    exit_price        TEXT,
    exit_fee          TEXT,
    exit_reason       TEXT,
    pnl_abs           TEXT,
    pnl_pct           REAL,
    error             TEXT,
    created_at        TEXT NOT NULL,
    opened_at         TEXT,
    closed_at         TEXT,
    updated_at        TEXT NOT NULL
);
CREATE INDEX ix_positions_user_status ON positions(user_id, status);
CREATE INDEX ix_positions_status ON positions(status, symbol);
CREATE INDEX ix_positions_closed ON positions(user_id, closed_at DESC);
CREATE INDEX ix_positions_signal ON positions(signal_id, status);

CREATE TABLE orders (
    id               INTEGER PRIMARY KEY,
    position_id      INTEGER NOT NULL REFERENCES positions(id) ON DELETE CASCADE,
    purpose          TEXT NOT NULL CHECK (purpose IN ('entry', 'exit')),
    client_order_id  TEXT NOT NULL UNIQUE,
    broker           TEXT NOT NULL,
    broker_order_id  TEXT,
    status           TEXT NOT NULL,           -- sent, filled, rejected, canceled, not_found
    quantity         TEXT,
    price            TEXT,
    fee              TEXT,
    detail           TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
);
CREATE INDEX ix_orders_position ON orders(position_id);
