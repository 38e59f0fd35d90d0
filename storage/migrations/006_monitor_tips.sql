-- What the signal monitor reads every cycle, kept where reading it is cheap (issue 8: 10,000 tips < 0.25 s).
--
-- A tip's thresholds, weights and creation bar live in its data_json, a ~4 KB row: reading them for every
-- active tip every cycle costs a page (and an overflow page) per tip. They never change after the tip is
-- created, so the monitor copies them here the first time it sees a tip, with the owner and chat its
-- alerts need; the cascade drops the copy with the tip, so a reused id is copied afresh.
CREATE TABLE monitor_tips (
    signal_id   INTEGER PRIMARY KEY REFERENCES signals(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL,
    platform    TEXT NOT NULL,   -- the chat the tip was created in: where its owner hears of it
    chat_id     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    params_json TEXT NOT NULL,   -- the tip's SignalParams, for the tips a cycle changes
    created_bar TEXT NOT NULL,   -- ISO time of the bar the tip was created on (expiry counts from it)
    packed      TEXT NOT NULL    -- hex of the numbers a cycle scores with (layout: storage/monitoring.py)
);

-- The active tips in the monitor's order, with the one mutable field it reads, without touching the rows.
DROP INDEX ix_signals_status;
CREATE INDEX ix_signals_status ON signals(status, symbol, timeframe, id, recommendation);
