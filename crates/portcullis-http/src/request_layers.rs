//! Every request, on every listener: its id (`request_id`), a tracing span carrying it
//! (tower-http's `TraceLayer`), the metrics and log line (`request_context`), the time limit
//! (`request_timeout`) and the header checks (`singletons`).

use axum::{
    Router,
    middleware::{from_fn, from_fn_with_state},
};
use tower_http::{
    request_id::{PropagateRequestIdLayer, SetRequestIdLayer},
    trace::TraceLayer,
};

use crate::{
    request_context::{RequestLog, observe},
    request_id::REQUEST_ID,
};

/// `router` with every per-request layer, outermost last: the id is made first, so the span,
/// the metrics, the log line and the time limit all see it.
pub fn layers(router: Router, log: RequestLog) -> Router {
    let timeout = log.timeout;
    router
        .layer(from_fn(crate::singletons::refuse_repeated))
        .layer(from_fn_with_state(timeout, crate::request_timeout::limit))
        .layer(from_fn_with_state(log, observe))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    tracing::info_span!("request", request_id = %crate::request_id::of(request))
                })
                .on_request(())
                .on_response(())
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, crate::request_id::NewIds))
        .layer(from_fn(crate::request_id::drop_unusable))
}
