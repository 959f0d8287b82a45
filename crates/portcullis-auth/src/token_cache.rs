//! Verified access tokens, remembered so a client that sends the same token again is not
//! verified again (an RS256 signature check is most of what a request costs).
//!
//! What keeps this as safe as verifying every time:
//! - The key is SHA-256 of the whole token, never a `jti` or a prefix: a token that differs in
//!   one byte (a forged signature, an edited claim) is a different key and is verified.
//! - An entry is served only while `now < exp`, with no leeway: past `exp` the token goes
//!   through the verifier again, which alone decides about clock skew.
//! - An entry records the generation of the key set it was verified with. Any change of the
//!   keys (rotation, a key removed, a new JWKS) starts a new generation, and older entries are
//!   verified again, so a removed key stops working at once.
//! - Revocation is not cached at all: the caller checks it on every request, hit or miss.
//! - Bounded in entries and memory: an entry weighs one unit per started 2 KiB of token (a
//!   typical token weighs one), tokens over 16 KiB are never kept, and the least recently
//!   used entries go first.

use std::{
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use sha2::{Digest, Sha256};

use crate::Principal;

/// Default number of entries (`--token-cache-size`).
pub const DEFAULT_TOKEN_CACHE_SIZE: usize = 10_000;
/// Tokens larger than this are verified every time.
const MAX_CACHED_TOKEN_BYTES: usize = 16 * 1024;
/// One unit of weight per started `WEIGHT_UNIT` bytes of token.
const WEIGHT_UNIT: usize = 2048;

type Key = [u8; 32];

struct Entry {
    principal: Principal,
    /// The token's `exp`, in seconds since the epoch.
    expires_at: u64,
    /// The key-set generation the signature was checked against.
    generation: u64,
    weight: u64,
}

#[derive(Clone)]
struct ByTokenSize;

impl quick_cache::Weighter<Key, Arc<Entry>> for ByTokenSize {
    fn weight(&self, _key: &Key, entry: &Arc<Entry>) -> u64 {
        entry.weight
    }
}

/// A bounded map from token digest to the [`Principal`] its verification produced.
pub struct TokenCache {
    /// `None` when disabled (size 0).
    entries: Option<quick_cache::sync::Cache<Key, Arc<Entry>, ByTokenSize>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.len())
            .finish()
    }
}

fn digest(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl TokenCache {
    /// A cache of at most `size` typical tokens; `0` disables it.
    pub fn new(size: usize) -> Self {
        let entries = (size > 0)
            .then(|| quick_cache::sync::Cache::with_weighter(size, size as u64, ByTokenSize));
        Self { entries }
    }

    pub fn is_enabled(&self) -> bool {
        self.entries.is_some()
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |c| c.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The principal `token` was verified as, if it was verified under key-set `generation`
    /// and has not expired.
    pub fn get(&self, token: &str, generation: u64) -> Option<Principal> {
        let entries = self.entries.as_ref()?;
        let key = digest(token);
        let entry = entries.get(&key)?;
        if entry.generation != generation || unix_now() >= entry.expires_at {
            entries.remove(&key);
            return None;
        }
        Some(entry.principal.clone())
    }

    /// Remembers a successful verification under key-set `generation`.
    pub fn insert(&self, token: &str, principal: &Principal, generation: u64) {
        let Some(entries) = &self.entries else {
            return;
        };
        if token.len() > MAX_CACHED_TOKEN_BYTES || principal.expires_at <= unix_now() {
            return;
        }
        let weight = token.len().div_ceil(WEIGHT_UNIT).max(1) as u64;
        entries.insert(
            digest(token),
            Arc::new(Entry {
                principal: principal.clone(),
                expires_at: principal.expires_at,
                generation,
                weight,
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthMethod, ScopeSet};

    fn principal(subject: &str, expires_at: u64) -> Principal {
        Principal {
            subject: subject.into(),
            method: AuthMethod::Oauth,
            credential: None,
            client_id: None,
            scopes: ScopeSet::parse("tasks:read"),
            tenant: None,
            expires_at,
            claims: Arc::default(),
        }
    }

    #[test]
    fn serves_only_the_same_token_under_the_same_keys_before_exp() {
        let cache = TokenCache::new(10);
        let later = unix_now() + 600;
        cache.insert("header.payload.signature", &principal("alice", later), 1);
        assert_eq!(
            cache.get("header.payload.signature", 1).unwrap().subject,
            "alice"
        );
        // One byte different anywhere: not served.
        for i in 0.."header.payload.signature".len() {
            let mut bytes = b"header.payload.signature".to_vec();
            bytes[i] ^= 1;
            let other = String::from_utf8(bytes).unwrap();
            assert!(cache.get(&other, 1).is_none(), "byte {i}");
        }
        assert!(cache.get("header.payload.signatur", 1).is_none());
        assert!(cache.get("header.payload.signaturee", 1).is_none());
        // Another key generation: gone for good.
        assert!(cache.get("header.payload.signature", 2).is_none());
        assert!(cache.get("header.payload.signature", 1).is_none());
    }

    #[test]
    fn never_outlives_exp_and_never_keeps_expired_tokens() {
        let cache = TokenCache::new(10);
        cache.insert("expired", &principal("alice", unix_now()), 1);
        assert!(cache.is_empty());
        cache.insert("soon", &principal("alice", unix_now() + 1), 1);
        assert!(cache.get("soon", 1).is_some());
        std::thread::sleep(std::time::Duration::from_millis(2100));
        assert!(cache.get("soon", 1).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn bounded_by_entries_and_by_token_size() {
        let cache = TokenCache::new(100);
        let later = unix_now() + 600;
        for i in 0..1000 {
            cache.insert(&format!("token-{i}"), &principal("alice", later), 1);
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
        // A 16 KiB token weighs eight typical ones; a larger one is never kept.
        let big = "x".repeat(MAX_CACHED_TOKEN_BYTES + 1);
        cache.insert(&big, &principal("alice", later), 1);
        assert!(cache.get(&big, 1).is_none());
        let disabled = TokenCache::new(0);
        disabled.insert("token", &principal("alice", later), 1);
        assert!(!disabled.is_enabled());
        assert!(disabled.get("token", 1).is_none());
    }
}
