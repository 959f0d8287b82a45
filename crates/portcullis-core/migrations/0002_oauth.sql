-- The built-in OAuth 2.1 authorization server: login accounts, registered clients, pending
-- authorization requests, grants (one per authorization, the family its tokens belong to),
-- authorization codes and refresh tokens. Codes, refresh tokens and client secrets are stored
-- only as SHA-256 hashes (they are 256-bit random values, so a fast hash is enough); passwords
-- as argon2id PHC strings. Timestamps are RFC 3339 UTC text as in 0001.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY,           -- the `sub` of tokens issued for this account
    username      TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    tenant_id     TEXT,
    failed_logins BIGINT NOT NULL DEFAULT 0,
    locked_until  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE oauth_clients (
    client_id                  TEXT PRIMARY KEY,
    secret_hash                TEXT,
    name                       TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,  -- JSON array
    grant_types                TEXT NOT NULL,  -- JSON array
    scope                      TEXT,           -- allowed scopes; NULL = every supported scope
    application_type           TEXT NOT NULL,  -- web | native
    token_endpoint_auth_method TEXT NOT NULL,  -- none | client_secret_basic | client_secret_post
    registered_by              TEXT NOT NULL,  -- cli | dynamic
    created_at                 TEXT NOT NULL
);
CREATE INDEX oauth_clients_by_origin ON oauth_clients (registered_by, created_at);

CREATE TABLE oauth_authorization_requests (
    id             TEXT PRIMARY KEY,
    browser_hash   TEXT NOT NULL,  -- hash of the CSRF cookie the request is bound to
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    state          TEXT,
    code_challenge TEXT NOT NULL,
    resource       TEXT NOT NULL,
    account_id     TEXT,           -- set once the user has logged in
    expires_at     TEXT NOT NULL,
    created_at     TEXT NOT NULL
);
CREATE INDEX oauth_authorization_requests_expiry ON oauth_authorization_requests (expires_at);

CREATE TABLE oauth_grants (
    id             TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    tenant_id      TEXT,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    revoked_at     TEXT,
    revoked_reason TEXT
);
CREATE INDEX oauth_grants_revoked ON oauth_grants (revoked_at);

CREATE TABLE oauth_codes (
    code_hash      TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL,  -- the grant created when the code is redeemed
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope          TEXT NOT NULL,
    resource       TEXT NOT NULL,
    subject        TEXT NOT NULL,
    tenant_id      TEXT,
    expires_at     TEXT NOT NULL,
    used_at        TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX oauth_codes_expiry ON oauth_codes (expires_at);

CREATE TABLE oauth_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id   TEXT NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX oauth_refresh_tokens_by_grant ON oauth_refresh_tokens (grant_id);
