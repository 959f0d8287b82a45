//! `portcullis`: the command line. Parsing, configuration and wiring only; the work is done by
//! the library crates (and `portcullis`'s own library, which tests also run in process).

use portcullis::{admin, api_keys, cli, config_check, layers, microservice, serve, token};

use std::process::ExitCode;

// Requests allocate many small, short-lived buffers (JSON values, rows, headers); mimalloc
// serves them from thread-local free lists. Measured in bench/load.sh (see README).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Development convenience: variables from ./.env, never overriding the real environment.
    let _ = dotenvy::dotenv();
    let cli = match layers::parse() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            cli::Command::Serve(args) => serve::run(*args).await,
            cli::Command::Backend(args) => microservice::backend(*args).await,
            cli::Command::Mcp(args) => microservice::mcp(*args).await,
            cli::Command::Token {
                command: cli::TokenCommand::Mint(args),
            } => token::mint(args).await,
            cli::Command::User { command } => admin::user(command).await,
            cli::Command::Client { command } => admin::client(command).await,
            cli::Command::Keys { command } => admin::keys(command).await,
            cli::Command::Apikey { command } => api_keys::api_key(command).await,
            cli::Command::Audit(args) => api_keys::audit(args).await,
            cli::Command::Config {
                command: cli::ConfigCommand::Check(args),
            } => config_check::check(*args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line that names what is wrong and how to fix it.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
