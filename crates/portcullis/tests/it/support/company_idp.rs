//! A real OpenID Connect provider as the company's identity provider: panva's `oidc-provider`
//! (tests/idp/oidc_idp.mjs, installed by scripts/install-test-clients.sh), plus a browser walk
//! through Portcullis's sign-in page, the provider's login form and back.

use std::{path::Path, process::Stdio, time::Duration};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{
    TestApp,
    external::{INSTALL_HINT, repo_root, require_installed, test_clients_dir},
    oauth::{Browser, hidden},
};

pub const CLIENT_ID: &str = "portcullis";
/// Also in fixed-secrets.txt, which the log check greps for.
pub const CLIENT_SECRET: &str = "idp-client-secret-5f0c9a1e7b3d4c2a8e6f";

pub struct CompanyIdp {
    /// The issuer (also the base URL).
    pub issuer: String,
    child: tokio::process::Child,
    http: reqwest::Client,
}

impl CompanyIdp {
    /// Starts the provider with Portcullis's callback on `portcullis_port` as the one
    /// redirect URI of its client, and waits (up to a minute) until it listens. It listens on
    /// a port of its own chosen here, never one the kernel hands out while Portcullis's port
    /// is still free.
    pub async fn start(portcullis_port: u16, dir: &Path) -> Self {
        let port = loop {
            let port = super::free_port();
            if port != portcullis_port {
                break port.to_string();
            }
        };
        use tokio::io::AsyncBufReadExt;
        let script = repo_root().join("tests/idp/oidc_idp.mjs");
        let modules = test_clients_dir().join("node/node_modules");
        require_installed("oidc-provider", &modules.join("oidc-provider/package.json"));
        let mut child = tokio::process::Command::new("node")
            .arg(&script)
            .args([
                "--port",
                &port,
                "--client-id",
                CLIENT_ID,
                "--client-secret",
                CLIENT_SECRET,
            ])
            .arg("--redirect-uri")
            .arg(format!(
                "http://127.0.0.1:{portcullis_port}/authorize/federated/callback"
            ))
            .env("PORTCULLIS_TEST_NODE_MODULES", &modules)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("company-idp.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start node {}: {e}; {INSTALL_HINT}",
                    script.display()
                )
            });
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the identity provider did not listen within a minute")
            .unwrap()
            .expect("the identity provider exited before listening");
        let issuer = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the identity provider printed {line:?}"))
            .to_owned();
        Self {
            issuer,
            child,
            http: reqwest::Client::new(),
        }
    }

    /// The `[[identity_providers]]` entry for it, named `corp`, with `extra` keys.
    pub fn config(&self, secret_file: &Path, extra: &str) -> String {
        std::fs::write(secret_file, CLIENT_SECRET).unwrap();
        format!(
            "[[identity_providers]]\nname = \"corp\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_file = \"{}\"\ntenant_claim = \"tid\"\n{extra}\n",
            self.issuer,
            secret_file.display()
        )
    }

    /// Tampers with the next ID token the provider issues (see oidc_idp.mjs).
    pub async fn arm(&self, kind: &str) {
        let response = self
            .http
            .post(format!("{}/_faults/next-id-token", self.issuer))
            .json(&json!({ "kind": kind }))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "arming {kind}");
    }

    /// Every token endpoint request it received (field names, grant type, client auth).
    pub async fn token_requests(&self) -> Vec<Value> {
        self.http
            .get(format!("{}/_control/token-requests", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// Where a walk through the sign-in ended.
#[derive(Debug)]
pub struct Ended {
    pub status: StatusCode,
    /// The last URL fetched.
    pub url: String,
    /// A Location that was not followed (the MCP client's redirect URI).
    pub location: Option<String>,
    pub body: String,
}

impl Browser {
    /// GETs `url` and follows redirects, but stops at a Location starting with `stop_at`.
    pub async fn follow(&mut self, url: &str, stop_at: &str) -> Ended {
        let mut url = url.to_owned();
        for _ in 0..15 {
            let (status, location, body) = self.get(&url).await;
            match location {
                Some(location) if status.is_redirection() => {
                    let next = url::Url::parse(&url).unwrap().join(&location).unwrap();
                    if next.as_str().starts_with(stop_at) {
                        return Ended {
                            status,
                            url,
                            location: Some(next.into()),
                            body,
                        };
                    }
                    url = next.into();
                }
                location => {
                    return Ended {
                        status,
                        url,
                        location,
                        body,
                    };
                }
            }
        }
        panic!("more than 15 redirects from {url}");
    }

    /// On Portcullis's sign-in page `page`, presses "Sign in with corp", signs in at the
    /// provider as `login` (or presses Cancel when `login` is `None`), and follows the answer
    /// back to Portcullis: the consent page, or an error page. Never follows a redirect to
    /// `client_redirect`.
    pub async fn sign_in_at_idp(
        &mut self,
        app: &TestApp,
        page: &str,
        login: Option<&str>,
        client_redirect: &str,
    ) -> Ended {
        let request = hidden(page, "request").expect("the sign-in page has a request field");
        let csrf = hidden(page, "csrf").expect("the sign-in page has a csrf field");
        let (status, location, body) = self
            .post_form(
                &format!("{}/authorize/federated", app.base),
                &[("request", &request), ("csrf", &csrf), ("idp", "corp")],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "the button: {body}");
        let at_idp = self.follow(&location.unwrap(), client_redirect).await;
        assert_eq!(
            at_idp.status,
            StatusCode::OK,
            "the provider's login page: {}",
            at_idp.body
        );
        let action = |name: &str| {
            let marker = format!("/{name}\"");
            let end = at_idp.body.find(&marker).expect("a form of the provider") + name.len() + 1;
            let start = at_idp.body[..end].rfind("action=\"").unwrap() + "action=\"".len();
            url::Url::parse(&at_idp.url)
                .unwrap()
                .join(&at_idp.body[start..end])
                .unwrap()
                .to_string()
        };
        let (status, location, body) = match login {
            Some(login) => {
                self.post_form(
                    &action("login"),
                    &[("login", login), ("password", "any password")],
                )
                .await
            }
            None => self.post_form(&action("abort"), &[]).await,
        };
        assert!(
            status.is_redirection(),
            "the provider's login: {status} {body}"
        );
        let next = url::Url::parse(&at_idp.url)
            .unwrap()
            .join(&location.unwrap())
            .unwrap();
        self.follow(next.as_str(), client_redirect).await
    }
}
