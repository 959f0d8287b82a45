//! A direct path from HTTP to rmcp's handler for the hot, well-formed stateless requests.
//!
//! Why: rmcp's `StreamableHttpService` serves each stateless request by spawning a one-shot
//! service (a task, channels, a peer) around the handler. Measured with `bench/load.sh`, that
//! machinery cost more per request than the RS256 verification itself. For `tools/call` and
//! `tools/list` requests whose protocol signals are complete and consistent, this module calls
//! the same rmcp handler (`Service::handle_request`: version negotiation, per-request `_meta`
//! checks, the tool router, legacy result shaping) directly and writes its JSON-RPC answer.
//! Everything else — `initialize`, `server/discover`, notifications, sessions, and any request
//! whose headers or metadata are missing, duplicated or inconsistent — goes to rmcp's transport
//! unchanged, which answers with the specification's errors. So the gate below only ever has to
//! be at least as strict as rmcp's own header validation.

use std::borrow::Cow;

use axum::{
    body::Body,
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::Response,
};
use bytes::Bytes;
use portcullis_mcp::{PortcullisMcp, printed};
use rmcp::{
    RoleServer, Service,
    model::{
        CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest, GetExtensions,
        GetMeta, JsonRpcVersion2_0, ListToolsRequestMethod, PaginatedRequestParams, RequestId,
        RequestOptionalParam, ServerJsonRpcMessage, ServerResult,
    },
    service::{Peer, RequestContext, RunningService, serve_directly},
};
use serde::{Deserialize, Serialize, de::IgnoredAny};
use serde_json::value::RawValue;

/// The parts of a JSON-RPC message the gate reads; everything else is skipped unparsed.
#[derive(Deserialize)]
pub(crate) struct Peek<'a> {
    pub(crate) id: Option<serde_json::Value>,
    #[serde(borrow)]
    pub(crate) method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) params: Option<PeekParams<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct PeekParams<'a> {
    #[serde(borrow)]
    pub(crate) name: Option<Cow<'a, str>>,
    /// A `resources/read`'s.
    #[serde(borrow)]
    pub(crate) uri: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "_meta")]
    meta: Option<PeekMeta<'a>>,
}

impl PeekParams<'_> {
    /// The client asked for progress notifications (`_meta.progressToken`).
    pub(crate) fn wants_progress(&self) -> bool {
        self.meta
            .as_ref()
            .is_some_and(|m| m.progress_token.is_some())
    }

    /// `None`: no `_meta`; `Some(None)`: a `_meta` without a protocol version.
    pub(crate) fn meta_version(&self) -> Option<Option<&str>> {
        self.meta.as_ref().map(|m| m.protocol_version.as_deref())
    }
}

#[derive(Deserialize)]
struct PeekMeta<'a> {
    #[serde(borrow, rename = "io.modelcontextprotocol/protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
    #[serde(rename = "progressToken")]
    progress_token: Option<serde::de::IgnoredAny>,
}

const CURRENT: &str = "2026-07-28";
const LEGACY: [&str; 2] = ["2025-11-25", "2025-06-18"];

/// The value of header `name` when it is absent or sent once as text.
fn single<'h>(headers: &'h HeaderMap, name: &str) -> Option<Option<&'h str>> {
    crate::headers::single(headers, name).ok()
}

/// True when rmcp would serve this request statelessly without complaint and the direct path
/// produces the same answer.
pub(crate) fn eligible(headers: &HeaderMap, peek: &Peek<'_>) -> bool {
    let method = peek.method.as_deref().unwrap_or_default();
    // A call that wants progress needs a streamed answer, which only rmcp's transport gives.
    if peek.id.is_none()
        || !matches!(method, "tools/call" | "tools/list")
        || peek.params.as_ref().is_some_and(PeekParams::wants_progress)
        || headers.contains_key("mcp-session-id")
    {
        return false;
    }
    let content_type_ok = single(headers, "content-type").flatten().is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("application/json"))
    });
    // Leave quality values and anything unusual to rmcp's full Accept parsing.
    let accept_ok = single(headers, "accept").flatten().is_some_and(|a| {
        !a.contains(';') && a.contains("application/json") && a.contains("text/event-stream")
    });
    if !content_type_ok || !accept_ok {
        return false;
    }
    let (Some(Some(version)), Some(mcp_method), Some(mcp_name)) = (
        single(headers, "mcp-protocol-version"),
        single(headers, "mcp-method"),
        single(headers, "mcp-name"),
    ) else {
        return false;
    };
    let params = peek.params.as_ref();
    let meta_version = params.and_then(PeekParams::meta_version);
    let tool = params.and_then(|p| p.name.as_deref());
    if version == CURRENT {
        meta_version == Some(Some(CURRENT))
            && mcp_method == Some(method)
            && (method != "tools/call" || (tool.is_some() && mcp_name == tool))
    } else {
        LEGACY.contains(&version)
            && meta_version.is_none()
            && mcp_method.is_none()
            && mcp_name.is_none()
    }
}

/// A `tools/call` or `tools/list` request as JSON-RPC carries it. rmcp's own message types
/// are untagged enums: reading one buffers the whole body and tries each of some twenty request
/// kinds in turn, which a profile showed costing more than the call's policy, rate limit and
/// audit together. The gate already knows the method, so this reads the one kind it names.
#[derive(Deserialize)]
struct WireRequest<'a> {
    #[serde(rename = "jsonrpc")]
    _jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
    /// Only responses carry these; rmcp refuses a request that has either key, even as `null`,
    /// so this path hands such a message to rmcp to refuse.
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
}

/// True for a key that is there, whatever its value (`Option` would read `null` as absent).
fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(value).map(|_| true)
}

/// The request id and rmcp's typed request, shaped as rmcp's own deserializer shapes it
/// (`params._meta` moved into the request's extensions); `None` for anything else, which then
/// goes to rmcp's transport.
fn read_request(bytes: &[u8]) -> Option<(RequestId, ClientRequest)> {
    let wire: WireRequest = serde_json::from_slice(bytes).ok()?;
    if wire.result || wire.error {
        return None;
    }
    let (mut request, meta) = match wire.method.as_ref() {
        "tools/call" => {
            let mut params: CallToolRequestParams =
                serde_json::from_str(wire.params?.get()).ok()?;
            let meta = params.meta.take();
            (
                ClientRequest::CallToolRequest(CallToolRequest::new(params)),
                meta,
            )
        }
        "tools/list" => {
            let mut params = match wire.params {
                Some(raw) => {
                    serde_json::from_str::<Option<PaginatedRequestParams>>(raw.get()).ok()?
                }
                None => None,
            };
            let meta = params.as_mut().and_then(|p| p.meta.take());
            let request = RequestOptionalParam::<ListToolsRequestMethod, _> {
                method: Default::default(),
                params,
                extensions: Default::default(),
            };
            (ClientRequest::ListToolsRequest(request), meta)
        }
        _ => return None,
    };
    if let Some(meta) = meta {
        *request.get_meta_mut() = meta;
    }
    Some((wire.id, request))
}

/// A JSON-RPC answer to a `tools/call` whose structured payload a tool handed over as printed
/// JSON (see [`portcullis_mcp::printed`]): the same fields rmcp writes, with
/// `structuredContent` copied verbatim instead of rebuilt from a `Value`.
#[derive(Serialize)]
struct PrintedAnswer<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    result: PrintedResult<'a>,
}

#[derive(Serialize)]
struct PrintedResult<'a> {
    #[serde(flatten)]
    result: &'a CallToolResult,
    #[serde(rename = "structuredContent")]
    structured_content: &'a RawValue,
}

/// rmcp's handler, and a peer for its request contexts.
pub(crate) struct DirectDispatch {
    handler: PortcullisMcp,
    /// Tools here never message the client (no sampling, elicitation or progress), but rmcp's
    /// `RequestContext` needs a peer: this one belongs to an idle service kept alive below.
    peer: Peer<RoleServer>,
    _idle: RunningService<RoleServer, PortcullisMcp>,
    _idle_io: tokio::io::DuplexStream,
}

impl DirectDispatch {
    /// Must run inside a Tokio runtime (the idle service is a task).
    pub(crate) fn new(handler: PortcullisMcp) -> Self {
        let (ours, theirs) = tokio::io::duplex(64);
        let idle = serve_directly(handler.clone(), tokio::io::split(theirs), None);
        let peer = idle.peer().clone();
        Self {
            handler,
            peer,
            _idle: idle,
            _idle_io: ours,
        }
    }

    /// Serves the request, or hands the body back when it is not a single JSON-RPC request.
    pub(crate) async fn serve(
        &self,
        parts: Parts,
        bytes: Bytes,
    ) -> Result<Response, (Parts, Bytes)> {
        let Some((id, mut request)) = read_request(&bytes) else {
            return Err((parts, bytes));
        };
        // As rmcp's service loop does: the metadata and extensions move from the request into
        // the context (no copy of `_meta`), and the HTTP parts join them.
        let mut context = RequestContext::new(id.clone(), self.peer.clone());
        std::mem::swap(&mut context.meta, request.get_meta_mut());
        std::mem::swap(&mut context.extensions, request.extensions_mut());
        context.extensions.insert(parts);
        let (outcome, printed) =
            printed::capture(self.handler.handle_request(request, context)).await;
        let body = match (outcome, printed) {
            (Ok(ServerResult::CallToolResult(result)), Some(printed))
                if result.structured_content.is_none() =>
            {
                serde_json::to_vec(&PrintedAnswer {
                    jsonrpc: "2.0",
                    id: &id,
                    result: PrintedResult {
                        result: &result,
                        structured_content: &printed,
                    },
                })
            }
            (Ok(result), _) => serde_json::to_vec(&ServerJsonRpcMessage::response(result, id)),
            (Err(error), _) => serde_json::to_vec(&ServerJsonRpcMessage::error(error, Some(id))),
        }
        .unwrap_or_default();
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::OK;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", HeaderValue::from_static("application/json"));
        h.insert(
            "accept",
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn check(h: &HeaderMap, body: &str) -> bool {
        eligible(h, &serde_json::from_str::<Peek>(body).unwrap())
    }

    const CALL_2026: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;
    const CALL_2025: &str =
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks"}}"#;

    #[test]
    fn well_formed_stateless_calls_take_the_direct_path() {
        let current = headers(&[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "list_tasks"),
        ]);
        assert!(check(&current, CALL_2026));
        assert!(check(
            &headers(&[("mcp-protocol-version", "2025-11-25")]),
            CALL_2025
        ));
        assert!(check(
            &headers(&[("mcp-protocol-version", "2025-06-18")]),
            r#"{"jsonrpc":"2.0","id":"x","method":"tools/list"}"#
        ));
    }

    #[test]
    fn anything_unusual_goes_to_rmcps_transport() {
        let v26 = ("mcp-protocol-version", "2026-07-28");
        let call = ("mcp-method", "tools/call");
        for (h, body) in [
            // Mcp-Name disagrees with the body, or is missing.
            (
                headers(&[v26, call, ("mcp-name", "delete_task")]),
                CALL_2026,
            ),
            (headers(&[v26, call]), CALL_2026),
            // Header and _meta versions disagree.
            (
                headers(&[
                    ("mcp-protocol-version", "2025-11-25"),
                    call,
                    ("mcp-name", "list_tasks"),
                ]),
                CALL_2026,
            ),
            // Duplicate protocol headers.
            (
                headers(&[v26, v26, call, ("mcp-name", "list_tasks")]),
                CALL_2026,
            ),
            // No version header, an unknown one, a session, a notification, another method.
            (headers(&[]), CALL_2025),
            (
                headers(&[("mcp-protocol-version", "2099-01-01")]),
                CALL_2025,
            ),
            (
                headers(&[
                    ("mcp-protocol-version", "2025-11-25"),
                    ("mcp-session-id", "s"),
                ]),
                CALL_2025,
            ),
            (
                headers(&[("mcp-protocol-version", "2025-11-25")]),
                r#"{"jsonrpc":"2.0","method":"tools/list"}"#,
            ),
            (
                headers(&[("mcp-protocol-version", "2025-11-25")]),
                r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#,
            ),
        ] {
            assert!(!check(&h, body), "{h:?} {body}");
        }
        let mut q = headers(&[("mcp-protocol-version", "2025-11-25")]);
        q.insert(
            "accept",
            HeaderValue::from_static("application/json;q=1, text/event-stream"),
        );
        assert!(
            !check(&q, CALL_2025),
            "Accept parameters are rmcp's to parse"
        );
    }
}
