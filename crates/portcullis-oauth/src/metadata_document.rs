//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document-02, which the MCP
//! 2026-07-28 authorization specification prefers over dynamic registration): a client id that
//! is an https URL names a JSON document describing the client, fetched by this server.
//!
//! The fetch is a server-side request to an address the client chose, so it is fenced in
//! (§5, §8.6): https only, no redirects, 200 only, at most 5 KiB, a short timeout, and never to
//! a special-use address (RFC 6890) — except loopback in development mode. The address is
//! resolved once and pinned, so DNS cannot swap in another between check and connect.
//! Valid documents are cached per their `Cache-Control` (clamped), failures for
//! [`FAILURE_CACHE`]. Anyone can make this server fetch by sending `/authorize` requests, so
//! fetches are bounded: at most [`MAX_CONCURRENT_FETCHES`] at once (requests for the same
//! document wait for the one fetch and share its answer), and at most
//! [`MAX_FETCHES_PER_HOST`] per host per [`HOST_WINDOW`].

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde::Deserialize;

use crate::{
    client::{AUTHORIZATION_CODE, Client, ClientKind, REFRESH_TOKEN},
    redirect_uri::{self, AppKind, SchemePolicy},
};

const MAX_DOCUMENT: usize = 5 * 1024;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MIN_CACHE: Duration = Duration::from_secs(60);
const DEFAULT_CACHE: Duration = Duration::from_secs(300);
const MAX_CACHE: Duration = Duration::from_secs(24 * 3600);
const MAX_CACHED: usize = 1024;
/// How long a document that could not be used is not fetched again.
pub const FAILURE_CACHE: Duration = Duration::from_secs(30);
pub const MAX_CONCURRENT_FETCHES: usize = 4;
pub const MAX_FETCHES_PER_HOST: u32 = 10;
pub const HOST_WINDOW: Duration = Duration::from_secs(60);

pub struct MetadataDocuments {
    development: bool,
    /// Which private-use redirect schemes documents may name.
    schemes: SchemePolicy,
    cache: Mutex<HashMap<String, (Client, Instant)>>,
    /// Documents that failed, with why, until when.
    failures: Mutex<HashMap<String, (String, Instant)>>,
    /// Fetches per host in the current window: (window start, count).
    hosts: Mutex<HashMap<String, (Instant, u32)>>,
    fetching: tokio::sync::Semaphore,
    /// One fetch per document at a time: requests for a document being fetched wait for its
    /// answer (striped by URL, so the locks take fixed memory).
    stripes: Vec<tokio::sync::Mutex<()>>,
}

const STRIPES: usize = 64;

/// Inserts into a bounded map: expired entries go first, everything if that is not enough.
fn insert_bounded<V>(
    map: &mut HashMap<String, V>,
    key: String,
    value: V,
    live: impl Fn(&V) -> bool,
) {
    if map.len() >= MAX_CACHED {
        map.retain(|_, v| live(v));
        if map.len() >= MAX_CACHED {
            map.clear();
        }
    }
    map.insert(key, value);
}

#[derive(Deserialize)]
struct Document {
    client_id: String,
    client_name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    application_type: Option<String>,
    #[serde(default)]
    client_secret: Option<serde_json::Value>,
    #[serde(default)]
    client_secret_expires_at: Option<serde_json::Value>,
}

impl MetadataDocuments {
    pub fn new(development: bool, schemes: SchemePolicy) -> Self {
        Self {
            development,
            schemes,
            cache: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            hosts: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Semaphore::new(MAX_CONCURRENT_FETCHES),
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    /// Client ids that look like URLs are metadata document URLs, never registered ids
    /// (this server never generates such ids).
    pub fn is_document_url(client_id: &str) -> bool {
        client_id.starts_with("https://") || client_id.starts_with("http://")
    }

    /// The answer already known for `client_id`: a cached document or a recent failure.
    fn known(&self, client_id: &str) -> Option<Result<Client, String>> {
        let now = Instant::now();
        if let Some((client, until)) = self.cache.lock().expect("cache poisoned").get(client_id)
            && *until > now
        {
            return Some(Ok(client.clone()));
        }
        if let Some((reason, until)) = self.failures.lock().expect("cache poisoned").get(client_id)
            && *until > now
        {
            return Some(Err(reason.clone()));
        }
        None
    }

    pub async fn resolve(&self, client_id: &str) -> Result<Client, String> {
        if let Some(known) = self.known(client_id) {
            return known;
        }
        let url = self.check_url(client_id)?;
        let stripe = {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            let hash = BuildHasherDefault::<DefaultHasher>::default().hash_one(client_id);
            &self.stripes[(hash as usize) % STRIPES]
        };
        let _same_document = stripe.lock().await;
        let _permit = self
            .fetching
            .acquire()
            .await
            .map_err(|_| "metadata documents cannot be fetched right now".to_owned())?;
        // Another request may have fetched it while this one waited.
        if let Some(known) = self.known(client_id) {
            return known;
        }
        self.charge_host(&url)?;
        match self.fetch(client_id, &url).await {
            Ok((client, max_age)) => {
                if let Some(max_age) = max_age {
                    let mut cache = self.cache.lock().expect("cache poisoned");
                    let now = Instant::now();
                    insert_bounded(
                        &mut cache,
                        client_id.to_owned(),
                        (client.clone(), now + max_age),
                        |(_, until)| *until > now,
                    );
                }
                Ok(client)
            }
            Err(reason) => {
                let mut failures = self.failures.lock().expect("cache poisoned");
                let now = Instant::now();
                insert_bounded(
                    &mut failures,
                    client_id.to_owned(),
                    (reason.clone(), now + FAILURE_CACHE),
                    |(_, until)| *until > now,
                );
                Err(reason)
            }
        }
    }

    /// Counts a fetch against the URL's host; refuses once the host's share is used up.
    fn charge_host(&self, url: &url::Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or_default().to_owned();
        let mut hosts = self.hosts.lock().expect("cache poisoned");
        let now = Instant::now();
        let entry = hosts.get(&host).copied();
        let (start, count) = match entry {
            Some((start, count)) if now.duration_since(start) < HOST_WINDOW => (start, count),
            _ => (now, 0),
        };
        if count >= MAX_FETCHES_PER_HOST {
            let wait = HOST_WINDOW
                .saturating_sub(now.duration_since(start))
                .as_secs()
                + 1;
            return Err(format!(
                "too many client metadata documents were fetched from {host} recently; try again in {wait} seconds"
            ));
        }
        insert_bounded(&mut hosts, host, (start, count + 1), |(start, _)| {
            now.duration_since(*start) < HOST_WINDOW
        });
        Ok(())
    }

    /// CIMD §3: https, a path, no fragment, userinfo, query or dot segments, and written the
    /// way a URL parser writes it so that string comparison is unambiguous.
    fn check_url(&self, client_id: &str) -> Result<url::Url, String> {
        let bad = |why: &str| {
            format!("the client id {client_id:?} is not a usable metadata document URL: {why}")
        };
        let url = url::Url::parse(client_id).map_err(|_| bad("not a URL"))?;
        let loopback_dev = self.development && redirect_uri::is_loopback_http(&url);
        if url.scheme() != "https" && !loopback_dev {
            return Err(bad(if self.development {
                "it must use https (plain http only on a loopback host in development mode)"
            } else {
                "it must use https"
            }));
        }
        if url.path() == "/" || url.path().is_empty() {
            return Err(bad("it must have a path"));
        }
        if url.fragment().is_some() || url.query().is_some() {
            return Err(bad("it must not have a query or fragment"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("it must not carry user information"));
        }
        if url.as_str() != client_id {
            return Err(bad(
                "it is not in normal form (dot segments, default port, case or escaping)",
            ));
        }
        Ok(url)
    }

    async fn fetch(
        &self,
        client_id: &str,
        url: &url::Url,
    ) -> Result<(Client, Option<Duration>), String> {
        let fail = |why: String| {
            format!("the client's metadata document at {client_id} could not be used: {why}")
        };
        let host = url.host_str().ok_or_else(|| fail("no host".into()))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup_host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(FETCH_TIMEOUT, tokio::net::lookup_host((lookup_host, port)))
                .await
                .map_err(|_| fail("name resolution timed out".into()))?
                .map_err(|e| fail(format!("name resolution failed: {e}")))?
                .collect();
        let addr = addrs
            .first()
            .copied()
            .ok_or_else(|| fail("the host has no address".into()))?;
        for a in &addrs {
            let ip = a.ip();
            let allowed = !is_special_use(ip) || (self.development && ip.is_loopback());
            if !allowed {
                return Err(fail(format!(
                    "its host resolves to {ip}, a special-use address this server does not fetch from"
                )));
            }
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .resolve(lookup_host, addr)
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let mut response = http
            .get(url.clone())
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                fail(format!(
                    "request failed ({})",
                    if e.is_timeout() {
                        "timed out".to_string()
                    } else {
                        e.to_string()
                    }
                ))
            })?;
        if response.status() != reqwest::StatusCode::OK {
            return Err(fail(format!(
                "it answered HTTP {} (only 200 is accepted, redirects are not followed)",
                response.status().as_u16()
            )));
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let media = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned();
        if !(media == "application/json"
            || (media.starts_with("application/") && media.ends_with("+json")))
        {
            return Err(fail(format!("its content type is {media:?}, not JSON")));
        }
        let max_age = cache_lifetime(response.headers());
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| fail(e.to_string()))? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_DOCUMENT {
                return Err(fail(format!("it is larger than {MAX_DOCUMENT} bytes")));
            }
        }
        let doc: Document = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("it is not a valid client metadata document: {e}")))?;
        let client = validate(client_id, doc, &self.schemes).map_err(fail)?;
        Ok((client, max_age))
    }
}

/// CIMD §4: the document names itself, lists its redirect URIs and holds no shared secret.
fn validate(client_id: &str, doc: Document, schemes: &SchemePolicy) -> Result<Client, String> {
    if doc.client_id != client_id {
        return Err(format!(
            "its client_id {:?} is not the URL it was fetched from",
            doc.client_id
        ));
    }
    if doc.client_secret.is_some() || doc.client_secret_expires_at.is_some() {
        return Err("it contains a client secret, which metadata documents must not".into());
    }
    match doc.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some(other) => {
            return Err(format!(
                "token_endpoint_auth_method {other:?} is not supported for metadata-document clients (use none)"
            ));
        }
    }
    if doc.redirect_uris.is_empty() {
        return Err("it lists no redirect_uris".into());
    }
    let kind = match doc.application_type.as_deref() {
        Some("native") => AppKind::Native,
        Some("web") => AppKind::Web,
        _ => AppKind::Unstated,
    };
    for uri in &doc.redirect_uris {
        if let Some(problem) = redirect_uri::registration_problem(uri, kind, schemes) {
            return Err(format!("redirect URI {problem}"));
        }
    }
    let grant_types = doc
        .grant_types
        .unwrap_or_else(|| vec![AUTHORIZATION_CODE.into()]);
    if let Some(g) = grant_types
        .iter()
        .find(|g| *g != AUTHORIZATION_CODE && *g != REFRESH_TOKEN)
    {
        return Err(format!(
            "grant type {g:?} is not available to public clients"
        ));
    }
    let name = doc
        .client_name
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| client_id.to_owned());
    Ok(Client {
        id: client_id.to_owned(),
        name: name.chars().take(200).collect(),
        redirect_uris: doc.redirect_uris,
        grant_types,
        allowed_scopes: Vec::new(),
        secret_digest: None,
        kind: ClientKind::MetadataDocument,
        introspection: false,
    })
}

/// `Cache-Control: max-age` clamped to [1 min, 1 day]; `no-store`/`no-cache` → not cached.
fn cache_lifetime(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let Some(value) = headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
    else {
        return Some(DEFAULT_CACHE);
    };
    let mut max_age = None;
    for directive in value.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if directive == "no-store" || directive == "no-cache" {
            return None;
        }
        if let Some(secs) = directive
            .strip_prefix("max-age=")
            .and_then(|s| s.parse().ok())
        {
            max_age = Some(Duration::from_secs(secs));
        }
    }
    Some(max_age.unwrap_or(DEFAULT_CACHE).clamp(MIN_CACHE, MAX_CACHE))
}

/// RFC 6890 special-use ranges (and their IPv4-mapped IPv6 forms).
fn is_special_use(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 192 && o[1] == 88 && o[2] == 99)
                || (o[0] == 198 && (o[1] == 18 || o[1] == 19))
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_special_use(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x2001 && s[1] < 0x0200)
                || (s[0] == 0x0064 && s[1] == 0xff9b)
                || s[0] == 0x2002
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_use_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(is_special_use(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700::1111"] {
            assert!(!is_special_use(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn document_urls_must_be_plain() {
        let docs = MetadataDocuments::new(false, SchemePolicy::Any);
        assert!(
            docs.check_url("https://app.example.com/client.json")
                .is_ok()
        );
        for bad in [
            "http://app.example.com/client.json",
            "https://app.example.com/",
            "https://app.example.com/a/../client.json",
            "https://app.example.com/client.json#x",
            "https://app.example.com/client.json?x=1",
            "https://user@app.example.com/client.json",
            "https://app.example.com:443/client.json",
            "https://APP.example.com/client.json",
            "http://127.0.0.1:8000/client.json",
        ] {
            assert!(docs.check_url(bad).is_err(), "{bad}");
        }
        let dev = MetadataDocuments::new(true, SchemePolicy::Any);
        assert!(dev.check_url("http://127.0.0.1:8000/client.json").is_ok());
        assert!(dev.check_url("http://app.example.com/client.json").is_err());
    }
}
