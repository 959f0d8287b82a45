//! The in-process backend: TATs in a sharded hash map keyed by a 128-bit keyed hash of the
//! bucket key, so a check hashes two strings and touches one or a few shard locks, and only a
//! caller's first request allocates (its map entry).
//!
//! The hash is SipHash with per-process random keys (`RandomState`), so callers cannot craft
//! identities that collide with someone else's bucket.

use std::{
    collections::HashMap,
    hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState},
    sync::{Mutex, MutexGuard},
    time::Instant,
};

use crate::{
    Bucket, BucketKey, MAX_BUCKETS,
    gcra::{self, BucketState},
};

const SHARDS: usize = 64;

/// The map's keys are already uniformly random; hashing them again would be wasted work.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u128 keys are hashed")
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

type Shard = HashMap<u128, u64, BuildHasherDefault<PassThrough>>;

pub(crate) struct MemoryStore {
    shards: Box<[Mutex<Shard>]>,
    hashers: [RandomState; 2],
    epoch: Instant,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hashers: [RandomState::new(), RandomState::new()],
            epoch: Instant::now(),
        }
    }
}

impl MemoryStore {
    fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    fn hash(&self, key: &BucketKey<'_>) -> u128 {
        let [a, b] = self.hashers.each_ref().map(|state| {
            let mut h = state.build_hasher();
            h.write_u8(key.class as u8);
            h.write(key.scope.as_bytes());
            h.write_u8(0xff);
            h.write(key.tenant.as_bytes());
            h.write_u8(0xff);
            h.write(key.id.as_bytes());
            h.finish()
        });
        (u128::from(a) << 64) | u128::from(b)
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A panic while holding a shard cannot leave a TAT half-written: keep going.
        self.shards[shard]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Checks every bucket and charges all of them, or none when any refuses. The shards
    /// involved are locked in ascending order, so concurrent multi-bucket checks cannot deadlock.
    pub(crate) fn check(&self, buckets: &[Bucket<'_>], states: &mut [BucketState]) -> bool {
        let n = buckets.len().min(MAX_BUCKETS);
        let mut hashes = [0u128; MAX_BUCKETS];
        for (slot, bucket) in hashes.iter_mut().zip(&buckets[..n]) {
            *slot = self.hash(&bucket.key);
        }
        let shard_of = |h: u128| (h >> 64) as usize % SHARDS;
        let mut order = [0usize; MAX_BUCKETS];
        for (i, slot) in order.iter_mut().enumerate().take(n) {
            *slot = i;
        }
        order[..n].sort_unstable_by_key(|&i| shard_of(hashes[i]));
        let mut guards: [Option<MutexGuard<'_, Shard>>; MAX_BUCKETS] = Default::default();
        let mut held = [usize::MAX; MAX_BUCKETS];
        for &i in &order[..n] {
            let shard = shard_of(hashes[i]);
            if !held.contains(&shard) {
                guards[i] = Some(self.lock(shard));
                held[i] = shard;
            }
        }
        // Which guard holds bucket i's shard.
        let guard_of = |i: usize| {
            let shard = shard_of(hashes[i]);
            held.iter().position(|&s| s == shard).expect("locked above")
        };
        let now = self.now_us();
        let mut next = [0u64; MAX_BUCKETS];
        let mut allowed = true;
        for i in 0..n {
            let g = guard_of(i);
            let map = guards[g].as_ref().expect("held");
            let tat = map.get(&hashes[i]).copied().unwrap_or(0);
            let (new_tat, state) = gcra::step(tat, now, &buckets[i].quota);
            states[i] = state;
            match new_tat {
                Some(t) => next[i] = t,
                None => allowed = false,
            }
        }
        if allowed {
            for i in 0..n {
                let g = guard_of(i);
                guards[g].as_mut().expect("held").insert(hashes[i], next[i]);
            }
        }
        allowed
    }

    /// Microseconds until `key` has room again, without charging it; `None` when it has room.
    pub(crate) fn blocked_for(&self, key: &BucketKey<'_>) -> Option<u64> {
        let hash = self.hash(key);
        let until = *self.lock((hash >> 64) as usize % SHARDS).get(&hash)?;
        until.checked_sub(self.now_us()).filter(|&us| us > 0)
    }

    /// Marks `key` refused for `us` microseconds (a local note of a shared backend's answer).
    pub(crate) fn block(&self, key: &BucketKey<'_>, us: u64) {
        let hash = self.hash(key);
        let until = self.now_us() + us;
        self.lock((hash >> 64) as usize % SHARDS)
            .insert(hash, until);
    }

    /// Forgets buckets that are full again: an absent bucket is a full one. Keeps memory bounded
    /// by the callers active within one period.
    pub(crate) fn sweep(&self) {
        let now = self.now_us();
        for shard in 0..SHARDS {
            self.lock(shard).retain(|_, tat| *tat > now);
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        (0..SHARDS).map(|s| self.lock(s).len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{KeyClass, Quota};

    fn bucket<'a>(id: &'a str, scope: &'a str, quota: Quota) -> Bucket<'a> {
        Bucket {
            key: BucketKey {
                class: KeyClass::User,
                scope,
                tenant: "",
                id,
            },
            quota,
        }
    }

    #[test]
    fn all_or_nothing_across_buckets() {
        let store = MemoryStore::default();
        let wide = Quota::new(100, Duration::from_secs(60), 100).unwrap();
        let narrow = Quota::new(1, Duration::from_secs(60), 1).unwrap();
        let mut states = [BucketState::default(); MAX_BUCKETS];
        let pair = [
            bucket("alice", "", wide),
            bucket("alice", "create_task", narrow),
        ];
        assert!(store.check(&pair, &mut states));
        assert_eq!(states[0].remaining, 99);
        assert!(
            !store.check(&pair, &mut states),
            "the narrow bucket is empty"
        );
        assert!(store.check(&pair[..1], &mut states));
        assert_eq!(states[0].remaining, 98, "the refused check charged nothing");
        assert!(store.check(&[bucket("bob", "create_task", narrow)], &mut states));
    }

    #[test]
    fn sweeping_forgets_only_full_buckets() {
        let store = MemoryStore::default();
        let q = Quota::new(1, Duration::from_secs(3600), 1).unwrap();
        let mut states = [BucketState::default(); MAX_BUCKETS];
        assert!(store.check(&[bucket("alice", "", q)], &mut states));
        store.sweep();
        assert_eq!(store.len(), 1);
        assert!(!store.check(&[bucket("alice", "", q)], &mut states));
    }
}
