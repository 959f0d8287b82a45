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

mod caller;
mod error;

use std::time::Duration;

use portcullis_core::{
    EntityId, NewTask, NewWorkspace, Task, TaskFilter, TaskPatch, Workspace,
    wire::{
        CreateTaskBody, CreateWorkspaceBody, OneTask, OneWorkspace, TaskList, TaskQuery,
        UpdateTaskBody, WorkspaceList,
    },
};
use reqwest::{
    Method,
    header::{HeaderName, HeaderValue},
};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

pub use caller::{Answer, CallPolicy, Caller, Payload, Request};
pub use error::{BackendError, ErrorKind};

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

/// A pooled HTTP client for one backend. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct BackendClient {
    config: BackendConfig,
    caller: Caller,
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
            .caller
            .http()
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
        let caller = Caller::new(CallPolicy {
            timeout: config.timeout,
            retries: config.retries,
            backoff: config.backoff,
            calls: config.calls.clone(),
        })?;
        Ok(Self { config, caller })
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

    /// One call to the task backend: its service token and the user it acts for.
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
        let mut url = self
            .config
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| BackendError::new(ErrorKind::Backend, format!("bad backend URL: {e}")))?;
        if let Some(query) = query {
            let serde_json::Value::Object(fields) = to_value(query) else {
                unreachable!("a query is a struct")
            };
            let mut pairs = url.query_pairs_mut();
            for (key, value) in fields {
                match value {
                    serde_json::Value::String(s) => pairs.append_pair(&key, &s),
                    other => pairs.append_pair(&key, &other.to_string()),
                };
            }
        }
        let mut headers = vec![header("x-user-id", who.user)?];
        if let Some(tenant) = who.tenant {
            headers.push(header("x-tenant-id", tenant)?);
        }
        let answer = self
            .caller
            .send(Request {
                method,
                url,
                route,
                bearer: Some(self.config.service_token.expose_secret()),
                headers,
                body: body.map(Payload::Json),
                user: who.user,
            })
            .await?;
        answer.json()
    }
}

fn header(name: &'static str, value: &str) -> Result<(HeaderName, HeaderValue), BackendError> {
    let value = HeaderValue::from_str(value).map_err(|_| {
        BackendError::new(
            ErrorKind::Validation,
            format!("{name} cannot be sent in a header (it is not printable ASCII)"),
        )
    })?;
    Ok((HeaderName::from_static(name), value))
}

fn to_value<T: serde::Serialize>(body: &T) -> serde_json::Value {
    serde_json::to_value(body).expect("wire types serialize")
}
