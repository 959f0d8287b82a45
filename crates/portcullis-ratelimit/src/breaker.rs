//! A circuit breaker in front of Redis: after a few consecutive failures stop asking for a
//! while, then let one request probe. While it is open every check takes the configured
//! failure path at once instead of waiting out a timeout per request.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Consecutive failures that open the breaker.
const THRESHOLD: u32 = 3;

pub(crate) struct Breaker {
    failures: AtomicU32,
    /// 0 while closed; else when the next probe may go (microseconds on the limiter's clock).
    open_until: AtomicU64,
    probing: AtomicBool,
    cooldown_us: u64,
}

/// Whether a request may use Redis.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    Go,
    /// Open: try again in this many microseconds.
    Skip(u64),
}

impl Breaker {
    pub(crate) fn new(cooldown_us: u64) -> Self {
        Self {
            failures: AtomicU32::new(0),
            open_until: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            cooldown_us,
        }
    }

    pub(crate) fn admit(&self, now: u64) -> Admit {
        let until = self.open_until.load(Ordering::Acquire);
        if until == 0 {
            return Admit::Go;
        }
        if now < until {
            return Admit::Skip(until - now);
        }
        // Half-open: exactly one request probes; the rest keep failing fast.
        match self
            .probing
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Admit::Go,
            Err(_) => Admit::Skip(self.cooldown_us),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open_until.load(Ordering::Acquire) != 0
    }

    pub(crate) fn succeeded(&self) {
        self.failures.store(0, Ordering::Release);
        self.open_until.store(0, Ordering::Release);
        self.probing.store(false, Ordering::Release);
    }

    /// Records a failure; true when this one opened the breaker.
    pub(crate) fn failed(&self, now: u64) -> bool {
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        let was_probe = self.probing.swap(false, Ordering::AcqRel);
        if was_probe || failures >= THRESHOLD {
            let opened = self
                .open_until
                .swap(now + self.cooldown_us, Ordering::AcqRel)
                == 0;
            return opened;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_and_probes_once_after_the_cooldown() {
        let b = Breaker::new(1000);
        assert!(!b.failed(0) && !b.failed(1));
        assert!(b.failed(2), "the third failure opens it");
        assert_eq!(b.admit(500), Admit::Skip(502));
        assert_eq!(b.admit(1002), Admit::Go, "one probe after the cooldown");
        assert_eq!(b.admit(1003), Admit::Skip(1000), "only one");
        assert!(!b.failed(1004), "a failed probe re-opens (already open)");
        assert_eq!(b.admit(1005), Admit::Skip(999));
        assert_eq!(b.admit(2004), Admit::Go);
        b.succeeded();
        assert_eq!(b.admit(2005), Admit::Go);
        assert!(!b.is_open());
    }
}
