//! What a run measures and when: the interval, the number of samples, `--since-last-run`
//! and which containers get series.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Env;
use super::filter::Filter;
use crate::cli::{Cli, settings};
use crate::metrics::Selection;
use crate::state;

#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub interval: Duration,
    pub samples: usize,
    pub max_age: Duration,
    /// `--since-last-run`: where the previous run's sample is kept, beside the cache.
    pub state_file: Option<PathBuf>,
    pub filter: Filter,
    /// `--metrics` / `--skip-metrics`.
    pub selection: Selection,
}

pub fn resolve(cli: &Cli, env: Env, cache_file: Option<&Path>) -> Result<Sampling, String> {
    let interval = settings::interval.get_or_default(cli, env)?;
    let include = settings::include.get(cli, env)?;
    let exclude = settings::exclude.get(cli, env)?;
    let samples = settings::samples.get_or_default(cli, env)?;
    let max_age = settings::max_age.get_or_default(cli, env)?;
    let only = settings::metrics.get(cli, env)?;
    let skip_given = settings::skip_metrics.given(cli, env);
    let skip = settings::skip_metrics.get(cli, env)?;
    let selection = Selection::new(only, skip).map_err(|why| match skip_given {
        Some(given) => format!("invalid {} {:?}: {why}", given.source, given.raw),
        None => why,
    })?;
    let state_file = match (cli.since_last_run, cache_file) {
        (false, _) => None,
        (true, Some(cache)) => Some(state::file_beside(cache)),
        (true, None) => {
            return Err(
                "--since-last-run keeps its sample beside the metadata cache: drop --no-cache"
                    .to_string(),
            );
        }
    };
    Ok(Sampling {
        interval,
        samples,
        max_age,
        state_file,
        filter: Filter::new(include.as_deref(), exclude.as_deref()),
        selection,
    })
}
