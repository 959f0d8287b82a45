//! Keeping an upstream's tool list current, for both kinds of upstream.

use std::{future::Future, time::Duration};

use tokio::sync::Notify;

use crate::error::GatewayError;

/// Lists now, then again after `ttl` or when `wake` is notified; after a failure, with backoff
/// (1 s doubling to 30 s). `failing` says in the log what a failure means for the tools.
pub(crate) async fn keep_listing<F, Fut>(
    upstream: &str,
    ttl: Duration,
    wake: &Notify,
    failing: &str,
    mut list: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<usize, GatewayError>>,
{
    let mut delay = Duration::from_secs(1);
    let mut first = true;
    loop {
        let wait = match list().await {
            Ok(tools) => {
                if first {
                    tracing::info!(upstream, tools, "upstream ready");
                }
                delay = Duration::from_secs(1);
                ttl
            }
            Err(error) => {
                tracing::warn!(upstream, %error, "cannot list the upstream's tools; {failing}");
                let wait = delay;
                delay = (delay * 2).min(Duration::from_secs(30));
                wait
            }
        };
        first = false;
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wake.notified() => {}
        }
    }
}
