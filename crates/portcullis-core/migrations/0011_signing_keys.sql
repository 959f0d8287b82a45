-- The authorization server's signing keys, kept with the data so every replica shares them
-- without a shared directory (used when an operator gives a key-encryption key). Private keys
-- are sealed with AES-256-GCM under that key; only their public halves are stored in clear.
-- A key signs from `signs_from` on (a rotation sets it a few seconds ahead, so every replica
-- publishes the new key before any replica signs with it); the newest key whose time has come
-- signs, the others stay published until every token they signed has expired.
CREATE TABLE signing_keys (
    kid         TEXT PRIMARY KEY,
    private_key TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    signs_from  TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
