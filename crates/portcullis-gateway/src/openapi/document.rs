//! An OpenAPI 3.0 or 3.1 document: read (bounded), checked, and navigated through its local
//! `$ref`s. Remote references are never followed: a document must not make Portcullis fetch
//! other URLs.

use std::time::Duration;

use serde_json::Value;

use crate::config::DocumentSource;

/// The largest document read.
const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;
/// `$ref` chains longer than this are refused (they are cycles or abuse).
const MAX_REF_DEPTH: usize = 32;

/// Which OpenAPI a document is: 3.0 schemas need converting to JSON Schema 2020-12.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V30,
    V31,
}

#[derive(Debug)]
pub struct Document {
    pub root: Value,
    pub version: Version,
    /// Where the document was read from (a relative server URL is relative to it).
    pub origin: Option<url::Url>,
}

/// Reads the document: an http(s) URL (without redirects, within `timeout`) or a file.
pub async fn load(
    source: &DocumentSource,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<Document, String> {
    let (text, origin) = match source {
        DocumentSource::File(path) => {
            let meta = std::fs::metadata(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            if meta.len() > MAX_DOCUMENT_BYTES as u64 {
                return Err(format!("{} is larger than 10 MiB", path.display()));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (text, None)
        }
        DocumentSource::Url(url) => {
            let mut response = http
                .get(url.clone())
                .header("Accept", "application/json")
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| format!("cannot fetch {url}: {}", innermost(&e)))?;
            if !response.status().is_success() {
                return Err(format!(
                    "{url} answered HTTP {}",
                    response.status().as_u16()
                ));
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("cannot read {url}: {}", innermost(&e)))?
            {
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_DOCUMENT_BYTES {
                    return Err(format!("{url} is larger than 10 MiB"));
                }
            }
            (
                String::from_utf8_lossy(&bytes).into_owned(),
                Some(url.clone()),
            )
        }
    };
    let root: Value =
        serde_json::from_str(&text).map_err(|e| format!("the document is not JSON: {e}"))?;
    Document::new(root, origin)
}

fn innermost(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

impl Document {
    pub fn new(root: Value, origin: Option<url::Url>) -> Result<Self, String> {
        let version = match root.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.0.") => Version::V30,
            Some(v) if v.starts_with("3.1.") => Version::V31,
            Some(v) => return Err(format!("OpenAPI {v} is not supported (3.0 and 3.1 are)")),
            None if root.get("swagger").is_some() => {
                return Err("Swagger 2.0 is not supported: convert it to OpenAPI 3".into());
            }
            None => return Err("not an OpenAPI document (no `openapi` version)".into()),
        };
        if !root.get("paths").is_some_and(Value::is_object) {
            return Err("the document has no `paths` object".into());
        }
        Ok(Self {
            root,
            version,
            origin,
        })
    }

    /// `value`, or what its `$ref` (a local JSON pointer, `#/...`) points to, followed to the end.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..MAX_REF_DEPTH {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            value = self.pointer(reference)?;
        }
        Err("a `$ref` chain is too long (a cycle?)".into())
    }

    /// The target of a local reference.
    pub fn pointer(&self, reference: &str) -> Result<&Value, String> {
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("`$ref` {reference:?} is not local (only #/... is followed)"))?;
        self.root
            .pointer(pointer)
            .ok_or_else(|| format!("`$ref` {reference:?} points at nothing"))
    }

    /// Where operations are called when no `base_url` is configured: the first server (its
    /// variables at their defaults, relative URLs against the document's), else the document's
    /// origin.
    pub fn base_url(&self) -> Result<url::Url, String> {
        let server = self
            .root
            .get("servers")
            .and_then(Value::as_array)
            .and_then(|s| s.first());
        let Some(server) = server else {
            return self.origin_root();
        };
        let mut raw = server
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("/")
            .to_owned();
        if let Some(vars) = server.get("variables").and_then(Value::as_object) {
            for (name, var) in vars {
                let default = var.get("default").and_then(Value::as_str).unwrap_or("");
                raw = raw.replace(&format!("{{{name}}}"), default);
            }
        }
        let url = match url::Url::parse(&raw) {
            Ok(url) => url,
            Err(url::ParseError::RelativeUrlWithoutBase) => self
                .origin
                .as_ref()
                .ok_or_else(|| {
                    format!("the server URL {raw:?} is relative and the document is a file: set base_url")
                })?
                .join(&raw)
                .map_err(|e| format!("the server URL {raw:?}: {e}"))?,
            Err(e) => return Err(format!("the server URL {raw:?}: {e}")),
        };
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("the server URL {url} is not http(s): set base_url"));
        }
        Ok(url)
    }

    fn origin_root(&self) -> Result<url::Url, String> {
        let mut url = self
            .origin
            .clone()
            .ok_or("the document names no server and is a file: set base_url")?;
        url.set_path("/");
        url.set_query(None);
        Ok(url)
    }
}
