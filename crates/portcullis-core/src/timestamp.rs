//! Timestamps are stored as fixed-width RFC 3339 UTC text so that SQLite and PostgreSQL sort
//! and compare them the same way.

use chrono::{SecondsFormat, Utc};

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The timestamp `after` from now, in the stored format.
pub fn in_future(after: std::time::Duration) -> String {
    let after = chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
    Utc::now()
        .checked_add_signed(after)
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The timestamp `before` ago, in the stored format.
pub fn in_past(before: std::time::Duration) -> String {
    let before = chrono::Duration::from_std(before).unwrap_or(chrono::Duration::zero());
    (Utc::now() - before).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The timestamp `millis` milliseconds after the Unix epoch, in the stored format.
pub fn from_unix_millis(millis: u64) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(i64::try_from(millis).unwrap_or(i64::MAX))
        .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}
