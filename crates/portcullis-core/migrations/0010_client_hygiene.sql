-- Registration hygiene: clients that register themselves again with identical metadata get
-- the client they already have (found by a fingerprint of that metadata), and every client
-- records when it last got tokens, so `client list` can show it and idle dynamic clients expire.
ALTER TABLE oauth_clients ADD COLUMN fingerprint TEXT;
ALTER TABLE oauth_clients ADD COLUMN last_used_at TEXT;
UPDATE oauth_clients SET last_used_at = first_grant_at;
CREATE INDEX oauth_clients_fingerprint ON oauth_clients (fingerprint, created_at);
