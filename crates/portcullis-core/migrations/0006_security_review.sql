-- Fixes from the outside security review.
--
-- Clients: an operator may let a client introspect every token (`introspection`); a dynamic
-- client that never completes a grant (`first_grant_at` stays NULL) is deleted after a while.
ALTER TABLE oauth_clients ADD COLUMN introspection BIGINT NOT NULL DEFAULT 0;
ALTER TABLE oauth_clients ADD COLUMN first_grant_at TEXT;
UPDATE oauth_clients SET first_grant_at = created_at
 WHERE EXISTS (SELECT 1 FROM oauth_grants g WHERE g.client_id = oauth_clients.client_id);

-- Failed sign-ins, counted per submitted username (whether or not an account has that name)
-- and per username and network address: `key` is a SHA-256 of those, never the name itself.
-- One conditional upsert counts an attempt and sets the lock, so concurrent attempts cannot
-- lose a count or clear a lock.
CREATE TABLE login_throttle (
    key          TEXT PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locked_until TEXT,
    updated_at   TEXT NOT NULL
);
CREATE INDEX login_throttle_age ON login_throttle (updated_at);

-- Server-side secrets shared by every replica (the key of the CSRF MAC), created once.
CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
