//! An upstream call's notifications, sent on to the client that made the call.
#![allow(deprecated)] // log messages: deprecated in 2026-07-28 (SEP-2577), used by 2025 clients

use std::{sync::Arc, time::Duration};

use portcullis_gateway::{Relay, Relayed};
use rmcp::{
    RoleServer,
    model::{LoggingMessageNotificationParam, ProgressNotificationParam, ProgressToken},
    service::{Peer, RequestContext},
};

/// A client that is not reading its stream must not hold up the upstream connection.
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) struct ClientRelay {
    peer: Peer<RoleServer>,
    /// The client's own token for this call's progress.
    token: ProgressToken,
}

impl ClientRelay {
    /// A relay for the request in `context`, when its client asked for progress (a
    /// `progressToken` in `_meta`): only then is the answer a stream that can carry
    /// notifications (see `portcullis-http`'s routing of such calls).
    pub(crate) fn for_request(context: &RequestContext<RoleServer>) -> Option<Arc<dyn Relay>> {
        let token = context.meta.get_progress_token()?;
        Some(Arc::new(Self {
            peer: context.peer.clone(),
            token,
        }))
    }
}

impl Relay for ClientRelay {
    fn progress(&self, mut params: ProgressNotificationParam) -> Relayed {
        params.progress_token = self.token.clone();
        let peer = self.peer.clone();
        Box::pin(async move {
            let _ = tokio::time::timeout(SEND_TIMEOUT, peer.notify_progress(params)).await;
        })
    }

    fn log(&self, params: LoggingMessageNotificationParam) -> Relayed {
        let peer = self.peer.clone();
        Box::pin(async move {
            let _ = tokio::time::timeout(SEND_TIMEOUT, peer.notify_logging_message(params)).await;
        })
    }
}
