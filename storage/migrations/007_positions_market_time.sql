-- The market's clock for positions (issue 9): in replay a position is asked for, opened and closed at the
-- replay's virtual time, which is what /trades shows and what the daily trade limit counts. `created_at`
-- and `updated_at` stay the wall-clock times the rows were written (reconciliation's grace period, the
-- daily summary's window). Rows from before keep their wall-clock time as their market time.
ALTER TABLE positions ADD COLUMN market_at TEXT;
UPDATE positions SET market_at = created_at;
CREATE INDEX ix_positions_user_market ON positions(user_id, market_at);
