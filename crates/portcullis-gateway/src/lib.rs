//! Portcullis in front of other MCP servers.
//!
//! Each `[[upstreams]]` entry is an MCP server reached over Streamable HTTP or spawned as a
//! stdio program, or a REST API whose OpenAPI document's operations become tools (`openapi`). Its tools are listed by Portcullis itself, renamed with the upstream's prefix
//! and merged into `/mcp`; a `tools/call` for a prefixed name is authorized by Portcullis's
//! policy and then made on a connection of the acting user's own, carrying credentials that
//! Portcullis vouches for ([`Credentials`]): never the client's token.

mod config;
mod error;
mod gateway;
mod identity;
mod items;
mod listing;
mod openapi;
mod probe;
mod relay;
mod transport;
mod upstream;

pub use config::{
    AuthMode, Credentials, DocumentSource, OpenApiTarget, Target, UPSTREAM_TOKEN_TTL,
    UpstreamConfig, UpstreamConfigError, UpstreamSpec, validate,
};
pub use error::GatewayError;
pub use gateway::{Found, Gateway};
pub use identity::{Acting, GATEWAY_SUBJECT, SignerSource, TokenIssuer};
pub use items::{Items, MAX_TOOLS};
pub use probe::probe;
pub use relay::{Relay, Relayed};
pub use upstream::{ExposedTool, UpstreamStatus};
