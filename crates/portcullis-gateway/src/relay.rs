//! Notifications an upstream sends while a call runs (progress, log messages), relayed to the
//! client whose call it is, and never to anyone else. (Log messages are deprecated in
//! 2026-07-28, SEP-2577, but 2025-era servers and clients still send and show them.)
#![allow(deprecated)]

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
};

use rmcp::model::{LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken};

pub type Relayed = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where one upstream call's notifications go: the client request that made the call.
pub trait Relay: Send + Sync {
    /// `params` still carry the progress token Portcullis sent upstream; the relay puts the
    /// client's own in its place.
    fn progress(&self, params: ProgressNotificationParam) -> Relayed;
    fn log(&self, params: LoggingMessageNotificationParam) -> Relayed;
}

/// The calls in flight on one upstream connection that want notifications, by the progress
/// token Portcullis sent with each. An entry lives as long as its call.
#[derive(Clone, Default)]
pub(crate) struct Listeners {
    calls: Arc<Mutex<HashMap<ProgressToken, Arc<dyn Relay>>>>,
}

/// Removes a call's entry when the call ends, however it ends.
pub(crate) struct Listening {
    listeners: Listeners,
    token: ProgressToken,
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.listeners.lock().remove(&self.token);
    }
}

impl Listeners {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProgressToken, Arc<dyn Relay>>> {
        self.calls.lock().expect("listeners")
    }

    pub(crate) fn listen(&self, token: ProgressToken, relay: Arc<dyn Relay>) -> Listening {
        self.lock().insert(token.clone(), relay);
        Listening {
            listeners: self.clone(),
            token,
        }
    }

    /// The call a progress notification belongs to.
    pub(crate) fn by_token(&self, token: &ProgressToken) -> Option<Arc<dyn Relay>> {
        self.lock().get(token).cloned()
    }

    /// Every listening call: a log message names no request, so on a connection that serves
    /// one user it goes to each of that user's calls in flight.
    pub(crate) fn all(&self) -> Vec<Arc<dyn Relay>> {
        self.lock().values().cloned().collect()
    }
}
