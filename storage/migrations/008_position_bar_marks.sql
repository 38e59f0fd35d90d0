-- Where the position monitor has read each symbol's bars to (issue 9): exits are decided on every bar's
-- high and low since the last look, so after a restart the next look starts where the last one stopped,
-- and the trailing state saved with the mark (in one transaction) is never replayed over bars it has seen.
CREATE TABLE position_bar_marks (
    symbol      TEXT PRIMARY KEY,
    bars_from   TEXT NOT NULL,  -- market time: bars that open at or after it are unseen
    updated_at  TEXT NOT NULL
);
