//! Where the metadata comes from and how long fetching it may take: the endpoint (or capture
//! directory), the time bounds, the cache and `--capture`.

use std::path::PathBuf;
use std::time::Duration;

use super::Env;
use crate::cache;
use crate::cli::{Cli, settings};

/// The endpoint variables, in the order they are tried: v4 first (it has more data), then v3
/// (Vector swaps these; see its issue 12917). The table's, named for the error message.
static ENDPOINT_VARS: &[&str] = crate::cli::row::metadata_url.env;

#[derive(Debug, Clone, PartialEq)]
pub struct Fetch {
    pub metadata_url: String,
    pub capture: Option<PathBuf>,
    /// `None` with `--no-cache`.
    pub cache_file: Option<PathBuf>,
    pub timeout: Duration,
    pub fetch_budget: Duration,
}

pub fn resolve(cli: &Cli, env: Env) -> Result<Fetch, String> {
    let metadata_url = settings::metadata_url.get(cli, env)?.ok_or_else(|| {
        format!(
            "no metadata endpoint: {} is not given and neither {} is set; run inside an ECS \
             task, or pass {} with a URL or a capture directory",
            settings::metadata_url.row.flag,
            ENDPOINT_VARS.join(" nor "),
            settings::metadata_url.row.flag,
        )
    })?;
    let cache_file = if cli.no_cache {
        None
    } else {
        let default = || cache::default_file(env("XDG_CACHE_HOME"), env("HOME"));
        Some(settings::cache_file.get(cli, env)?.unwrap_or_else(default))
    };
    Ok(Fetch {
        metadata_url,
        capture: settings::capture.get(cli, env)?,
        cache_file,
        timeout: settings::timeout.get_or_default(cli, env)?,
        fetch_budget: settings::fetch_budget.get_or_default(cli, env)?,
    })
}
