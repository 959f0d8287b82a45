//! `/health` (the process answers) and `/ready` (what it depends on answers), unauthenticated.
//!
//! `/ready` checks every dependency at once, each within two seconds, and reports each: the
//! database always, Redis when rate-limit budgets are shared through it, the REST backend in
//! microservice mode, and each upstream MCP server in gateway mode (reported, never required:
//! one upstream being down must not take a replica out of rotation). It answers 503 when a required one is down; an optional one that is down
//! (Redis with a failure mode that keeps serving) is reported without failing readiness.

use std::{borrow::Cow, future::Future, pin::Pin, sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use portcullis_core::Store;
use serde_json::{Map, Value, json};

/// How long one dependency may take to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

type Probe =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Something the server needs to do its work.
#[derive(Clone)]
pub struct Dependency {
    /// `database`, `redis`, `backend`, or `upstream:<name>`.
    pub name: Cow<'static, str>,
    /// Down means not ready (else: reported, but still ready).
    pub required: bool,
    probe: Probe,
}

impl std::fmt::Debug for Dependency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dependency")
            .field("name", &self.name)
            .field("required", &self.required)
            .finish_non_exhaustive()
    }
}

impl Dependency {
    pub fn new<F, Fut>(name: impl Into<Cow<'static, str>>, required: bool, probe: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self {
            name: name.into(),
            required,
            probe: Arc::new(move || Box::pin(probe())),
        }
    }

    pub fn database(store: Store) -> Self {
        Self::new("database", true, move || {
            let store = store.clone();
            async move {
                if store.ping().await {
                    Ok(())
                } else {
                    Err("does not answer".into())
                }
            }
        })
    }

    async fn check(&self) -> Result<(), String> {
        match tokio::time::timeout(PROBE_TIMEOUT, (self.probe)()).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
        }
    }
}

pub fn router(dependencies: Vec<Dependency>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(ready))
        .with_state(Arc::new(dependencies))
}

async fn ready(State(dependencies): State<Arc<Vec<Dependency>>>) -> (StatusCode, Json<Value>) {
    let results = futures::future::join_all(dependencies.iter().map(Dependency::check)).await;
    let mut ready = true;
    let mut body = Map::new();
    let mut checks = Map::new();
    for (dependency, result) in dependencies.iter().zip(results) {
        let state = match &result {
            Ok(()) => json!({ "status": "ok", "required": dependency.required }),
            Err(why) => {
                ready &= !dependency.required;
                json!({ "status": "unreachable", "error": why, "required": dependency.required })
            }
        };
        // The flat `"database": "ok"` form of earlier versions stays for existing probes.
        if dependency.name == "database" {
            body.insert(
                "database".into(),
                Value::from(if result.is_ok() { "ok" } else { "unreachable" }),
            );
        }
        checks.insert(dependency.name.to_string(), state);
    }
    body.insert(
        "status".into(),
        Value::from(if ready { "ready" } else { "not_ready" }),
    );
    body.insert("checks".into(), Value::Object(checks));
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(Value::Object(body)))
}
