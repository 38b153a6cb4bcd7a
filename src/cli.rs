//! Command-line flags, as typed. Defaults, environment variables and validation live in
//! `config.rs`, so every flag here is optional.

use argh::{ArgsInfo, FromArgs};

/// Read the ECS Task Metadata Endpoint once, take two stats samples --interval apart, and send
/// container- and task-level CPU, memory, block IO and network gauges to DogStatsD.
///
/// Every flag may also be given by the environment variable named in its help. Exit status:
/// 0 sent; 1 bad usage or configuration; 2 the metadata endpoint failed; 3 sending failed;
/// 128+N stopped by signal N before the first sample.
#[derive(FromArgs, ArgsInfo, Debug, Default)]
#[argh(help_triggers("-h", "--help", "help"))]
pub struct Cli {
    /// task metadata endpoint URL, or a capture directory with task.json and stats*.json to
    /// replay [env: ECS_CONTAINER_METADATA_URI_V4, then ECS_CONTAINER_METADATA_URI]
    #[argh(option)]
    pub metadata_url: Option<String>,

    /// the DogStatsD host [env: STATSD_HOST; default 127.0.0.1; docs/configuration.md gives
    /// the order with DD_DOGSTATSD_URL and DD_AGENT_HOST]
    #[argh(option)]
    pub statsd_host: Option<String>,

    /// the DogStatsD UDP port [env: STATSD_PORT; default 8125]
    #[argh(option)]
    pub statsd_port: Option<String>,

    /// send to this DogStatsD Unix datagram socket instead of UDP
    #[argh(option)]
    pub statsd_socket: Option<String>,

    /// largest datagram to send, 512 to 65507 bytes [env: MAX_PACKET_SIZE; default 1432 for
    /// UDP, 8192 for a Unix socket]
    #[argh(option)]
    pub max_packet_size: Option<String>,

    /// constant tag key:value added to every line; repeatable [env: DD_TAGS, DATADOG_TAGS]
    #[argh(option)]
    pub tag: Vec<String>,

    /// how --format statsd carries tags: dogstatsd (|#key:value, default) or graphite (no
    /// tags: the container, interface and CPU go into the metric name, for plain StatsD
    /// servers such as collectd, statsite or Graphite's statsd) [env: TAG_FORMAT]
    #[argh(option)]
    pub tag_format: Option<String>,

    /// add the DogStatsD container field (|c:<docker id>) of the container each series
    /// describes, so a Datadog agent enriches it with that container's tags (Datadog only)
    #[argh(switch)]
    pub origin_detection: bool,

    /// add the DogStatsD timestamp field (|T<unix seconds>) of the last sample (agent 7.40+;
    /// Datadog only)
    #[argh(switch)]
    pub timestamps: bool,

    /// output format: statsd (DogStatsD, default), prometheus (text exposition on stdout) or
    /// emf (CloudWatch Embedded Metric Format on stdout) [env: OUTPUT_FORMAT]
    #[argh(option)]
    pub format: Option<String>,

    /// the CloudWatch namespace for --format emf [env: EMF_NAMESPACE; default ECS/ContainerMetrics]
    #[argh(option)]
    pub emf_namespace: Option<String>,

    /// write the task.json and stats*.json the run read into this directory, in the replay
    /// layout (for bug reports; replay with --metadata-url DIR)
    #[argh(option)]
    pub capture: Option<String>,

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

    /// seconds allowed for all of a run's metadata requests, retries and backoff included
    /// [env: FETCH_BUDGET; default 30]
    #[argh(option)]
    pub fetch_budget: Option<String>,

    /// print the DogStatsD lines to stdout instead of sending them
    #[argh(switch)]
    pub dry_run: bool,

    /// write what the run would print to stdout (--format prometheus or emf, or --dry-run)
    /// to this file instead, replacing it atomically, also after a failed run
    /// [env: OUTPUT_FILE]
    #[argh(option)]
    pub output_file: Option<String>,

    /// stats samples to take, spread evenly over the interval (at least 2); with 3 or more,
    /// _median and _max variants of the CPU and working-set series are sent too
    /// [env: SAMPLES; default 2]
    #[argh(option)]
    pub samples: Option<String>,

    /// take one sample and compute deltas against the sample the previous run stored beside
    /// the cache (falls back to two samples when that one is unusable)
    #[argh(switch)]
    pub since_last_run: bool,

    /// oldest previous sample --since-last-run will use, in seconds [env: MAX_AGE; default 600]
    #[argh(option)]
    pub max_age: Option<String>,

    /// send only the ancestor's tags (container_name, cpu, interface), not the task and
    /// container identity tags
    #[argh(switch)]
    pub no_identity_tags: bool,

    /// add the task_arn tag (high cardinality: one value per task)
    #[argh(switch)]
    pub tag_task_arn: bool,

    /// add the container_id tag (high cardinality: one value per container)
    #[argh(switch)]
    pub tag_container_id: bool,

    /// error, warn, info, debug or trace [env: LOG_LEVEL, then RUST_LOG; default warn]
    #[argh(option)]
    pub log_level: Option<String>,

    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
}
