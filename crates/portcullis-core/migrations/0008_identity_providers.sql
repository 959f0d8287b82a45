-- Sign-in through the company's OpenID Connect providers.
--
-- A user who signs in at a provider is bound to that provider's stable subject (never to an
-- email address, which can be reassigned): the same (provider, subject) is always the same
-- account, and a local account is never taken over by a matching name.
CREATE TABLE external_identities (
    provider      TEXT NOT NULL,
    subject       TEXT NOT NULL,
    account_id    TEXT NOT NULL,
    email         TEXT,
    created_at    TEXT NOT NULL,
    last_login_at TEXT NOT NULL,
    PRIMARY KEY (provider, subject)
);
CREATE INDEX external_identities_account ON external_identities (account_id);

-- Sign-ins sent to a provider and not back yet, found by a hash of the `state` sent there and
-- used once. The nonce and PKCE verifier are kept as sent: the callback needs them, and they
-- are worth nothing after it (or after `expires_at`, when the row is purged).
CREATE TABLE oauth_federated_logins (
    state_hash    TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL,
    provider      TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    code_verifier TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX oauth_federated_logins_expiry ON oauth_federated_logins (expires_at);
