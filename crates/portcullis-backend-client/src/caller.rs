//! One logical HTTP call to a backend, done right: one deadline its attempts share, retries with
//! backoff and jitter only where trying again can help, an `Idempotency-Key` on every write
//! (shared by its retries), the request id passed on, pooled connections, and a cap on what is
//! read back. Used by the task backend's client and by the gateway's OpenAPI upstreams.

use std::time::{Duration, Instant};

use portcullis_core::wire::ErrorBody;
use portcullis_metrics::{CallLabels, CallOutcome, HttpMethod};
use rand::Rng;
use reqwest::{
    Method, StatusCode,
    header::{HeaderName, HeaderValue},
};
use serde::de::DeserializeOwned;

use crate::error::{BackendError, ErrorKind};

const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The largest answer read from a backend.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Deadline, retries and where latencies are recorded.
#[derive(Debug, Clone)]
pub struct CallPolicy {
    /// Longest a call may take, retries included.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: u32,
    /// First backoff delay; it doubles per retry (with jitter), up to two seconds.
    pub backoff: Duration,
    pub calls: portcullis_metrics::BackendCalls,
}

/// One request, as the caller's attempts send it.
pub struct Request<'a> {
    pub method: Method,
    /// With its query already set.
    pub url: url::Url,
    /// The metrics label: a route template or an upstream name, never a raw path.
    pub route: &'static str,
    /// `Authorization: Bearer` (never logged).
    pub bearer: Option<&'a str>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Option<Payload<'a>>,
    /// Who the call acts for, for the log.
    pub user: &'a str,
}

/// A request body.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Json(&'a serde_json::Value),
    /// `application/x-www-form-urlencoded`.
    Form(&'a [(String, String)]),
}

/// A successful (2xx) answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub text: String,
    pub request_id: String,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, BackendError> {
        serde_json::from_str(&self.text).map_err(|e| {
            BackendError::new(
                ErrorKind::Backend,
                format!("the backend's answer could not be read ({e})"),
            )
            .with_request_id(&self.request_id)
        })
    }
}

/// A pooled HTTP client with a call policy. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Caller {
    policy: CallPolicy,
    http: reqwest::Client,
}

/// What one attempt read: status, headers that matter, body.
struct Read {
    status: StatusCode,
    content_type: Option<String>,
    retry_after: Option<u64>,
    text: String,
}

impl Caller {
    pub fn new(policy: CallPolicy) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(policy.timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(60))
            // A redirect would carry the service credentials somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self { policy, http })
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    /// Attempts until a 2xx, a final answer, or the deadline.
    pub async fn send(&self, request: Request<'_>) -> Result<Answer, BackendError> {
        let Request {
            method,
            url,
            route,
            bearer,
            headers,
            body,
            user,
        } = request;
        let deadline = Instant::now() + self.policy.timeout;
        // The id of the MCP request this call serves, so both sides log the same one.
        let request_id =
            portcullis_metrics::request_id().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let idempotency_key = (!matches!(method, Method::GET | Method::HEAD))
            .then(|| uuid::Uuid::new_v4().to_string());
        let mut attempt = 0;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let started = Instant::now();
            let mut builder = self
                .http
                .request(method.clone(), url.clone())
                .timeout(remaining.max(Duration::from_millis(1)))
                .header("X-Request-ID", &request_id);
            if let Some(token) = bearer {
                builder = builder.bearer_auth(token);
            }
            for (name, value) in &headers {
                builder = builder.header(name, value);
            }
            if let Some(key) = &idempotency_key {
                builder = builder.header("Idempotency-Key", key);
            }
            builder = match body {
                Some(Payload::Json(json)) => builder.json(json),
                Some(Payload::Form(fields)) => builder.form(fields),
                None => builder,
            };
            let outcome = match builder.send().await {
                Ok(response) => read(response).await,
                Err(error) => Err(error),
            };
            let elapsed = started.elapsed();
            let elapsed_ms = elapsed.as_secs_f64() * 1000.0;
            let outcome_label = match &outcome {
                Ok(read) => CallOutcome::Status(read.status.as_u16()),
                Err(e) if e.is_timeout() => CallOutcome::Timeout,
                Err(_) => CallOutcome::ConnectionError,
            };
            self.policy.calls.observe(
                CallLabels {
                    route,
                    method: HttpMethod::of(&method),
                    outcome: outcome_label,
                },
                elapsed,
            );
            let failure = match outcome {
                Ok(read) => {
                    tracing::info!(request_id, method = %method, endpoint = url.path(),
                        status = read.status.as_u16(), user, attempt, duration_ms = elapsed_ms,
                        "backend call");
                    if read.text.len() > MAX_ANSWER_BYTES {
                        return Err(BackendError::new(
                            ErrorKind::Backend,
                            format!(
                                "the backend's answer is larger than {} MiB",
                                MAX_ANSWER_BYTES / (1024 * 1024)
                            ),
                        )
                        .with_request_id(&request_id));
                    }
                    if read.status.is_success() {
                        return Ok(Answer {
                            status: read.status.as_u16(),
                            content_type: read.content_type,
                            text: read.text,
                            request_id,
                        });
                    }
                    let mut error = BackendError::from_status(read.status.as_u16(), &read.text)
                        .with_request_id(&request_id);
                    if let Some(secs) = read.retry_after {
                        error.details["retry_after_secs"] = secs.into();
                    }
                    if !retryable(read.status, &read.text) {
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
                        user, attempt, duration_ms = elapsed_ms, error = %error,
                        "backend call failed");
                    BackendError::transport(kind, self.policy.timeout, &error)
                        .with_request_id(&request_id)
                }
            };
            let delay = self.backoff(attempt);
            if attempt >= self.policy.retries || Instant::now() + delay >= deadline {
                return Err(failure);
            }
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// Exponential backoff with jitter: a random delay in the upper half of `base · 2^attempt`.
    fn backoff(&self, attempt: u32) -> Duration {
        let full = self
            .policy
            .backoff
            .saturating_mul(1 << attempt.min(16))
            .min(MAX_BACKOFF);
        let half = full / 2;
        half + full
            .saturating_sub(half)
            .mul_f64(rand::rng().random::<f64>())
    }
}

/// The answer's status, headers and body, reading at most one byte past the cap.
async fn read(mut response: reqwest::Response) -> Result<Read, reqwest::Error> {
    let status = response.status();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let retry_after = header(reqwest::header::RETRY_AFTER).and_then(|v| v.trim().parse().ok());
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        bytes.extend_from_slice(&chunk);
        if bytes.len() > MAX_ANSWER_BYTES {
            break;
        }
    }
    Ok(Read {
        status,
        content_type,
        retry_after,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// Statuses worth trying again: the backend is briefly unavailable, or the first attempt of
/// this very write is still running.
fn retryable(status: StatusCode, body: &str) -> bool {
    status == StatusCode::SERVICE_UNAVAILABLE
        || (status == StatusCode::CONFLICT
            && serde_json::from_str::<ErrorBody>(body)
                .is_ok_and(|b| b.error.kind == "idempotency_in_progress"))
}
