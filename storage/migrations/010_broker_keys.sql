-- Per-user broker API keys (issue 12, /setkeys): only Fernet tokens are stored, made with a master key taken
-- from the TIPSTER_SECRET_KEY environment variable, which is never in config.yaml or this database. A key
-- or a secret is never written here in clear, not even in a flow's state while /setkeys asks for them.
CREATE TABLE broker_keys (
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    broker      TEXT NOT NULL,   -- "alpaca" or "ccxt" (brokers.<name> in config.yaml)
    key_token   TEXT NOT NULL,   -- the API key, encrypted
    secret_token TEXT NOT NULL,  -- the API secret, encrypted
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, broker)
);
