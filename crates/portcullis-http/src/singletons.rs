//! RFC 9112 §3.2: a request with more than one `Host` MUST be refused with 400; a repeated
//! `Origin` is refused too, since the checks behind this layer read only one of each.

use axum::{
    extract::Request,
    http::{
        StatusCode,
        header::{HOST, ORIGIN},
    },
    middleware::Next,
    response::{IntoResponse, Response},
};

pub(crate) async fn refuse_repeated(request: Request, next: Next) -> Response {
    let repeated = [(HOST, "Host"), (ORIGIN, "Origin")]
        .into_iter()
        .find(|(name, _)| request.headers().get_all(name).iter().nth(1).is_some());
    match repeated {
        Some((_, header)) => (
            StatusCode::BAD_REQUEST,
            format!("Bad Request: the {header} header must be sent once\n"),
        )
            .into_response(),
        None => next.run(request).await,
    }
}
