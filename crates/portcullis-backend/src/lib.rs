//! `portcullis backend`: the task domain as a REST API for other services (microservice mode,
//! design document 000). Every route authenticates with a user's bearer token or with a service
//! token plus `X-User-ID` ([`auth`]); writes honour `Idempotency-Key` ([`idempotency`]); every
//! request is logged once with its request id ([`portcullis_http::request_layers`]).

mod auth;
mod contract;
mod error;
mod handlers;
mod idempotency;
mod openapi;

use std::sync::Arc;

use axum::{
    Router,
    middleware::from_fn_with_state,
    routing::{get, post},
};
use portcullis_auth::{ResourceServer, ServiceTokens};
use portcullis_core::Store;

use portcullis_http::RequestLog;

pub use error::ApiError;

/// What the backend needs beyond the store and the resource server.
#[derive(Debug, Clone)]
pub struct BackendSettings {
    /// Tokens accepted from services acting for a user (`SERVICE_AUTH_TOKEN`).
    pub service_tokens: ServiceTokens,
    /// Guards `/api/internal/*` (`INTERNAL_API_KEY`); those routes answer 401 when unset.
    pub internal_api_key: Option<ServiceTokens>,
    pub max_body_bytes: usize,
    /// Longest a write may take before it is answered 503.
    pub request_timeout: Option<std::time::Duration>,
    pub metrics: Arc<portcullis_metrics::Metrics>,
}

/// The backend's router.
pub fn backend_app(store: Store, rs: Arc<ResourceServer>, settings: BackendSettings) -> Router {
    let authenticator = Arc::new(auth::Authenticator {
        resource_server: rs,
        service_tokens: settings.service_tokens.clone(),
    });
    let api = Router::new()
        .route(
            "/tasks",
            get(handlers::list_tasks).post(handlers::create_task),
        )
        .route(
            "/tasks/{id}",
            get(handlers::get_task)
                .patch(handlers::update_task)
                .delete(handlers::delete_task),
        )
        .route("/tasks/{id}/complete", post(handlers::complete_task))
        .route(
            "/workspaces",
            get(handlers::list_workspaces).post(handlers::create_workspace),
        )
        .route_layer(from_fn_with_state(
            idempotency::Replays {
                store: store.clone(),
                max_body_bytes: settings.max_body_bytes,
            },
            idempotency::replay,
        ))
        .route_layer(from_fn_with_state(authenticator, auth::authenticate))
        .with_state(store.clone());
    let internal = Router::new()
        .route("/api/internal/users/{id}", get(handlers::internal_user))
        .with_state(handlers::Internal {
            store: store.clone(),
            key: settings.internal_api_key.clone(),
        });
    let router = Router::new()
        .merge(api)
        .merge(internal)
        .route("/openapi.json", get(openapi::document))
        .merge(portcullis_http::health_router(vec![
            portcullis_http::Dependency::database(store.clone()),
        ]))
        .layer(axum::extract::DefaultBodyLimit::max(
            settings.max_body_bytes,
        ));
    portcullis_http::request_layers(
        router,
        RequestLog {
            enabled: true,
            message: "backend request",
            timeout: settings.request_timeout,
            metrics: settings.metrics.clone(),
        },
    )
}
