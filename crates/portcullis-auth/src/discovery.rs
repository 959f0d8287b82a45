//! Finding an issuer's `jwks_uri` from its metadata: RFC 8414 §3 first, then OpenID Connect
//! Discovery 1.0 §4, as the MCP authorization specification orders them.

use crate::error::KeyError;

/// Largest metadata or JWKS document we accept.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// GETs `url` and returns its body, refusing non-2xx answers and bodies over 1 MiB.
pub(crate) async fn get_limited(
    client: &reqwest::Client,
    url: &url::Url,
) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("document larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The well-known metadata URLs to try for `issuer`, in order. For an issuer with a path,
/// RFC 8414 inserts the well-known segment before the path; OIDC appends it.
pub(crate) fn metadata_urls(issuer: &str) -> Result<Vec<url::Url>, String> {
    let parsed =
        url::Url::parse(issuer).map_err(|e| format!("issuer {issuer:?} is not a URL: {e}"))?;
    let path = parsed.path().trim_end_matches('/');
    let origin = parsed.origin().ascii_serialization();
    let candidates = [
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}/.well-known/openid-configuration{path}"),
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        ),
    ];
    let mut urls: Vec<url::Url> = Vec::new();
    for c in candidates {
        let u = url::Url::parse(&c).map_err(|e| e.to_string())?;
        if !urls.contains(&u) {
            urls.push(u);
        }
    }
    Ok(urls)
}

/// An issuer's metadata document (RFC 8414, then OpenID Connect Discovery), refused unless it
/// names exactly `issuer` (RFC 8414 §3.3, OpenID Connect Discovery §4.3): a document for
/// another issuer would let that one's keys and endpoints stand in.
pub async fn issuer_metadata(
    client: &reqwest::Client,
    issuer: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, KeyError> {
    let fail = |url: &str, reason: String| KeyError::Fetch {
        url: url.to_owned(),
        reason,
    };
    let mut last_error = String::from("no metadata URL");
    for url in metadata_urls(issuer).map_err(|e| fail(issuer, e))? {
        let body = match get_limited(client, &url).await {
            Ok(body) => body,
            Err(e) => {
                last_error = format!("{url}: {e}");
                continue;
            }
        };
        let meta: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&body)
            .map_err(|e| fail(url.as_str(), format!("not a JSON object: {e}")))?;
        if meta.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
            return Err(fail(
                url.as_str(),
                format!("metadata names another issuer than {issuer:?}"),
            ));
        }
        return Ok(meta);
    }
    Err(fail(issuer, last_error))
}

pub(crate) async fn discover_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
) -> Result<url::Url, KeyError> {
    let meta = issuer_metadata(client, issuer).await?;
    let fail = |reason: String| KeyError::Fetch {
        url: issuer.to_owned(),
        reason,
    };
    let jwks = meta
        .get("jwks_uri")
        .and_then(|v| v.as_str())
        .ok_or_else(|| fail("metadata has no jwks_uri".into()))?;
    url::Url::parse(jwks).map_err(|e| fail(format!("bad jwks_uri: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_urls_follow_rfc8414_then_oidc() {
        let urls: Vec<String> = metadata_urls("https://idp.example/tenant1")
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            urls,
            [
                "https://idp.example/.well-known/oauth-authorization-server/tenant1",
                "https://idp.example/.well-known/openid-configuration/tenant1",
                "https://idp.example/tenant1/.well-known/openid-configuration",
            ]
        );
        let root: Vec<String> = metadata_urls("https://idp.example")
            .unwrap()
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            root,
            [
                "https://idp.example/.well-known/oauth-authorization-server",
                "https://idp.example/.well-known/openid-configuration",
            ]
        );
    }
}
