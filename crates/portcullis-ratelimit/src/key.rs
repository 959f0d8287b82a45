//! What a budget belongs to: a class of caller, an identity within it, and optionally a tool
//! or tool group with its own budget.

use std::fmt::Write;

/// The kind of caller a bucket counts; metrics are kept per class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyClass {
    /// A user, whether signed in with OAuth or acted for by a trusted API key.
    User,
    /// An OAuth client, across all the users it acts for (or itself, with client credentials).
    Client,
    /// An API key acting for itself.
    ApiKey,
    /// Everyone in a tenant together.
    Tenant,
    /// An unauthenticated network address.
    Ip,
}

impl KeyClass {
    pub const ALL: [KeyClass; 5] = [
        Self::User,
        Self::Client,
        Self::ApiKey,
        Self::Tenant,
        Self::Ip,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
            Self::ApiKey => "api_key",
            Self::Tenant => "tenant",
            Self::Ip => "ip",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One budget's identity. `scope` is empty for the default budget, else the tool or group that
/// has its own; `tenant` keeps equal subjects of different tenants apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BucketKey<'a> {
    pub class: KeyClass,
    pub scope: &'a str,
    pub tenant: &'a str,
    pub id: &'a str,
}

impl BucketKey<'_> {
    /// The Redis key. Lengths make it unambiguous whatever `tenant` and `id` contain.
    pub(crate) fn redis_key(&self, prefix: &str) -> String {
        let mut key = String::with_capacity(prefix.len() + 32 + self.tenant.len() + self.id.len());
        let _ = write!(
            key,
            "{prefix}rl:{}:{}:{}:{}:{}",
            self.class.as_str(),
            self.scope,
            self.tenant.len(),
            self.tenant,
            self.id
        );
        key
    }
}

/// A bucket to check: whose budget, and how large it is.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    pub key: BucketKey<'a>,
    pub quota: crate::Quota,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_keys_cannot_collide_through_separators() {
        let key = |tenant, id| BucketKey {
            class: KeyClass::User,
            scope: "",
            tenant,
            id,
        };
        assert_ne!(
            key("a:b", "c").redis_key("p:"),
            key("a", "b:c").redis_key("p:")
        );
        assert_eq!(key("t", "alice").redis_key("p:"), "p:rl:user::1:t:alice");
    }
}
