//! Command-line flags, as typed. Defaults, environment variables and validation live in
//! `config.rs`, so every flag here is optional.

use argh::FromArgs;

/// Read the ECS Task Metadata Endpoint once, take two stats samples --interval apart, and send
/// container- and task-level CPU, memory, block IO and network gauges to DogStatsD.
///
/// Every flag may also be given by the environment variable named in its help. Exit status:
/// 0 sent; 1 bad usage or configuration; 2 the metadata endpoint failed; 3 sending failed;
/// 128+N stopped by signal N before the first sample.
#[derive(FromArgs, Debug, Default)]
pub struct Cli {
    /// task metadata endpoint URL, or a capture directory with task.json and stats*.json to
    /// replay [env: ECS_CONTAINER_METADATA_URI_V4, then ECS_CONTAINER_METADATA_URI]
    #[argh(option)]
    pub metadata_url: Option<String>,

    /// the DogStatsD host [env: STATSD_HOST; default 127.0.0.1]
    #[argh(option)]
    pub statsd_host: Option<String>,

    /// the DogStatsD UDP port [env: STATSD_PORT; default 8125]
    #[argh(option)]
    pub statsd_port: Option<String>,

    /// metric name prefix [env: STATSD_PREFIX; default ecs_task]
    #[argh(option)]
    pub prefix: Option<String>,

    /// seconds between the two stats samples, decimals allowed, 0 for back to back
    /// [env: INTERVAL; default 60]
    #[argh(option)]
    pub interval: Option<String>,

    /// comma-separated container names: send series only for these [env: INCLUDE]
    #[argh(option)]
    pub include: Option<String>,

    /// comma-separated container names to leave out, in addition to ECS internal containers
    /// and this tool's own container [env: EXCLUDE]
    #[argh(option)]
    pub exclude: Option<String>,

    /// task metadata cache file [env: CACHE_FILE; default $XDG_CACHE_HOME/ecs-statsd/metadata.json,
    /// else ~/.cache/ecs-statsd/metadata.json, else $TMPDIR/ecs-statsd-<uid>/metadata.json]
    #[argh(option)]
    pub cache_file: Option<String>,

    /// do not use or write the metadata cache
    #[argh(switch)]
    pub no_cache: bool,

    /// seconds allowed for each metadata request [env: HTTP_TIMEOUT; default 5]
    #[argh(option)]
    pub timeout: Option<String>,

    /// print the DogStatsD lines to stdout instead of sending them
    #[argh(switch)]
    pub dry_run: bool,

    /// error, warn, info, debug or trace [env: LOG_LEVEL, then RUST_LOG; default error]
    #[argh(option)]
    pub log_level: Option<String>,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}
