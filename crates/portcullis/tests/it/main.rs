//! The integration tests, one binary: each module starts the real `portcullis` binary (or an
//! in-process piece of it) and talks to it over HTTP, as clients and operators do. One binary
//! links once instead of once per file, and shares the helpers in `support`.

#[macro_use]
mod support;

mod api_keys;
mod audit_trail;
mod auth;
mod cli;
mod federation;
mod gateway;
mod mcp_tools;
mod microservice;
mod oauth_server;
mod openapi;
mod operations;
mod protocol;
mod rate_limits;
mod scale_out;
mod security;
mod third_party_clients;
mod token_cache;
