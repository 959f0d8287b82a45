//! A quota: "N per period with burst B", validated once so the limiter never sees a bad one.

use std::{fmt, time::Duration};

/// Longest period a quota may have; longer windows belong in billing, not in a limiter.
const MAX_PERIOD: Duration = Duration::from_secs(86_400);
const MAX_BURST: u32 = 1_000_000;

/// `count` requests per `period`, of which up to `burst` may come at once.
///
/// As a GCRA: one request is "emitted" every `period / count`, and a caller may run ahead of
/// that schedule by `burst` emissions. A caller idle long enough has `burst` requests in hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    count: u32,
    period: Duration,
    burst: u32,
}

/// Why a quota cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("{0:?} is not a rate; write N/UNIT such as 100/min, 10/s, 5000/h or 50/10s, or off")]
    Syntax(String),
    #[error("the count must be at least 1")]
    ZeroCount,
    #[error("the period must be 1 second to 1 day")]
    Period,
    #[error("the burst must be 1 to {MAX_BURST}")]
    Burst,
}

impl Quota {
    pub fn new(count: u32, period: Duration, burst: u32) -> Result<Self, QuotaError> {
        if count == 0 {
            return Err(QuotaError::ZeroCount);
        }
        if period < Duration::from_secs(1) || period > MAX_PERIOD {
            return Err(QuotaError::Period);
        }
        if burst == 0 || burst > MAX_BURST {
            return Err(QuotaError::Burst);
        }
        Ok(Self {
            count,
            period,
            burst,
        })
    }

    /// Parses `N/UNIT` (`100/min`, `10/s`, `5000/h`, `1000/d`, `50/10s`); `off` (or `none`,
    /// `unlimited`) gives `None`. Without `burst` a whole period's count may come at once.
    pub fn parse(rate: &str, burst: Option<u32>) -> Result<Option<Self>, QuotaError> {
        let rate = rate.trim();
        if matches!(rate, "off" | "none" | "unlimited") {
            return Ok(None);
        }
        let syntax = || QuotaError::Syntax(rate.to_owned());
        let (count, unit) = rate.split_once('/').ok_or_else(syntax)?;
        let count: u32 = count.trim().parse().map_err(|_| syntax())?;
        let unit = unit.trim();
        let digits = unit.len() - unit.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (multiple, unit) = unit.split_at(digits);
        let multiple: u64 = if multiple.is_empty() {
            1
        } else {
            multiple.parse().map_err(|_| syntax())?
        };
        let seconds = match unit {
            "s" | "sec" | "second" | "seconds" => 1,
            "m" | "min" | "minute" | "minutes" => 60,
            "h" | "hour" | "hours" => 3600,
            "d" | "day" | "days" => 86_400,
            _ => return Err(syntax()),
        };
        let period = Duration::from_secs(multiple.checked_mul(seconds).ok_or_else(syntax)?);
        Self::new(count, period, burst.unwrap_or(count)).map(Some)
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn period(&self) -> Duration {
        self.period
    }

    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Microseconds between two requests at the steady rate (at least 1).
    pub fn interval_us(&self) -> u64 {
        (self.period.as_micros() as u64 / u64::from(self.count)).max(1)
    }

    /// How far ahead of the steady schedule a caller may run, in microseconds.
    pub fn tolerance_us(&self) -> u64 {
        self.interval_us() * u64::from(self.burst)
    }
}

impl Quota {
    /// The rate as [`Quota::parse`] reads it (`100/min`, `50/10s`), without the burst.
    pub fn rate_text(&self) -> String {
        let unit = match self.period.as_secs() {
            1 => "s".to_owned(),
            60 => "min".to_owned(),
            3600 => "h".to_owned(),
            86_400 => "d".to_owned(),
            n => format!("{n}s"),
        };
        format!("{}/{unit}", self.count)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (burst {})", self.rate_text(), self.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let q = Quota::parse("100/min", Some(20)).unwrap().unwrap();
        assert_eq!(
            (q.count(), q.period(), q.burst()),
            (100, Duration::from_secs(60), 20)
        );
        assert_eq!(q.interval_us(), 600_000);
        assert_eq!(q.tolerance_us(), 12_000_000);
        let q = Quota::parse("50/10s", None).unwrap().unwrap();
        assert_eq!(
            (q.count(), q.period(), q.burst()),
            (50, Duration::from_secs(10), 50)
        );
        assert_eq!(
            Quota::parse(" 5 / h ", None)
                .unwrap()
                .unwrap()
                .period()
                .as_secs(),
            3600
        );
        assert_eq!(Quota::parse("off", None).unwrap(), None);
        assert_eq!(q.to_string(), "50/10s (burst 50)");
    }

    #[test]
    fn refuses_what_cannot_be_enforced() {
        for bad in [
            "100",
            "100/fortnight",
            "x/min",
            "100/0s",
            "0/min",
            "1/2d",
            "-1/s",
            "",
        ] {
            assert!(Quota::parse(bad, None).is_err(), "{bad} parsed");
        }
        assert_eq!(Quota::parse("1/s", Some(0)), Err(QuotaError::Burst));
    }
}
