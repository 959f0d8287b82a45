//! The acting user as the store sees it: a local user id inside one tenant.

use std::{fmt, sync::Arc};

/// A tenant's identifier (an organisation). Single-tenant deployments use [`TenantId::DEFAULT`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub const DEFAULT: &'static str = "default";

    /// Accepts 1..=128 printable characters; anything else is a configuration or token error.
    pub fn parse(raw: &str) -> Result<Self, crate::ValidationError> {
        if raw.is_empty() || raw.len() > 128 || raw.chars().any(char::is_control) {
            return Err(crate::ValidationError::new(
                "tenant",
                "must be 1 to 128 printable characters",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn default_tenant() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A user resolved by [`crate::Store::actor`]. Fields are private: holding an `Actor` proves
/// the user row exists, and every store method filters by both of its ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub(crate) user_id: Arc<str>,
    pub(crate) tenant: TenantId,
}

impl Actor {
    pub fn user_id(&self) -> &str {
        &self.user_id
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }
}
