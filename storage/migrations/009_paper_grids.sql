-- Paper grids (issue 11, the grid strategy's [Start paper grid]): a grid's resting orders on its levels. A
-- level is `filled` while the paper position its fill opened is held; when that position closes the level is
-- open again. A stopped grid's open levels are `cancelled` (its held positions stay as normal positions).
-- `last_bar_at` / `last_close` are the newest closed bar the watcher has applied, written in the same
-- transaction as that bar's fills, so a restart resumes after it and never fills a bar twice.
CREATE TABLE paper_grids (
    id              INTEGER PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    signal_id       INTEGER REFERENCES signals(id) ON DELETE SET NULL,
    platform        TEXT NOT NULL,
    chat_id         TEXT NOT NULL,
    symbol          TEXT NOT NULL,
    timeframe       TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('active', 'stopped')),
    anchor          TEXT NOT NULL,          -- the float the lines are computed from, as repr() writes it
    params          TEXT NOT NULL,          -- the grid strategy's own keys (JSON)
    size            TEXT NOT NULL,          -- the notional of each level's order, in quote currency
    price_decimals  INTEGER NOT NULL,
    recentred       INTEGER NOT NULL DEFAULT 0,
    last_bar_at     TEXT NOT NULL,          -- market time the newest applied closed bar opened at
    last_close      TEXT NOT NULL,          -- that bar's close: the previous close of the next step
    created_at      TEXT NOT NULL,
    stopped_at      TEXT,
    updated_at      TEXT NOT NULL
);
CREATE INDEX ix_paper_grids_user ON paper_grids(user_id, id);
CREATE INDEX ix_paper_grids_status ON paper_grids(status);
-- One running grid per tip: two Confirm presses arriving together make one.
CREATE UNIQUE INDEX ux_paper_grids_signal ON paper_grids(signal_id) WHERE status = 'active';

CREATE TABLE paper_grid_levels (
    grid_id      INTEGER NOT NULL REFERENCES paper_grids(id) ON DELETE CASCADE,
    k            INTEGER NOT NULL,          -- −1 the first buy below the anchor, 1 the first sell above
    side         TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    price        TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('open', 'filled', 'cancelled')),
    position_id  INTEGER REFERENCES positions(id) ON DELETE SET NULL,
    entry        TEXT,                      -- the close it filled at (repr of the float the rule compares)
    PRIMARY KEY (grid_id, k)
);
CREATE INDEX ix_paper_grid_levels_position ON paper_grid_levels(position_id);
