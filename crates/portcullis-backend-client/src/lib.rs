//! The MCP service's client for the Portcullis REST backend (microservice mode, design
//! document 000): every call carries the service token (`Authorization: Bearer`) and the user
//! it acts for (`X-User-ID`, plus `X-Tenant-ID`), and a request id the backend logs too.
//!
//! - **Deadline**: each call has one overall timeout (default 30 s) that its retries share, so
//!   a caller hears back within it.
//! - **Retries** with exponential backoff and jitter, only where trying again can help: a
//!   connection that failed or dropped, a timeout, a 503, or a 409 saying the first attempt of
//!   an idempotent write is still running. Never on other 4xx/5xx.
//! - **Writes are idempotent**: each write carries an `Idempotency-Key` that all its retries
//!   share, and the backend answers a retry with the first attempt's response, so a retried
//!   `create_task` never creates two tasks.
//! - **Errors an AI can act on** ([`BackendError`]): a kind from a fixed taxonomy, a message,
//!   and details (status, request id). There is no fallback data.

mod error;

use std::time::{Duration, Instant};

use portcullis_core::{
    EntityId, NewTask, NewWorkspace, Task, TaskFilter, TaskPatch, Workspace,
    wire::{
        CreateTaskBody, CreateWorkspaceBody, ErrorBody, OneTask, OneWorkspace, TaskList, TaskQuery,
        UpdateTaskBody, WorkspaceList,
    },
};
use rand::Rng;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

pub use error::{BackendError, ErrorKind};
use portcullis_metrics::{CallLabels, CallOutcome, HttpMethod};

/// Where the backend is and how to talk to it.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub base_url: url::Url,
    pub service_token: SecretString,
    /// Longest a call may take, retries included.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff delay; it doubles per retry (with jitter), up to two seconds.
    pub backoff: Duration,
    /// Where call latencies are recorded.
    pub calls: portcullis_metrics::BackendCalls,
}

impl BackendConfig {
    pub fn new(base_url: url::Url, service_token: SecretString) -> Self {
        Self {
            base_url,
            service_token,
            timeout: Duration::from_secs(30),
            retries: 2,
            backoff: Duration::from_millis(200),
            calls: Default::default(),
        }
    }
}

/// The user a call acts for.
#[derive(Debug, Clone, Copy)]
pub struct OnBehalf<'a> {
    pub user: &'a str,
    pub tenant: Option<&'a str>,
}

const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A pooled HTTP client for one backend. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct BackendClient {
    config: BackendConfig,
    http: reqwest::Client,
}

impl BackendClient {
    /// Whether the backend answers its own `/ready` with 200 within two seconds.
    pub async fn probe(&self) -> Result<(), String> {
        let url = self
            .config
            .base_url
            .join("ready")
            .map_err(|e| e.to_string())?;
        match self
            .http
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("answered HTTP {}", r.status().as_u16())),
            Err(e) if e.is_timeout() => Err("no answer within 2 s".into()),
            Err(e) if e.is_connect() => Err("connection refused".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn new(config: BackendConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()?;
        Ok(Self { config, http })
    }

    pub async fn list_tasks(
        &self,
        who: OnBehalf<'_>,
        filter: &TaskFilter,
    ) -> Result<Vec<Task>, BackendError> {
        let query = TaskQuery::from_filter(filter);
        let list: TaskList = self
            .call(Method::GET, "/tasks", None, who, Some(&query), None)
            .await?;
        Ok(list.tasks)
    }

    pub async fn get_task(&self, who: OnBehalf<'_>, id: &EntityId) -> Result<Task, BackendError> {
        let one: OneTask = self
            .call(Method::GET, "/tasks/{id}", Some(id), who, None, None)
            .await?;
        Ok(one.task)
    }

    pub async fn create_task(
        &self,
        who: OnBehalf<'_>,
        new: &NewTask,
    ) -> Result<Task, BackendError> {
        let body = to_value(&CreateTaskBody::from_new(new));
        let one: OneTask = self
            .call(Method::POST, "/tasks", None, who, None, Some(&body))
            .await?;
        Ok(one.task)
    }

    pub async fn update_task(
        &self,
        who: OnBehalf<'_>,
        id: &EntityId,
        patch: &TaskPatch,
    ) -> Result<Task, BackendError> {
        let body = to_value(&UpdateTaskBody::from_patch(patch));
        let one: OneTask = self
            .call(
                Method::PATCH,
                "/tasks/{id}",
                Some(id),
                who,
                None,
                Some(&body),
            )
            .await?;
        Ok(one.task)
    }

    pub async fn complete_task(
        &self,
        who: OnBehalf<'_>,
        id: &EntityId,
    ) -> Result<Task, BackendError> {
        let one: OneTask = self
            .call(
                Method::POST,
                "/tasks/{id}/complete",
                Some(id),
                who,
                None,
                None,
            )
            .await?;
        Ok(one.task)
    }

    pub async fn delete_task(&self, who: OnBehalf<'_>, id: &EntityId) -> Result<(), BackendError> {
        let _: serde_json::Value = self
            .call(Method::DELETE, "/tasks/{id}", Some(id), who, None, None)
            .await?;
        Ok(())
    }

    pub async fn list_workspaces(&self, who: OnBehalf<'_>) -> Result<Vec<Workspace>, BackendError> {
        let list: WorkspaceList = self
            .call(Method::GET, "/workspaces", None, who, None, None)
            .await?;
        Ok(list.workspaces)
    }

    pub async fn create_workspace(
        &self,
        who: OnBehalf<'_>,
        new: &NewWorkspace,
    ) -> Result<Workspace, BackendError> {
        let body = to_value(&CreateWorkspaceBody::from_new(new));
        let one: OneWorkspace = self
            .call(Method::POST, "/workspaces", None, who, None, Some(&body))
            .await?;
        Ok(one.workspace)
    }

    /// One logical call: attempts until success, a final answer, or the deadline.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        route: &'static str,
        id: Option<&EntityId>,
        who: OnBehalf<'_>,
        query: Option<&TaskQuery>,
        body: Option<&serde_json::Value>,
    ) -> Result<T, BackendError> {
        // The route template with the id filled in, relative to the base URL.
        let path = match id {
            Some(id) => route.replace("{id}", id.as_str()),
            None => route.to_owned(),
        };
        let url = self
            .config
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| BackendError::new(ErrorKind::Backend, format!("bad backend URL: {e}")))?;
        let deadline = Instant::now() + self.config.timeout;
        // The id of the MCP request this call serves, so both sides log the same one.
        let request_id =
            portcullis_metrics::request_id().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let idempotency_key = (method != Method::GET).then(|| uuid::Uuid::new_v4().to_string());
        let mut attempt = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let started = Instant::now();
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .timeout(remaining.max(Duration::from_millis(1)))
                .bearer_auth(self.config.service_token.expose_secret())
                .header("X-User-ID", who.user)
                .header("X-Request-ID", &request_id);
            if let Some(tenant) = who.tenant {
                request = request.header("X-Tenant-ID", tenant);
            }
            if let Some(key) = &idempotency_key {
                request = request.header("Idempotency-Key", key);
            }
            if let Some(query) = query {
                request = request.query(query);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    response.text().await.map(|text| (status, text))
                }
                Err(error) => Err(error),
            };
            let elapsed = started.elapsed();
            let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
            let outcome_label = match &outcome {
                Ok((status, _)) => CallOutcome::Status(status.as_u16()),
                Err(e) if e.is_timeout() => CallOutcome::Timeout,
                Err(_) => CallOutcome::ConnectionError,
            };
            self.config.calls.observe(
                CallLabels {
                    route,
                    method: HttpMethod::of(&method),
                    outcome: outcome_label,
                },
                elapsed,
            );
            let failure = match outcome {
                Ok((status, text)) => {
                    tracing::info!(request_id, method = %method, endpoint = url.path(),
                        status = status.as_u16(), user = who.user, attempt, duration_ms = elapsed_ms,
                        "backend call");
                    if status.is_success() {
                        return serde_json::from_str(&text).map_err(|e| {
                            BackendError::new(
                                ErrorKind::Backend,
                                format!("the backend's answer could not be read ({e})"),
                            )
                            .with_request_id(&request_id)
                        });
                    }
                    let error = BackendError::from_status(status.as_u16(), &text)
                        .with_request_id(&request_id);
                    if !retryable(status, &text) {
                        return Err(error);
                    }
                    error
                }
                Err(error) => {
                    let kind = if error.is_timeout() {
                        ErrorKind::Timeout
                    } else {
                        ErrorKind::Connection
                    };
                    tracing::warn!(request_id, method = %method, endpoint = url.path(),
                        user = who.user, attempt, duration_ms = elapsed_ms, error = %error,
                        "backend call failed");
                    BackendError::transport(kind, self.config.timeout, &error)
                        .with_request_id(&request_id)
                }
            };
            let delay = self.backoff(attempt);
            if attempt >= self.config.retries || Instant::now() + delay >= deadline {
                return Err(failure);
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Exponential backoff with jitter: a random delay in the upper half of `base · 2^attempt`.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .config
            .backoff
            .saturating_mul(1 << attempt.min(16))
            .min(MAX_BACKOFF);
        let half = full / 2;
        half + full
            .saturating_sub(half)
            .mul_f64(rand::rng().random::<f64>())
    }
}

/// Statuses worth trying again: the backend is briefly unavailable, or the first attempt of
/// this very write is still running.
fn retryable(status: StatusCode, body: &str) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE
        || (status == StatusCode::CONFLICT
            && serde_json::from_str::<ErrorBody>(body)
                .is_ok_and(|b| b.error.kind == "idempotency_in_progress"))
}

fn to_value<T: serde::Serialize>(body: &T) -> serde_json::Value {
    serde_json::to_value(body).expect("wire types serialize")
}
