-- Roles and access: the audit log of admin actions and refusals, and user <-> admin messages.
CREATE TABLE audit (
    id          INTEGER PRIMARY KEY,
    actor_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    actor       TEXT NOT NULL,           -- identity, or "anon:<hash>" once the user asked to be forgotten
    action      TEXT NOT NULL,
    target      TEXT,
    result      TEXT NOT NULL,           -- ok | refused | error
    detail_json TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL
);
CREATE INDEX ix_audit_time ON audit(created_at DESC);
CREATE INDEX ix_audit_actor ON audit(actor_id, id DESC);
CREATE INDEX ix_audit_target ON audit(target, id DESC);

CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    reply_text  TEXT,
    replied_by  INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    replied_at  TEXT
);
CREATE INDEX ix_messages_open ON messages(replied_at, id DESC);

CREATE INDEX ix_users_role_state ON users(role, state);

-- A chat's own settings (timezone, later summary time); in groups only chat administrators change them.
CREATE TABLE chat_settings (
    platform      TEXT NOT NULL,
    chat_id       TEXT NOT NULL,
    settings_json TEXT NOT NULL DEFAULT '{}',
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (platform, chat_id)
);
