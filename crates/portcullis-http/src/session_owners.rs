//! Who opened each legacy `Mcp-Session-Id` session (transports page: session ids SHOULD be
//! bound to user-specific information; a server MUST NOT use sessions for authentication).
//!
//! Every request is authenticated on its own; on top of that a request naming a session must
//! come from the principal that opened it, or it is answered 404 like an unknown session. So
//! knowing another user's session id is not enough to post into it, read its stream or end it.
//! The table is bounded: when full, the oldest binding goes, and its session stops working
//! (fail closed) rather than becoming anyone's.

use std::{
    collections::{HashMap, VecDeque},
    sync::Mutex,
};

use portcullis_auth::Principal;

/// Most sessions remembered at once.
const MAX_SESSIONS: usize = 10_000;

/// The part of a principal a session is bound to: who, in which tenant, by which method
/// (not the token itself, which refreshes).
pub(crate) fn owner_of(principal: &Principal) -> String {
    format!(
        "{}\u{0}{}\u{0}{}",
        principal.method.as_str(),
        principal.tenant.as_deref().unwrap_or_default(),
        principal.subject
    )
}

#[derive(Default)]
pub(crate) struct SessionOwners {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    owners: HashMap<String, String>,
    order: VecDeque<String>,
}

impl SessionOwners {
    pub(crate) fn bind(&self, session: &str, owner: String) {
        let mut table = self.inner.lock().expect("session table poisoned");
        while table.owners.len() >= MAX_SESSIONS {
            let Some(oldest) = table.order.pop_front() else {
                break;
            };
            table.owners.remove(&oldest);
        }
        if table.owners.insert(session.to_owned(), owner).is_none() {
            table.order.push_back(session.to_owned());
        }
    }

    /// True when `owner` opened `session`.
    pub(crate) fn is_owner(&self, session: &str, owner: &str) -> bool {
        let table = self.inner.lock().expect("session table poisoned");
        table.owners.get(session).is_some_and(|o| o == owner)
    }

    pub(crate) fn forget(&self, session: &str) {
        let mut table = self.inner.lock().expect("session table poisoned");
        if table.owners.remove(session).is_some() {
            table.order.retain(|s| s != session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_answer_only_their_owner_and_the_table_is_bounded() {
        let owners = SessionOwners::default();
        owners.bind("s1", "alice".into());
        assert!(owners.is_owner("s1", "alice"));
        assert!(!owners.is_owner("s1", "bob"));
        assert!(!owners.is_owner("s2", "alice"));
        for i in 0..MAX_SESSIONS {
            owners.bind(&format!("x{i}"), "carol".into());
        }
        assert!(!owners.is_owner("s1", "alice"), "the oldest binding went");
        owners.forget("x5");
        assert!(!owners.is_owner("x5", "carol"));
    }
}
