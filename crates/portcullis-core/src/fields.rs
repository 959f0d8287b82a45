//! Validated domain values. Each `parse` is the one place its rule lives; once a value has
//! one of these types it is known to be acceptable to store.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::ValidationError;

fn bounded_text(
    field: &'static str,
    raw: &str,
    max_chars: usize,
    allow_empty: bool,
) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() && !allow_empty {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    let chars = trimmed.chars().count();
    if chars > max_chars {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max_chars} characters (got {chars})"),
        ));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $allow_empty:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const MAX_CHARS: usize = $max;

            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                bounded_text($field, raw, $max, $allow_empty).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_value!(
    /// A task title: 1 to 200 characters after trimming.
    TaskTitle, "title", 200, false
);
text_value!(
    /// A workspace name: 1 to 100 characters after trimming.
    WorkspaceName, "name", 100, false
);
text_value!(
    /// Free text describing a task or workspace: at most 5000 characters.
    Description, "description", 5000, true
);

/// Where a task stands. `done` tasks carry `completed_at`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Todo,
    InProgress,
    Done,
}

impl TaskStatus {
    pub const ALL: [&'static str; 3] = ["todo", "in_progress", "done"];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Todo => "todo",
            Self::InProgress => "in_progress",
            Self::Done => "done",
        }
    }
}

impl FromStr for TaskStatus {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "todo" => Ok(Self::Todo),
            "in_progress" => Ok(Self::InProgress),
            "done" => Ok(Self::Done),
            other => Err(ValidationError::new(
                "status",
                format!("unknown status {other:?}; use one of todo, in_progress, done"),
            )),
        }
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The id of a task or workspace: a UUID, kept in its canonical hyphenated lower-case form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct EntityId(String);

impl EntityId {
    pub(crate) fn generate() -> Self {
        Self(uuid::Uuid::now_v7().hyphenated().to_string())
    }

    /// `field` names the argument in the error (`task_id`, `workspace_id`).
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        uuid::Uuid::parse_str(raw.trim())
            .map(|id| Self(id.hyphenated().to_string()))
            .map_err(|_| ValidationError::new(field, format!("{raw:?} is not a valid id (a UUID)")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How many rows a list returns: 1..=500, default 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub const MAX: u32 = 500;

    pub fn parse(raw: Option<i64>) -> Result<Self, ValidationError> {
        match raw {
            None => Ok(Self::default()),
            Some(n) if (1..=i64::from(Self::MAX)).contains(&n) => Ok(Self(n as u32)),
            Some(n) => Err(ValidationError::new(
                "limit",
                format!("must be between 1 and {} (got {n})", Self::MAX),
            )),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(
            TaskTitle::parse("  Buy milk ").unwrap().as_str(),
            "Buy milk"
        );
        assert_eq!(TaskTitle::parse("   ").unwrap_err().field, "title");
        assert!(TaskTitle::parse(&"x".repeat(200)).is_ok());
        assert!(TaskTitle::parse(&"x".repeat(201)).is_err());
        assert!(TaskTitle::parse("a\u{0}b").is_err());
    }

    #[test]
    fn ids_must_be_uuids() {
        let id = EntityId::parse("task_id", "0190B8C4-0000-7000-8000-000000000000").unwrap();
        assert_eq!(id.as_str(), "0190b8c4-0000-7000-8000-000000000000");
        assert_eq!(
            EntityId::parse("task_id", "42").unwrap_err().field,
            "task_id"
        );
    }

    #[test]
    fn statuses_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.parse::<TaskStatus>().unwrap().as_str(), s);
        }
        assert!("finished".parse::<TaskStatus>().is_err());
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(Limit::parse(None).unwrap().get(), 100);
        assert!(Limit::parse(Some(0)).is_err());
        assert!(Limit::parse(Some(501)).is_err());
    }
}
