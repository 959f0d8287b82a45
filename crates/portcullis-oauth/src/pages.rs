//! The login, consent and error pages: plain HTML forms that work without JavaScript. Every
//! value from a request or a client is escaped; pages may not be framed (clickjacking,
//! OAuth 2.1 §7.11) and are never cached.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};

/// Escapes text for HTML element content and double-quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a page says about the request being decided.
pub struct RequestView<'a> {
    pub request_id: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub client_id: &'a str,
    pub client_note: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: Vec<&'a str>,
    /// Identity providers offered on the sign-in page, by name.
    pub providers: Vec<&'a str>,
    /// Whether local accounts may sign in with a password.
    pub passwords: bool,
}

fn scope_description(scope: &str) -> &'static str {
    match scope {
        "tasks:read" => "See your tasks and workspaces",
        "tasks:write" => "Create, change, complete and delete your tasks and workspaces",
        "admin" => "Administer users and the server",
        _ => "",
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;color:#1d2330}\
main{max-width:26rem;margin:4rem auto;background:#fff;border-radius:10px;padding:2rem;\
box-shadow:0 2px 12px rgba(0,0,0,.08)}h1{font-size:1.3rem;margin:0 0 1rem}\
label{display:block;margin:.8rem 0 .3rem;font-weight:600}\
input[type=text],input[type=password]{width:100%;box-sizing:border-box;padding:.6rem;\
border:1px solid #c4c9d4;border-radius:6px;font-size:1rem}\
button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem;border-radius:6px;border:0;cursor:pointer}\
.primary{background:#2354d6;color:#fff}.secondary{background:#e4e7ee;color:#1d2330;margin-left:.5rem}\
.error{background:#fdecea;color:#8a1c12;padding:.6rem;border-radius:6px}\
.note{color:#5b6475;font-size:.9rem}.warn{color:#8a5a00;font-size:.9rem}\
ul{padding-left:1.2rem}li{margin:.4rem 0}code{background:#f0f1f4;padding:0 .2rem;border-radius:3px}";

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · Portcullis</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn redirect_host(uri: &str) -> String {
    url::Url::parse(uri)
        .ok()
        .and_then(|u| {
            u.host_str()
                .map(str::to_owned)
                .or_else(|| Some(u.scheme().to_owned()))
        })
        .unwrap_or_else(|| uri.to_owned())
}

fn hidden_fields(view: &RequestView<'_>) -> String {
    format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(view.request_id),
        escape(view.csrf)
    )
}

/// The login form (`username`, `password`), with an optional error from the last attempt.
pub fn login(view: &RequestView<'_>, error: Option<&str>, status: StatusCode) -> Response {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    // One form per provider: the button's value names it (the form posts to the server, which
    // sends the browser on; the provider's address is never put in the page by a client).
    let providers: String = view
        .providers
        .iter()
        .map(|name| {
            format!(
                "<form method=\"post\" action=\"/authorize/federated\">{hidden}\
                 <button type=\"submit\" name=\"idp\" value=\"{name}\" class=\"primary\">Sign in with {name}</button></form>",
                hidden = hidden_fields(view),
                name = escape(name),
            )
        })
        .collect();
    let passwords = if view.passwords {
        format!(
            "{or}<form method=\"post\" action=\"/authorize/login\">{hidden}\
             <label for=\"username\">Username</label>\
             <input type=\"text\" id=\"username\" name=\"username\" autocomplete=\"username\" required autofocus>\
             <label for=\"password\">Password</label>\
             <input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\" class=\"primary\">Sign in</button></form>",
            or = if providers.is_empty() {
                ""
            } else {
                "<p class=\"note\">or with a Portcullis account:</p>"
            },
            hidden = hidden_fields(view),
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Sign in to Portcullis</h1>\
         <p><strong>{client}</strong> wants to use your tasks. Sign in to continue.</p>{error}\
         {providers}{passwords}",
        client = escape(view.client_name),
    );
    page(status, "Sign in", &body)
}

/// The consent form: who asks, for what, where the answer goes; `approve` / `deny` buttons.
pub fn consent(view: &RequestView<'_>, username: &str) -> Response {
    let scopes: String = view
        .scopes
        .iter()
        .map(|s| {
            let d = scope_description(s);
            if d.is_empty() {
                format!("<li><code>{}</code></li>", escape(s))
            } else {
                format!("<li><code>{}</code> — {}</li>", escape(s), escape(d))
            }
        })
        .collect();
    let host = redirect_host(view.redirect_uri);
    let local = url::Url::parse(view.redirect_uri)
        .map(|u| crate::redirect_uri::is_loopback_http(&u))
        .unwrap_or(false);
    let scheme = url::Url::parse(view.redirect_uri)
        .ok()
        .filter(|u| !matches!(u.scheme(), "http" | "https"))
        .map(|u| u.scheme().to_owned());
    let warning = match (&scheme, local) {
        (Some(scheme), _) => format!(
            "<p class=\"warn\">The answer goes to whichever application on this device handles \
             <strong><code>{}:</code></strong> links. Approve only if you just started this sign-in \
             yourself from that application.</p>",
            escape(scheme)
        ),
        (None, true) => "<p class=\"warn\">The answer goes to a program on this computer. Approve only if you just started this sign-in yourself.</p>".to_owned(),
        (None, false) => String::new(),
    };
    let body = format!(
        "<h1>Allow access?</h1>\
         <p>Signed in as <strong>{user}</strong>.</p>\
         <p><strong>{client}</strong> <span class=\"note\">({id}; {note})</span> asks to:</p>\
         <ul>{scopes}</ul>\
         <p class=\"note\">If you approve, you will be sent back to <strong>{host}</strong>.</p>{warning}\
         <form method=\"post\" action=\"/authorize/consent\">{hidden}\
         <button type=\"submit\" name=\"approve\" value=\"approve\" class=\"primary\">Approve</button>\
         <button type=\"submit\" name=\"deny\" value=\"deny\" class=\"secondary\">Deny</button></form>",
        user = escape(username),
        client = escape(view.client_name),
        id = escape(view.client_id),
        note = escape(view.client_note),
        host = escape(&host),
        hidden = hidden_fields(view),
    );
    page(StatusCode::OK, "Allow access", &body)
}

/// An error that cannot be sent back to the client (unknown client, bad redirect URI, an
/// expired or forged form): shown to the user, never redirected (OAuth 2.1 §4.1.2.1).
pub fn error(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>This sign-in cannot continue</h1><p class=\"error\" role=\"alert\">{}</p>\
         <p class=\"note\">Go back to the application and start again.</p>",
        escape(message)
    );
    page(status, "Sign-in error", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
