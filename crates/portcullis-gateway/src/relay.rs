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

/// One call's relay, with the last progress it passed on. rmcp hands each notification from
/// the upstream to a task of its own, so they can reach us out of order; a client must only
/// ever see progress increase (MCP "Progress": the value MUST increase with each notification),
/// so a stale one is dropped, and sends happen one at a time, in the order they were checked.
pub(crate) struct Listener {
    relay: Arc<dyn Relay>,
    last_progress: tokio::sync::Mutex<Option<f64>>,
}

impl Listener {
    pub(crate) async fn progress(&self, params: ProgressNotificationParam) {
        let mut last = self.last_progress.lock().await;
        if last.is_some_and(|last| params.progress <= last) {
            return;
        }
        *last = Some(params.progress);
        // Sent while holding the lock: a later one cannot overtake it.
        self.relay.progress(params).await;
    }

    pub(crate) async fn log(&self, params: LoggingMessageNotificationParam) {
        self.relay.log(params).await;
    }
}

/// The calls in flight on one upstream connection that want notifications, by the progress
/// token Portcullis sent with each. An entry lives as long as its call.
#[derive(Clone, Default)]
pub(crate) struct Listeners {
    calls: Arc<Mutex<HashMap<ProgressToken, Arc<Listener>>>>,
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
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ProgressToken, Arc<Listener>>> {
        self.calls.lock().expect("listeners")
    }

    pub(crate) fn listen(&self, token: ProgressToken, relay: Arc<dyn Relay>) -> Listening {
        let listener = Arc::new(Listener {
            relay,
            last_progress: tokio::sync::Mutex::new(None),
        });
        self.lock().insert(token.clone(), listener);
        Listening {
            listeners: self.clone(),
            token,
        }
    }

    /// The call a progress notification belongs to.
    pub(crate) fn by_token(&self, token: &ProgressToken) -> Option<Arc<Listener>> {
        self.lock().get(token).cloned()
    }

    /// Every listening call: a log message names no request, so on a connection that serves
    /// one user it goes to each of that user's calls in flight.
    pub(crate) fn all(&self) -> Vec<Arc<Listener>> {
        self.lock().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen(Mutex<Vec<f64>>);

    impl Relay for Seen {
        fn progress(&self, params: ProgressNotificationParam) -> Relayed {
            self.0.lock().unwrap().push(params.progress);
            Box::pin(async {})
        }
        fn log(&self, _: LoggingMessageNotificationParam) -> Relayed {
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn progress_reaches_the_client_only_increasing() {
        let seen = Arc::new(Seen::default());
        let listeners = Listeners::default();
        let token = ProgressToken(rmcp::model::NumberOrString::Number(1));
        let _listening = listeners.listen(token.clone(), seen.clone());
        let call = listeners.by_token(&token).unwrap();
        for progress in [1.0, 3.0, 2.0, 3.0, 4.0] {
            call.progress(ProgressNotificationParam::new(token.clone(), progress))
                .await;
        }
        assert_eq!(*seen.0.lock().unwrap(), [1.0, 3.0, 4.0]);
    }
}
