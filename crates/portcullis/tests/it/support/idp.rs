//! A stand-in identity provider serving RFC 8414 metadata and a JWKS whose keys a test can
//! rotate, and which a test can take offline.

use std::sync::{Arc, Mutex};

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use serde_json::json;

struct IdpState {
    base: String,
    keys: Mutex<Vec<Jwk>>,
    online: Mutex<bool>,
    jwks_fetches: Mutex<u32>,
}

pub struct TestIdp {
    pub base: String,
    state: Arc<IdpState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TestIdp {
    pub async fn start(keys: Vec<Jwk>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(IdpState {
            base: base.clone(),
            keys: Mutex::new(keys),
            online: Mutex::new(true),
            jwks_fetches: Mutex::new(0),
        });
        let app = Router::new()
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks.json", get(jwks))
            .with_state(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            state,
            shutdown: Some(tx),
        }
    }

    pub fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.base)
    }

    pub fn publish(&self, keys: Vec<Jwk>) {
        *self.state.keys.lock().unwrap() = keys;
    }

    /// Makes every endpoint answer 503, as an unreachable issuer would fail.
    pub fn go_offline(&self) {
        *self.state.online.lock().unwrap() = false;
    }

    pub fn jwks_fetches(&self) -> u32 {
        *self.state.jwks_fetches.lock().unwrap()
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn metadata(State(s): State<Arc<IdpState>>) -> Result<Json<serde_json::Value>, StatusCode> {
    if !*s.online.lock().unwrap() {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    Ok(Json(json!({
        "issuer": s.base,
        "jwks_uri": format!("{}/jwks.json", s.base),
        "authorization_endpoint": format!("{}/authorize", s.base),
        "token_endpoint": format!("{}/token", s.base),
        "response_types_supported": ["code"],
    })))
}

async fn jwks(State(s): State<Arc<IdpState>>) -> Result<Json<JwkSet>, StatusCode> {
    if !*s.online.lock().unwrap() {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    *s.jwks_fetches.lock().unwrap() += 1;
    Ok(Json(JwkSet {
        keys: s.keys.lock().unwrap().clone(),
    }))
}
