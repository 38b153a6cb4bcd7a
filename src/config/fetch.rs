//! Where the metadata comes from and how long fetching it may take: the endpoint (or capture
//! directory), the time bounds, the cache and `--capture`.

use std::path::PathBuf;
use std::time::Duration;

use super::Env;
use crate::cache;
use crate::cli::{Cli, setting};

/// The endpoint variables, in the order they are tried: v4 first (it has more data), then v3
/// (Vector swaps these; see its issue 12917). The table's, named for the endpoint client.
pub static ENDPOINT_VARS: &[&str] = crate::cli::row::metadata_url.env;

pub struct Fetch {
    pub metadata_url: String,
    pub capture: Option<PathBuf>,
    /// `None` with `--no-cache`.
    pub cache_file: Option<PathBuf>,
    pub timeout: Duration,
    pub fetch_budget: Duration,
}

pub fn resolve(cli: &Cli, env: Env) -> Result<Fetch, String> {
    let metadata_url = setting::metadata_url.get(cli, env)?.ok_or_else(|| {
        format!(
            "no metadata endpoint: {} is not given and neither {} is set; run inside an ECS \
             task, or pass {} with a URL or a capture directory",
            setting::metadata_url.row.flag,
            ENDPOINT_VARS.join(" nor "),
            setting::metadata_url.row.flag,
        )
    })?;
    let cache_file = if cli.no_cache {
        None
    } else {
        let default = || cache::default_file(env("XDG_CACHE_HOME"), env("HOME"));
        Some(setting::cache_file.get(cli, env)?.unwrap_or_else(default))
    };
    Ok(Fetch {
        metadata_url,
        capture: setting::capture.get(cli, env)?,
        cache_file,
        timeout: setting::timeout.get_or_default(cli, env)?,
        fetch_budget: setting::fetch_budget.get_or_default(cli, env)?,
    })
}
