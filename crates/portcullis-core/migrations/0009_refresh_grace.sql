-- Refresh that survives real clients: a rotated refresh token remembers its successor's hash
-- and the answer that carried it, sealed under a key derived from the rotated token (which is
-- stored only as a hash), so the same client presenting it again within the grace window gets
-- the very same answer instead of revoking its grant. Cleared once the window has passed.
ALTER TABLE oauth_refresh_tokens ADD COLUMN successor_hash TEXT;
ALTER TABLE oauth_refresh_tokens ADD COLUMN replay TEXT;
