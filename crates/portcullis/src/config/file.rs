//! The configuration file: read as TOML, and which of its tables have no flag.

use std::path::Path;

use toml::Table;

use super::ConfigError;

/// Tables that exist only in the file (their rows have no flag).
pub const FILE_ONLY: [&str; 5] = [
    "clients",
    "identity_providers",
    "policy",
    "rate_limits",
    "upstreams",
];

/// The file as a TOML table.
pub fn read(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(
            "config",
            format!("cannot read {}: {e}", path.display()),
            "give the path of a readable TOML file",
        )
    })?;
    text.parse::<Table>().map_err(|e| {
        ConfigError::new(
            "config",
            format!("{} is not valid: {}", path.display(), e.message()),
            "keys are the flag names with _ (see --help)",
        )
    })
}
