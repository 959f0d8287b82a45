//! Allowed and refused counts per key class, for the `/metrics` endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::KeyClass;

/// What happened to a request, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Over its budget: 429.
    Limited,
    /// Redis could not answer and the failure mode let it through.
    FailedOpen,
    /// Redis could not answer and the failure mode refused it.
    FailedClosed,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [
        Self::Allowed,
        Self::Limited,
        Self::FailedOpen,
        Self::FailedClosed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Limited => "limited",
            Self::FailedOpen => "failed_open",
            Self::FailedClosed => "failed_closed",
        }
    }
}

#[derive(Default)]
pub struct Metrics {
    counts: [[AtomicU64; 4]; 5],
}

impl Metrics {
    pub(crate) fn count(&self, class: KeyClass, outcome: Outcome) {
        self.counts[class.index()][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Every (class, outcome, count), zeros included, so dashboards see each series from start.
    pub fn snapshot(&self) -> Vec<(KeyClass, Outcome, u64)> {
        KeyClass::ALL
            .iter()
            .flat_map(|&class| {
                Outcome::ALL.iter().map(move |&outcome| {
                    let n = self.counts[class.index()][outcome as usize].load(Ordering::Relaxed);
                    (class, outcome, n)
                })
            })
            .collect()
    }
}
