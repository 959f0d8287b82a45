-- API keys (X-API-Key): only the SHA-256 of the secret part is stored. A name is unique among
-- keys that are not revoked, so a revoked key's name can be reused.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    owner        TEXT NOT NULL,
    tenant_id    TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    trusted      BIGINT NOT NULL DEFAULT 0 CHECK (trusted IN (0, 1)),
    secret_hash  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked_at IS NULL;

-- Every authentication and authorization decision. Never a secret: credentials are named by
-- their public id (an API key's id, an OAuth client id).
CREATE TABLE audit_events (
    id          TEXT PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    method      TEXT NOT NULL,
    credential  TEXT,
    subject     TEXT,
    acting_user TEXT,
    tenant_id   TEXT,
    action      TEXT NOT NULL,
    tool        TEXT,
    decision    TEXT NOT NULL CHECK (decision IN ('allowed', 'denied')),
    reason      TEXT NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (occurred_at, id);
