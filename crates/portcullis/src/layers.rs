//! Precedence, once for every setting: flags > environment > configuration file > default.
//!
//! A setting is declared once, as a clap argument (flag, `env`, `default_value`, help); its file
//! key is the argument's id (the flag name with `_`). The file's values become the arguments'
//! defaults before clap parses again, so clap's own order (command line, then environment,
//! then default) gives the layering, and the file's values go through the same value parsers
//! as typed ones.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use clap::{ArgMatches, Args, Command, CommandFactory, FromArgMatches, parser::ValueSource};
use toml::{Table, Value};

use crate::{
    cli::Cli,
    config::{BackendArgs, ConfigError, FILE_ONLY, McpArgs, read_file as read},
};

/// Settings the file writes inside a table although they have a flag: `(table, key)`.
const NESTED: [(&str, &str); 1] = [("policy", "hide_forbidden_tools")];

/// The command line with the configuration file layered under it.
pub fn parse() -> Result<Cli, ConfigError> {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The first parse answers --help, --version and usage errors exactly as clap does.
    parse_from(&argv, |cmd, argv| Ok(cmd.get_matches_from(argv)))
}

fn parse_from<A: Into<std::ffi::OsString> + Clone>(
    argv: &[A],
    first: impl Fn(Command, &[A]) -> Result<ArgMatches, ConfigError>,
) -> Result<Cli, ConfigError> {
    let first = first(Cli::command(), argv)?;
    let (path, leaf) = leaf(&first);
    let config: Option<PathBuf> = leaf
        .try_get_one::<PathBuf>("config")
        .ok()
        .flatten()
        .cloned();
    let matches = match &config {
        None => first,
        Some(file) => {
            let defaults = file_defaults(file, &read(file)?, leaf)?;
            with_defaults(Cli::command(), &path, &defaults)
                .try_get_matches_from(argv.iter().cloned())
                .map_err(|e| bad_value(file, &e))?
        }
    };
    Ok(Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit()))
}

/// `serve`'s arguments from `args` (its flags, without the command), layered like the command
/// line's: for running it in process.
pub fn serve_args(args: &[String]) -> Result<crate::config::ServeArgs, ConfigError> {
    let argv: Vec<String> = ["portcullis".to_owned(), "serve".to_owned()]
        .into_iter()
        .chain(args.iter().cloned())
        .collect();
    let usage = |e: clap::Error| {
        ConfigError::new(
            "config",
            e.to_string().lines().next().unwrap_or_default().to_owned(),
            "fix the arguments",
        )
    };
    match parse_from(&argv, |cmd, argv| {
        cmd.try_get_matches_from(argv).map_err(usage)
    })?
    .command
    {
        crate::cli::Command::Serve(args) => Ok(*args),
        _ => unreachable!("the command is serve"),
    }
}

/// The subcommand path to the command that runs, and its matches.
fn leaf(matches: &ArgMatches) -> (Vec<String>, &ArgMatches) {
    let mut path = Vec::new();
    let mut current = matches;
    while let Some((name, sub)) = current.subcommand() {
        path.push(name.to_owned());
        current = sub;
    }
    (path, current)
}

/// The ids of every setting a file may hold: those of `serve`, `mcp` and `backend`.
fn setting_ids() -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for cmd in [
        McpArgs::augment_args(Command::new("mcp")),
        BackendArgs::augment_args(Command::new("backend")),
    ] {
        ids.extend(cmd.get_arguments().map(|a| a.get_id().to_string()));
    }
    ids.remove("config");
    ids
}

/// The file's settings as `(id, values)`, for those the running command has. Unknown keys are
/// refused whatever the command, so a typo never passes silently.
fn file_defaults(
    file: &Path,
    table: &Table,
    leaf: &ArgMatches,
) -> Result<Vec<(String, Vec<String>)>, ConfigError> {
    let known = setting_ids();
    let unknown = |key: &str| {
        ConfigError::new(
            "config",
            format!("{}: unknown key `{key}`", file.display()),
            "keys are the flag names with _ (see --help)",
        )
    };
    let mut settings: Vec<(&str, &Value)> = Vec::new();
    for (key, value) in table {
        if FILE_ONLY.contains(&key.as_str()) {
            continue;
        }
        if !known.contains(key) {
            return Err(unknown(key));
        }
        settings.push((key, value));
    }
    for (parent, key) in NESTED {
        if let Some(value) = table.get(parent).and_then(|t| t.get(key)) {
            settings.push((key, value));
        }
    }
    let mut defaults = Vec::new();
    for (key, value) in settings {
        // Not a setting of this command (the file may serve `serve`, `mcp` and `backend`).
        let Ok(source) = leaf.try_contains_id(key).map(|_| leaf.value_source(key)) else {
            continue;
        };
        if matches!(
            source,
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        // `X_file` given on the command line or in the environment wins over the file's `X`.
        let indirect = format!("{key}_file");
        if matches!(
            leaf.try_contains_id(&indirect)
                .map(|_| leaf.value_source(&indirect)),
            Ok(Some(ValueSource::CommandLine | ValueSource::EnvVariable))
        ) {
            continue;
        }
        defaults.push((key.to_owned(), values(file, key, value)?));
    }
    Ok(defaults)
}

/// A file value as the strings a flag would take.
fn values(file: &Path, key: &str, value: &Value) -> Result<Vec<String>, ConfigError> {
    let scalar = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        Value::Datetime(d) => Some(d.to_string()),
        Value::Array(_) | Value::Table(_) => None,
    };
    let not_plain = || {
        ConfigError::new(
            "config",
            format!(
                "{}: `{key}` must be a value or a list of values",
                file.display()
            ),
            "write it as the flag takes it, e.g. key = \"value\" or key = [\"a\", \"b\"]",
        )
    };
    match value {
        Value::Array(items) => items
            .iter()
            .map(|v| scalar(v).ok_or_else(not_plain))
            .collect(),
        other => scalar(other).map(|s| vec![s]).ok_or_else(not_plain),
    }
}

/// The command with the given defaults on the arguments of the subcommand at `path`.
fn with_defaults(cmd: Command, path: &[String], defaults: &[(String, Vec<String>)]) -> Command {
    match path.split_first() {
        Some((head, rest)) => cmd.mut_subcommand(head, |sub| with_defaults(sub, rest, defaults)),
        None => defaults.iter().fold(cmd, |cmd, (id, values)| {
            cmd.mut_arg(id, |arg| arg.default_values(values.clone()))
        }),
    }
}

/// The first parse passed, so a failure now comes from a file value.
fn bad_value(file: &Path, error: &clap::Error) -> ConfigError {
    let rendered = error.to_string();
    let first = rendered.lines().next().unwrap_or_default();
    ConfigError::new(
        "config",
        format!(
            "{}: {}",
            file.display(),
            first.trim_start_matches("error: ")
        ),
        "fix the value in the configuration file (keys are the flag names with _)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every setting is named the same three ways: `--flag-name`, `flag_name` in the file and
    /// `PORTCULLIS_FLAG_NAME` (or the design documents' `SERVICE_AUTH_TOKEN` family).
    #[test]
    fn every_setting_has_a_flag_a_file_key_and_an_environment_variable() {
        let ids = setting_ids();
        assert!(ids.len() > 50, "{ids:?}");
        let cmd = McpArgs::augment_args(BackendArgs::augment_args(Command::new("all")));
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "config" {
                continue;
            }
            assert_eq!(arg.get_long(), Some(id.replace('_', "-").as_str()), "{id}");
            let env = arg.get_env().expect(id).to_string_lossy().into_owned();
            let plain = format!("PORTCULLIS_{}", id.to_ascii_uppercase());
            let legacy = id.to_ascii_uppercase();
            assert!(env == plain || env == legacy, "{id}: {env}");
        }
    }

    #[test]
    fn file_values_become_defaults_and_the_command_line_wins() {
        let dir = std::env::temp_dir().join(format!("layers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "max_body_bytes = 2048\nallowed_hosts = [\"a.test\", \"b.test\"]\n\
             [policy]\nhide_forbidden_tools = false\n",
        )
        .unwrap();
        let config = file.to_str().unwrap();
        let parse = |extra: &[&str]| {
            let mut argv = vec!["portcullis", "serve", "--config", config];
            argv.extend_from_slice(extra);
            let first = Cli::command().get_matches_from(&argv);
            let (path, leaf) = leaf(&first);
            let table = read(&file).unwrap();
            let defaults = file_defaults(&file, &table, leaf).unwrap();
            let matches = with_defaults(Cli::command(), &path, &defaults).get_matches_from(&argv);
            match Cli::from_arg_matches(&matches).unwrap().command {
                crate::cli::Command::Serve(args) => args,
                _ => unreachable!(),
            }
        };
        let from_file = parse(&[]);
        assert_eq!(from_file.requests.max_body_bytes, 2048);
        assert_eq!(from_file.server.allowed_hosts, ["a.test", "b.test"]);
        assert!(!from_file.tools.hide_forbidden_tools);
        assert_eq!(from_file.requests.request_timeout_secs, 60, "the default");
        let flagged = parse(&["--max-body-bytes", "4096", "--hide-forbidden-tools"]);
        assert_eq!(flagged.requests.max_body_bytes, 4096);
        assert!(flagged.tools.hide_forbidden_tools);

        std::fs::write(&file, "max_body_bytes = \"lots\"\n").unwrap();
        let table = read(&file).unwrap();
        let first = Cli::command().get_matches_from(["portcullis", "serve", "--config", config]);
        let (path, leaf) = leaf(&first);
        let defaults = file_defaults(&file, &table, leaf).unwrap();
        let error = with_defaults(Cli::command(), &path, &defaults)
            .try_get_matches_from(["portcullis", "serve", "--config", config])
            .unwrap_err();
        let message = bad_value(&file, &error).to_string();
        assert!(
            message.contains("'lots'") && message.contains("--max-body-bytes"),
            "{message}"
        );

        std::fs::write(&file, "max_body_byte = 1\n").unwrap();
        let table = read(&file).unwrap();
        let error = file_defaults(&file, &table, leaf).unwrap_err().to_string();
        assert!(error.contains("unknown key `max_body_byte`"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
