//! The `portcullis` command's parts, as a library so that tests can run `serve` in process
//! ([`serve::serve_on`]) on a listener they bound. The binary (`main.rs`) only dispatches.

pub mod admin;
pub mod api_keys;
pub mod cli;
pub mod config;
pub mod config_check;
mod effective;
pub mod layers;
pub mod microservice;
pub mod serve;
pub mod server;
pub mod signing_keys;
mod tls;
pub mod token;
