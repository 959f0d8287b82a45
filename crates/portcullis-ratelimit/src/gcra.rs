//! The Generic Cell Rate Algorithm on one bucket: a single "theoretical arrival time" (TAT)
//! per key is the whole state, so a check is O(1) and the Redis script mirrors it line by line.

use crate::Quota;

/// What a check found out about one bucket, for the `RateLimit` header and `Retry-After`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BucketState {
    /// Requests left that could be made right now.
    pub remaining: u64,
    /// Microseconds until the bucket is full again.
    pub reset_us: u64,
    /// Microseconds until a refused request would be allowed (0 when allowed).
    pub retry_us: u64,
}

/// One request against a bucket whose TAT is `tat` at time `now`: the new TAT when the request
/// is allowed, and the bucket's state either way.
pub(crate) fn step(tat: u64, now: u64, quota: &Quota) -> (Option<u64>, BucketState) {
    let (interval, tolerance) = (quota.interval_us(), quota.tolerance_us());
    let base = tat.max(now);
    let next = base + interval;
    let ahead = next - now;
    if ahead > tolerance {
        let state = BucketState {
            remaining: 0,
            reset_us: base - now,
            retry_us: ahead - tolerance,
        };
        return (None, state);
    }
    let state = BucketState {
        remaining: (tolerance - ahead) / interval,
        reset_us: ahead,
        retry_us: 0,
    };
    (Some(next), state)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn a_burst_then_the_steady_rate() {
        // 60/min with burst 3: three at once, then one per second.
        let q = Quota::new(60, Duration::from_secs(60), 3).unwrap();
        let (mut tat, now) = (0, 100 * S);
        for left in [2, 1, 0] {
            let (next, state) = step(tat, now, &q);
            tat = next.expect("within the burst");
            assert_eq!(state.remaining, left);
        }
        let (refused, state) = step(tat, now, &q);
        assert_eq!(refused, None);
        assert_eq!(state.retry_us, S, "the next slot is one interval away");
        assert_eq!(state.reset_us, 3 * S);
        let (later, _) = step(tat, now + S, &q);
        assert!(later.is_some(), "one second later one request fits");
        let (_, idle) = step(tat, now + 10 * S, &q);
        assert_eq!(idle.remaining, 2, "an idle bucket refills to the burst");
    }
}
