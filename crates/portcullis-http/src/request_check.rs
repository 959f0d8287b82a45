//! What is wrong with a request whoever sends it, found before it is charged to anyone's
//! rate-limit budget: a request that will be answered 400 must not use up its caller's budget
//! (20 requests with mismatched headers would otherwise make the next valid call a 429).
//!
//! The checks mirror the transport rules of MCP 2026-07-28 (`MCP-Protocol-Version` once;
//! `Mcp-Method` equal to the body's method; for `tools/call`, `Mcp-Name` equal to the tool's
//! name; the per-request `_meta` version equal to the header) with the error codes rmcp's
//! transport answers them with (HTTP 400, JSON-RPC -32020 or -32602). They are a subset of
//! rmcp's own validation, which still runs after them: never stricter, so a request passing
//! here and failing there costs at most one budget unit, and a request refused here would have
//! been refused there too.

use std::borrow::Cow;

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::json;

use crate::{direct_dispatch::Peek, headers::single};

/// JSON-RPC code rmcp uses for a header that contradicts the body (SEP-2243).
const HEADER_MISMATCH: i64 = -32020;
const INVALID_PARAMS: i64 = -32602;
const INVALID_REQUEST: i64 = -32600;
/// The first revision whose requests carry `Mcp-Method`/`Mcp-Name` (compared as rmcp does,
/// by the date string).
const STANDARD_HEADERS: &str = "2026-07-28";

/// Why a request is malformed whoever sends it.
#[derive(Debug)]
pub(crate) struct Malformed {
    status: StatusCode,
    code: i64,
    message: Cow<'static, str>,
}

impl Malformed {
    /// The JSON-RPC error answering the request `id`.
    pub(crate) fn into_response(self, id: Option<&serde_json::Value>) -> Response {
        let body = json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": self.code, "message": self.message },
        });
        (self.status, axum::Json(body)).into_response()
    }
}

/// The refusal of a request that is malformed whoever sends it.
pub(crate) fn check(headers: &HeaderMap, peek: &Peek<'_>) -> Result<(), Malformed> {
    let method = peek.method.as_deref().unwrap_or_default();
    let fail = |status: StatusCode, code: i64, message: Cow<'static, str>| {
        Err(Malformed {
            status,
            code,
            message,
        })
    };
    let version = match single(headers, "mcp-protocol-version") {
        Ok(v) => v,
        Err(_) => {
            return fail(
                StatusCode::BAD_REQUEST,
                HEADER_MISMATCH,
                "MCP-Protocol-Version must be sent once, as text".into(),
            );
        }
    };
    if method == "tools/call" {
        if peek.id.is_none() {
            return fail(
                StatusCode::BAD_REQUEST,
                INVALID_REQUEST,
                "Invalid request: tools/call is a request and needs an id".into(),
            );
        }
        if peek
            .params
            .as_ref()
            .and_then(|p| p.name.as_deref())
            .is_none()
        {
            return fail(
                StatusCode::BAD_REQUEST,
                INVALID_PARAMS,
                "Invalid params: tools/call needs params.name, the tool to call".into(),
            );
        }
    }
    let Some(version) = version.filter(|v| *v >= STANDARD_HEADERS) else {
        return Ok(());
    };
    if method == "initialize" {
        // The handshake has rules of its own (rmcp checks them); it is never budgeted.
        return Ok(());
    }
    match single(headers, "mcp-method") {
        Ok(Some(m)) if m == method => {}
        Ok(Some(m)) => {
            return fail(
                StatusCode::BAD_REQUEST,
                HEADER_MISMATCH,
                format!("Mcp-Method header `{m}` does not match body method `{method}`").into(),
            );
        }
        Ok(None) => {
            return fail(
                StatusCode::BAD_REQUEST,
                HEADER_MISMATCH,
                "missing required Mcp-Method header".into(),
            );
        }
        Err(_) => {
            return fail(
                StatusCode::BAD_REQUEST,
                HEADER_MISMATCH,
                "Mcp-Method must be sent once, as text".into(),
            );
        }
    }
    let params = peek.params.as_ref();
    if method == "tools/call" {
        let tool = params.and_then(|p| p.name.as_deref()).unwrap_or_default();
        match single(headers, "mcp-name") {
            Ok(Some(raw)) => match decode(raw) {
                Some(name) if name == tool => {}
                Some(name) => {
                    return fail(
                        StatusCode::BAD_REQUEST,
                        HEADER_MISMATCH,
                        format!("Mcp-Name header `{name}` does not match body value `{tool}`")
                            .into(),
                    );
                }
                None => {
                    return fail(
                        StatusCode::BAD_REQUEST,
                        HEADER_MISMATCH,
                        "Mcp-Name header is not valid Base64".into(),
                    );
                }
            },
            Ok(None) => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    HEADER_MISMATCH,
                    "missing required Mcp-Name header for `tools/call`".into(),
                );
            }
            Err(_) => {
                return fail(
                    StatusCode::BAD_REQUEST,
                    HEADER_MISMATCH,
                    "Mcp-Name must be sent once, as text".into(),
                );
            }
        }
    }
    if let Some(Some(meta_version)) = params.and_then(|p| p.meta_version())
        && meta_version != version
    {
        return fail(
            StatusCode::BAD_REQUEST,
            HEADER_MISMATCH,
            format!(
                "MCP-Protocol-Version header ({version}) does not match request _meta protocolVersion ({meta_version})"
            )
            .into(),
        );
    }
    Ok(())
}

/// A header value in the SEP-2243 value encoding: plain, or `=?base64?…?=`.
fn decode(raw: &str) -> Option<String> {
    match raw
        .strip_prefix("=?base64?")
        .and_then(|inner| inner.strip_suffix("?="))
    {
        Some(inner) => String::from_utf8(STANDARD.decode(inner).ok()?).ok(),
        None => Some(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn verdict(pairs: &[(&'static str, &'static str)], body: &str) -> Option<u16> {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, HeaderValue::from_static(v));
        }
        let peek: Peek = serde_json::from_str(body).unwrap();
        check(&headers, &peek).err().map(|m| m.status.as_u16())
    }

    const CALL: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#;

    #[test]
    fn consistent_requests_pass() {
        let v = ("mcp-protocol-version", "2026-07-28");
        let m = ("mcp-method", "tools/call");
        assert_eq!(verdict(&[v, m, ("mcp-name", "list_tasks")], CALL), None);
        assert_eq!(
            verdict(&[v, m, ("mcp-name", "=?base64?bGlzdF90YXNrcw==?=")], CALL),
            None
        );
        let legacy = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}"#;
        assert_eq!(
            verdict(&[("mcp-protocol-version", "2025-11-25")], legacy),
            None
        );
        assert_eq!(verdict(&[], legacy), None);
    }

    #[test]
    fn contradictions_are_refused_before_any_budget() {
        let v = ("mcp-protocol-version", "2026-07-28");
        let m = ("mcp-method", "tools/call");
        for headers in [
            vec![v, m, ("mcp-name", "delete_task")],
            vec![v, m],
            vec![v, ("mcp-method", "tools/list"), ("mcp-name", "list_tasks")],
            vec![v, v, m, ("mcp-name", "list_tasks")],
            vec![v, m, m, ("mcp-name", "list_tasks")],
            vec![
                ("mcp-protocol-version", "2099-01-01"),
                m,
                ("mcp-name", "list_tasks"),
            ],
        ] {
            assert_eq!(verdict(&headers, CALL), Some(400), "{headers:?}");
        }
        let no_name = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#;
        assert_eq!(verdict(&[], no_name), Some(400));
    }
}
