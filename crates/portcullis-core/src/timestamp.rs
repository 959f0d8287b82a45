//! Timestamps are stored as fixed-width RFC 3339 UTC text so that SQLite and PostgreSQL sort
//! and compare them the same way.

use chrono::{SecondsFormat, Utc};

pub(crate) fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}
