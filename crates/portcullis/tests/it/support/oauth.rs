//! A browserless OAuth client for tests: registers, walks the login and consent forms the way
//! a browser would (cookies, hidden fields, no JavaScript), and exchanges codes.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery";

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    (verifier.clone(), URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// The value of `<input … name="NAME" value="…">` in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_owned())
}

/// Query parameters of a URL.
pub fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A browser: keeps cookies, never follows redirects.
pub struct Browser {
    pub http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let text = value.to_str().unwrap();
            let pair = text.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                self.cookies
                    .insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }

    /// GET; returns status, Location (if any) and body.
    pub async fn get(&mut self, url: &str) -> (StatusCode, Option<String>, String) {
        let response = self
            .http
            .get(url)
            .header(header::COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    pub async fn post_form(
        &mut self,
        url: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let response = self
            .http
            .post(url)
            .header(header::COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    async fn finish(
        &mut self,
        response: reqwest::Response,
    ) -> (StatusCode, Option<String>, String) {
        self.remember(&response);
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .map(|v| v.to_str().unwrap().to_owned());
        (status, location, response.text().await.unwrap())
    }

    /// Logs in on the page `login_page` (from GET /authorize) and returns the consent page.
    pub async fn login(
        &mut self,
        base: &str,
        login_page: &str,
        username: &str,
        password: &str,
    ) -> (StatusCode, Option<String>, String) {
        let request = hidden(login_page, "request").expect("login page has a request field");
        let csrf = hidden(login_page, "csrf").expect("login page has a csrf field");
        let (status, location, body) = self
            .post_form(
                &format!("{base}/authorize/login"),
                &[
                    ("request", &request),
                    ("csrf", &csrf),
                    ("username", username),
                    ("password", password),
                ],
            )
            .await;
        if status != StatusCode::SEE_OTHER {
            return (status, location, body);
        }
        self.get(&format!("{base}{}", location.unwrap())).await
    }

    /// Posts the consent form with `approve` or `deny`; returns the redirect's Location.
    pub async fn decide(
        &mut self,
        base: &str,
        consent_page: &str,
        button: &str,
    ) -> (StatusCode, Option<String>, String) {
        let request = hidden(consent_page, "request").expect("consent page has a request field");
        let csrf = hidden(consent_page, "csrf").expect("consent page has a csrf field");
        self.post_form(
            &format!("{base}/authorize/consent"),
            &[("request", &request), ("csrf", &csrf), (button, button)],
        )
        .await
    }
}

/// A registered public client with its redirect URI.
pub struct TestClient {
    pub client_id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

impl TestApp {
    /// A server running its built-in authorization server (no external issuer), with the
    /// account `alice` (password [`PASSWORD`]).
    pub async fn spawn_builtin(db: super::Db, args: &[&str]) -> Self {
        let app = Self::spawn_with(
            db,
            super::Options {
                args: args.iter().map(|s| s.to_string()).collect(),
                no_key_args: true,
                ..Default::default()
            },
        )
        .await;
        app.add_user("alice");
        app
    }

    /// Adds a login account through the CLI.
    pub fn add_user(&self, name: &str) {
        let (ok, _, err) = self.cli(
            &["user", "add", name, "--password-stdin"],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(ok, "user add failed: {err}");
    }

    /// Registers a public native client through RFC 7591.
    pub async fn register_public_client(&self) -> TestClient {
        let response = self
            .http
            .post(format!("{}/register", self.base))
            .json(&json!({
                "client_name": "Test Agent",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "grant_types": ["authorization_code", "refresh_token"],
                "token_endpoint_auth_method": "none",
                "application_type": "native",
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        TestClient {
            client_id: body["client_id"].as_str().unwrap().to_owned(),
            secret: None,
            // Loopback: any port matches the registered port-less URI (RFC 8252 §7.3).
            redirect_uri: "http://127.0.0.1:49152/callback".into(),
        }
    }

    pub fn authorize_url(
        &self,
        client: &TestClient,
        challenge: &str,
        scope: &str,
        state: &str,
    ) -> String {
        let mut url = url::Url::parse(&format!("{}/authorize", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", &client.redirect_uri)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("resource", &format!("{}/mcp", self.public_url));
        url.to_string()
    }

    /// Runs the browser part of the flow for `username`; returns the authorization response
    /// parameters (code, state, iss) and the verifier.
    pub async fn authorize(
        &self,
        client: &TestClient,
        username: &str,
        scope: &str,
    ) -> (HashMap<String, String>, String) {
        let (verifier, challenge) = pkce();
        let mut browser = Browser::new();
        let (status, _, page) = browser
            .get(&self.authorize_url(client, &challenge, scope, "st-123"))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let (status, _, consent) = browser.login(&self.base, &page, username, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{consent}");
        let (status, location, _) = browser.decide(&self.base, &consent, "approve").await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        (query_of(&location.unwrap()), verifier)
    }

    /// POSTs to /token; returns the status and JSON body.
    pub async fn token_request(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.post(format!("{}/token", self.base)).form(form);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    pub async fn exchange(
        &self,
        client: &TestClient,
        code: &str,
        verifier: &str,
    ) -> (StatusCode, Value) {
        let mcp = format!("{}/mcp", self.public_url);
        let (status, body, _) = self
            .token_request(
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("code_verifier", verifier),
                    ("client_id", &client.client_id),
                    ("redirect_uri", &client.redirect_uri),
                    ("resource", &mcp),
                ],
                None,
            )
            .await;
        (status, body)
    }

    pub async fn refresh(&self, client: &TestClient, refresh_token: &str) -> (StatusCode, Value) {
        let mcp = format!("{}/mcp", self.public_url);
        let (status, body, _) = self
            .token_request(
                &[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", refresh_token),
                    ("client_id", &client.client_id),
                    ("resource", &mcp),
                ],
                None,
            )
            .await;
        (status, body)
    }
}
