//! `/health` (the process answers) and `/ready` (the database answers), unauthenticated.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use portcullis_core::Store;
use serde_json::{Value, json};

pub(crate) fn router(store: Store) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(ready))
        .with_state(store)
}

async fn ready(State(store): State<Store>) -> (StatusCode, Json<Value>) {
    if store.ping().await {
        (
            StatusCode::OK,
            Json(json!({ "status": "ready", "database": "ok" })),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not_ready", "database": "unreachable" })),
        )
    }
}
