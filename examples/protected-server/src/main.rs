//! `ISSUER=https://idp.example.com PUBLIC_URL=http://127.0.0.1:9000 cargo run -p
//! portcullis-example-protected-server`: the notes tools at `<PUBLIC_URL>/mcp`, accepting the
//! issuer's tokens (keys by discovery) whose `aud` is that URL.

use std::sync::Arc;

use portcullis_auth::{KeySource, ResourceServer, ResourceServerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("ISSUER").map_err(|_| "set ISSUER to your identity provider")?;
    let public = std::env::var("PUBLIC_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".into());
    let resource: url::Url = format!("{public}/mcp").parse()?;
    let mut config = ResourceServerConfig::new(resource, issuer, KeySource::Discovery);
    config.scopes_supported = vec!["notes:read".into(), "notes:write".into()];
    let rs = Arc::new(ResourceServer::new(config).await?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:9000").await?;
    axum::serve(listener, portcullis_example_protected_server::app(rs)).await?;
    Ok(())
}
