//! Flags + environment → one validated `Config`. Defaults and validation live here only.

use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::cli::Cli;
use crate::filter::Filter;
use crate::metrics::TagOptions;
use crate::metrics::tags::{self, TagSource};

pub const DEFAULT_PREFIX: &str = "ecs_task";
pub const DEFAULT_STATSD_HOST: &str = "127.0.0.1";
pub const DEFAULT_STATSD_PORT: u16 = 8125;
pub const DEFAULT_INTERVAL_SECS: f64 = 60.0;
pub const DEFAULT_TIMEOUT_SECS: f64 = 5.0;
pub const DEFAULT_MAX_AGE_SECS: f64 = 600.0;
/// All of a run's metadata requests, retries and backoff included.
pub const DEFAULT_FETCH_BUDGET_SECS: f64 = 30.0;
/// More samples than this over one interval would hammer the endpoint (the ECS agent
/// rate-limits it per instance).
pub const MAX_SAMPLES: usize = 1000;
/// Largest UDP datagram that crosses a 1500-byte MTU path without fragmentation (Datadog's
/// recommended `dogstatsd_buffer_size` for UDP).
pub const UDP_MAX_DATAGRAM: usize = 1432;

/// The endpoint variables, in the order they are tried: v4 first (it has more data), then v3.
/// (Vector swaps these; see its issue 12917.)
pub const ENDPOINT_VARS: [&str; 2] = [
    "ECS_CONTAINER_METADATA_URI_V4",
    "ECS_CONTAINER_METADATA_URI",
];

/// The smallest `--max-packet-size`: the StatsD default (and cadence's buffer), which every
/// server reads whole and which holds any line ecs-statsd normally sends.
pub const MIN_PACKET_SIZE: usize = 512;

/// Largest datagram on a Unix socket: the Datadog agent's `dogstatsd_buffer_size`.
pub const UNIX_MAX_DATAGRAM: usize = 8192;
pub const DEFAULT_EMF_NAMESPACE: &str = "ECS/ContainerMetrics";

#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    Udp {
        host: String,
        port: u16,
    },
    /// A Unix datagram socket (the Datadog agent's `DD_DOGSTATSD_SOCKET`).
    Unix {
        path: PathBuf,
    },
    /// `--dry-run`: the lines on stdout.
    Stdout,
}

impl Destination {
    fn default_packet_size(&self) -> usize {
        match self {
            Destination::Unix { .. } => UNIX_MAX_DATAGRAM,
            _ => UDP_MAX_DATAGRAM,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Format {
    /// DogStatsD lines to `destination`.
    Statsd,
    /// Prometheus text exposition format on stdout.
    Prometheus,
    /// CloudWatch Embedded Metric Format documents on stdout.
    Emf { namespace: String },
}

/// How StatsD lines carry tags (`--tag-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagFormat {
    /// `name:value|g|#key:value,...` (DogStatsD).
    Dogstatsd,
    /// No tag section: the tags that tell series apart are name segments
    /// (`ecs_task.web.eth0.network_rx_bytes_total`), for servers without tags.
    Graphite,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Endpoint base URL (no trailing `/`) or capture directory.
    pub metadata_url: String,
    pub destination: Destination,
    pub max_packet_size: usize,
    pub format: Format,
    pub tag_format: TagFormat,
    /// Tags on every line: unified service tagging, `DD_TAGS`, `--tag`, `DD_ENTITY_ID`.
    /// Sanitized; an empty value is a bare tag.
    pub constant_tags: Vec<(String, String)>,
    pub origin_detection: bool,
    pub timestamps: bool,
    pub capture: Option<PathBuf>,
    /// `--output-file`: what would go to stdout is written to this file, atomically.
    pub output_file: Option<PathBuf>,
    pub prefix: String,
    pub interval: Duration,
    pub filter: Filter,
    /// `None` with `--no-cache`.
    pub cache_file: Option<PathBuf>,
    pub timeout: Duration,
    /// Bound on all of a run's fetching (retries and backoff included).
    pub fetch_budget: Duration,
    pub log_level: LevelFilter,
    /// Stats samples per run (≥ 2), spread evenly over `interval`.
    pub samples: usize,
    /// `--since-last-run`: where the previous run's sample is kept, beside the cache.
    pub state_file: Option<PathBuf>,
    pub max_age: Duration,
    pub tags: TagOptions,
    /// Settings that were corrected or dropped (a user tag breaking Datadog's rules), for the
    /// caller to log once the logger is set up.
    pub warnings: Vec<String>,
}

impl Config {
    /// Resolve flags over environment over defaults. `env` returns a variable's value; empty
    /// values count as unset.
    pub fn resolve(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let pick = |flag: Option<String>, var: &str| flag.or_else(|| env(var));

        let metadata_url = cli
            .metadata_url
            .clone()
            .or_else(|| ENDPOINT_VARS.iter().find_map(|v| env(v)))
            .ok_or_else(|| {
                format!(
                    "no metadata endpoint: --metadata-url is not given and neither {} nor {} is \
                     set; run inside an ECS task, or pass --metadata-url with a URL or a \
                     capture directory",
                    ENDPOINT_VARS[0], ENDPOINT_VARS[1]
                )
            })?;

        let destination = if cli.dry_run {
            Destination::Stdout
        } else {
            destination(&cli, &env)?
        };
        let max_packet_size = match cli
            .max_packet_size
            .clone()
            .or_else(|| env("MAX_PACKET_SIZE"))
        {
            None => destination.default_packet_size(),
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (MIN_PACKET_SIZE..=65_507).contains(n))
                .ok_or_else(|| {
                    format!(
                        "invalid packet size {raw:?} (--max-packet-size / MAX_PACKET_SIZE): \
                         give {MIN_PACKET_SIZE} to 65507 bytes"
                    )
                })?,
        };
        let format = match pick(cli.format.clone(), "OUTPUT_FORMAT")
            .as_deref()
            .map(str::trim)
        {
            None | Some("statsd") | Some("dogstatsd") => Format::Statsd,
            Some("prometheus") => Format::Prometheus,
            Some("emf") => {
                let namespace = pick(cli.emf_namespace.clone(), "EMF_NAMESPACE")
                    .unwrap_or_else(|| DEFAULT_EMF_NAMESPACE.to_string());
                validate_namespace(&namespace)?;
                Format::Emf { namespace }
            }
            Some(other) => {
                return Err(format!(
                    "invalid format {other:?} (--format / OUTPUT_FORMAT): use statsd, \
                     prometheus or emf"
                ));
            }
        };
        let output_file = output_file(&cli, &format, &env)?;
        let tag_format = match pick(cli.tag_format.clone(), "TAG_FORMAT")
            .as_deref()
            .map(str::trim)
        {
            None | Some("dogstatsd") => TagFormat::Dogstatsd,
            Some("graphite") => TagFormat::Graphite,
            Some(other) => {
                return Err(format!(
                    "invalid tag format {other:?} (--tag-format / TAG_FORMAT): use dogstatsd or \
                     graphite"
                ));
            }
        };
        if tag_format == TagFormat::Graphite {
            let datadog_only = [
                (cli.origin_detection, "--origin-detection (the |c: field)"),
                (cli.timestamps, "--timestamps (the |T field)"),
                (format != Format::Statsd, "--format prometheus or emf"),
            ];
            if let Some((_, what)) = datadog_only.iter().find(|(on, _)| *on) {
                return Err(format!(
                    "--tag-format graphite (TAG_FORMAT) is plain StatsD and cannot be used with \
                     {what}: drop one of them"
                ));
            }
        }
        let prefix = pick(cli.prefix, "STATSD_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into());
        validate_prefix(&prefix)?;

        let interval = seconds(
            pick(cli.interval, "INTERVAL"),
            DEFAULT_INTERVAL_SECS,
            "interval (--interval / INTERVAL)",
            true,
        )?;
        let timeout = seconds(
            pick(cli.timeout, "HTTP_TIMEOUT"),
            DEFAULT_TIMEOUT_SECS,
            "timeout (--timeout / HTTP_TIMEOUT)",
            false,
        )?;

        let fetch_budget = seconds(
            pick(cli.fetch_budget.clone(), "FETCH_BUDGET"),
            DEFAULT_FETCH_BUDGET_SECS,
            "fetch budget (--fetch-budget / FETCH_BUDGET)",
            false,
        )?;

        let include = pick(cli.include, "INCLUDE");
        let exclude = pick(cli.exclude, "EXCLUDE");
        let filter = Filter::new(include.as_deref(), exclude.as_deref());

        let cache_file = if cli.no_cache {
            None
        } else {
            Some(
                pick(cli.cache_file, "CACHE_FILE")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| default_cache_file(&env)),
            )
        };

        let samples = match pick(cli.samples, "SAMPLES") {
            None => 2,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (2..=MAX_SAMPLES).contains(n))
                .ok_or_else(|| {
                    format!(
                        "invalid samples {raw:?} (--samples / SAMPLES): give 2 to {MAX_SAMPLES}"
                    )
                })?,
        };
        let max_age = seconds(
            pick(cli.max_age, "MAX_AGE"),
            DEFAULT_MAX_AGE_SECS,
            "max age (--max-age / MAX_AGE)",
            false,
        )?;
        let state_file = match (cli.since_last_run, &cache_file) {
            (false, _) => None,
            (true, Some(cache)) => {
                let name = cache
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("metadata.json");
                Some(cache.with_file_name(format!("{name}.last-sample")))
            }
            (true, None) => {
                return Err(
                    "--since-last-run keeps its sample beside the metadata cache: \
                            drop --no-cache"
                        .to_string(),
                );
            }
        };
        let tags = TagOptions {
            identity: !cli.no_identity_tags,
            task_arn: cli.tag_task_arn,
            container_id: cli.tag_container_id,
        };
        let (constant_tags, warnings) =
            tags::user_tags(&raw_user_tags(&cli.tag, &env), &tags::built_in_keys(tags));

        let log_level = match pick(cli.log_level, "LOG_LEVEL") {
            Some(level) => parse_level(&level).ok_or_else(|| {
                format!(
                    "invalid log level {level:?} (--log-level / LOG_LEVEL): \
                     use error, warn, info, debug, trace or off"
                )
            })?,
            // RUST_LOG may hold filter directives (`ecs_statsd=debug`): take the last level.
            None => env("RUST_LOG")
                .and_then(|v| parse_level(v.rsplit(['=', ',']).next().unwrap_or("")))
                .unwrap_or(LevelFilter::Warn),
        };

        Ok(Config {
            metadata_url: metadata_url.trim().to_string(),
            destination,
            max_packet_size,
            format,
            tag_format,
            constant_tags,
            origin_detection: cli.origin_detection,
            timestamps: cli.timestamps,
            capture: cli.capture.map(PathBuf::from),
            output_file,
            prefix,
            interval,
            filter,
            cache_file,
            timeout,
            fetch_budget,
            log_level,
            samples,
            state_file,
            max_age,
            tags,
            warnings,
        })
    }
}

/// Where DogStatsD lines go; the first rule that applies wins (docs/configuration.md "Where the lines go"):
/// 1. `--statsd-socket`, or `--statsd-host`/`--statsd-port` (the other half from
///    `STATSD_HOST`/`STATSD_PORT` or the default);
/// 2. `DD_DOGSTATSD_URL` (`udp://host:port`, `unix:///path`, `unixgram:///path`);
/// 3. `DD_AGENT_HOST` with `DD_DOGSTATSD_PORT` (default 8125);
/// 4. `STATSD_HOST`/`STATSD_PORT` (the ancestor's variables);
/// 5. 127.0.0.1:8125.
fn destination(cli: &Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Destination, String> {
    if let Some(path) = cli.statsd_socket.as_deref() {
        return Ok(Destination::Unix {
            path: PathBuf::from(path),
        });
    }
    let udp =
        |host: Option<String>, port: Option<String>, what: &str| -> Result<Destination, String> {
            let port = match port {
                None => DEFAULT_STATSD_PORT,
                Some(p) => parse_port(&p)
                    .ok_or_else(|| format!("invalid StatsD port {p:?} ({what}): give 1-65535"))?,
            };
            let host = host.unwrap_or_else(|| DEFAULT_STATSD_HOST.to_string());
            Ok(Destination::Udp {
                host: host.trim().to_string(),
                port,
            })
        };
    if cli.statsd_host.is_some() || cli.statsd_port.is_some() {
        let host = cli.statsd_host.clone().or_else(|| env("STATSD_HOST"));
        let port = cli.statsd_port.clone().or_else(|| env("STATSD_PORT"));
        return udp(host, port, "--statsd-port / STATSD_PORT");
    }
    if let Some(url) = env("DD_DOGSTATSD_URL") {
        return parse_dogstatsd_url(url.trim());
    }
    if let Some(host) = env("DD_AGENT_HOST") {
        return udp(Some(host), env("DD_DOGSTATSD_PORT"), "DD_DOGSTATSD_PORT");
    }
    udp(
        env("STATSD_HOST"),
        env("STATSD_PORT"),
        "--statsd-port / STATSD_PORT",
    )
}

/// `--output-file` / `OUTPUT_FILE`, for output that would go to stdout: DogStatsD lines are
/// printed only with `--dry-run`, so without it there is nothing to write.
fn output_file(
    cli: &Cli,
    format: &Format,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<PathBuf>, String> {
    let Some(path) = cli.output_file.clone().or_else(|| env("OUTPUT_FILE")) else {
        return Ok(None);
    };
    if path.trim().is_empty() {
        return Err("empty --output-file: give the path of the file to write".into());
    }
    if *format == Format::Statsd && !cli.dry_run {
        return Err(format!(
            "--output-file / OUTPUT_FILE {path:?} holds what a run prints, and a statsd run \
             sends its lines instead: add --dry-run, or use --format prometheus or emf"
        ));
    }
    Ok(Some(PathBuf::from(path)))
}

fn parse_port(raw: &str) -> Option<u16> {
    raw.trim().parse::<u16>().ok().filter(|&p| p > 0)
}

/// `udp://host:port` (IPv6 in brackets), `unix:///path` or `unixgram:///path`, as the
/// Datadog client libraries read `DD_DOGSTATSD_URL`.
fn parse_dogstatsd_url(url: &str) -> Result<Destination, String> {
    let bad = |why: &str| {
        format!(
            "invalid DD_DOGSTATSD_URL {url:?}: {why}; use udp://host:port, unix:///path or \
             unixgram:///path"
        )
    };
    if let Some(path) = url
        .strip_prefix("unix://")
        .or_else(|| url.strip_prefix("unixgram://"))
    {
        if !path.starts_with('/') {
            return Err(bad("the socket path must be absolute"));
        }
        return Ok(Destination::Unix {
            path: PathBuf::from(path),
        });
    }
    let Some(address) = url.strip_prefix("udp://") else {
        return Err(bad("unknown scheme"));
    };
    let address = address.trim_end_matches('/');
    // `[::1]:8125`, `host:8125`, `host`, `[::1]`.
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("unclosed ["))?;
        (host, after.strip_prefix(':'))
    } else {
        match address.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None => DEFAULT_STATSD_PORT,
        Some(p) => parse_port(p).ok_or_else(|| bad("the port must be 1-65535"))?,
    };
    Ok(Destination::Udp {
        host: host.to_string(),
        port,
    })
}

/// The user's tags as typed, in order of precedence (the first value of a key wins): each
/// `--tag`, then `DD_ENV`/`DD_SERVICE`/`DD_VERSION` as `env:`, `service:`, `version:`
/// (unified service tagging, which Datadog ranks above `DD_TAGS`), then `DD_TAGS` and
/// `DATADOG_TAGS` (comma or space separated), then `DD_ENTITY_ID` as `dd.internal.entity_id:`.
fn raw_user_tags(
    flags: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Vec<(TagSource, String)> {
    let mut raw: Vec<(TagSource, String)> = flags.iter().map(|t| ("--tag", t.clone())).collect();
    for (var, key) in [
        ("DD_ENV", "env"),
        ("DD_SERVICE", "service"),
        ("DD_VERSION", "version"),
    ] {
        if let Some(value) = env(var) {
            raw.push((var, format!("{key}:{}", value.trim())));
        }
    }
    for var in ["DD_TAGS", "DATADOG_TAGS"] {
        if let Some(list) = env(var) {
            raw.extend(list.split([',', ' ']).map(|t| (var, t.to_string())));
        }
    }
    if let Some(id) = env("DD_ENTITY_ID") {
        raw.push((
            "DD_ENTITY_ID",
            format!("dd.internal.entity_id:{}", id.trim()),
        ));
    }
    raw
}

/// CloudWatch namespaces (PutMetricData): 1-255 ASCII letters, digits and `. - _ / # :` and
/// space, at least one non-space, not starting with `:`, and not `AWS/...` (reserved for AWS
/// services).
fn validate_namespace(namespace: &str) -> Result<(), String> {
    let why = if !(1..=255).contains(&namespace.len()) {
        Some("1 to 255 characters")
    } else if !namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        Some("only ASCII letters, digits and . - _ / # : space")
    } else if namespace.trim().is_empty() {
        Some("at least one character that is not a space")
    } else if namespace.starts_with(':') {
        Some("not starting with ':'")
    } else if namespace.starts_with("AWS/") {
        Some("not starting with AWS/, which CloudWatch reserves for AWS services")
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(format!(
            "invalid EMF namespace {namespace:?} (--emf-namespace / EMF_NAMESPACE): {why}, \
             e.g. ECS/ContainerMetrics"
        )),
    }
}

fn seconds(
    raw: Option<String>,
    default: f64,
    what: &str,
    zero_ok: bool,
) -> Result<Duration, String> {
    let Some(raw) = raw else {
        return Ok(Duration::from_secs_f64(default));
    };
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| format!("invalid {what} {raw:?}: give a number of seconds, e.g. 60 or 0.5"))?;
    // A day is far beyond any sensible value and keeps Duration arithmetic safe.
    let ok = secs.is_finite() && (0.0..=86_400.0).contains(&secs) && (zero_ok || secs > 0.0);
    if !ok {
        let low = if zero_ok { "0" } else { "more than 0" };
        return Err(format!(
            "invalid {what} {raw:?}: give {low} to 86400 seconds"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_level(raw: &str) -> Option<LevelFilter> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "warning" => Some(LevelFilter::Warn),
        "critical" | "fatal" => Some(LevelFilter::Error),
        other => other.parse().ok(),
    }
}

/// Datadog's limit on a metric name, in characters.
pub const MAX_METRIC_NAME_CHARS: usize = 200;

/// DogStatsD metric names: ASCII letters, digits, `_` and `.`, starting with a letter, no
/// empty segment, and every `<prefix>.<name>` within Datadog's 200 characters.
fn validate_prefix(prefix: &str) -> Result<(), String> {
    let what = format!("invalid prefix {prefix:?} (--prefix / STATSD_PREFIX)");
    let ok = prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !ok {
        return Err(format!(
            "{what}: use ASCII letters, digits, '_' and '.', starting with a letter, e.g. ecs_task"
        ));
    }
    if prefix.split('.').any(str::is_empty) {
        return Err(format!(
            "{what}: a '.' must separate two non-empty parts (no '..', no '.' at the end)"
        ));
    }
    let longest = crate::metrics::catalog::CATALOG
        .iter()
        .map(|d| d.name.len())
        .max()
        .unwrap_or(0);
    let room = MAX_METRIC_NAME_CHARS - 1 - longest;
    if prefix.len() > room {
        return Err(format!(
            "{what}: {} characters; at most {room}, so that every metric name \
             (<prefix>.<name>, the longest name being {longest} characters) stays within \
             Datadog's {MAX_METRIC_NAME_CHARS}",
            prefix.len()
        ));
    }
    Ok(())
}

/// A per-user location: `$XDG_CACHE_HOME`, else `~/.cache`, else a per-uid folder in the
/// temporary directory (a non-root container often has no writable home).
fn default_cache_file(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let dir = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| {
            env("HOME")
                .filter(|h| h != "/")
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .map(|d| d.join("ecs-statsd"))
        .unwrap_or_else(|| {
            std::env::temp_dir().join(format!("ecs-statsd-{}", crate::cache::uid()))
        });
    dir.join("metadata.json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(cli: Cli, vars: &[(&str, &str)]) -> Result<Config, String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::resolve(cli, &|k| map.get(k).cloned())
    }

    #[test]
    fn endpoint_prefers_flag_then_v4_then_v3() {
        let both = [
            ("ECS_CONTAINER_METADATA_URI_V4", "http://v4"),
            ("ECS_CONTAINER_METADATA_URI", "http://v3"),
        ];
        assert_eq!(
            resolve(Cli::default(), &both).unwrap().metadata_url,
            "http://v4"
        );
        assert_eq!(
            resolve(Cli::default(), &both[1..]).unwrap().metadata_url,
            "http://v3"
        );
        let flag = Cli {
            metadata_url: Some("http://flag".into()),
            ..Cli::default()
        };
        assert_eq!(resolve(flag, &both).unwrap().metadata_url, "http://flag");
        let err = resolve(Cli::default(), &[]).unwrap_err();
        assert!(
            err.contains("ECS_CONTAINER_METADATA_URI_V4")
                && err.contains("ECS_CONTAINER_METADATA_URI ")
        );
    }

    #[test]
    fn ancestor_variables_and_defaults() {
        let c = resolve(
            Cli::default(),
            &[
                ("ECS_CONTAINER_METADATA_URI", "http://x"),
                ("STATSD_HOST", "agent"),
                ("STATSD_PORT", "9125"),
                ("INTERVAL", "2.5"),
                ("INCLUDE", "a,b"),
                ("EXCLUDE", "c"),
                ("LOG_LEVEL", "WARNING"),
            ],
        )
        .unwrap();
        assert_eq!(
            c.destination,
            Destination::Udp {
                host: "agent".into(),
                port: 9125
            }
        );
        assert_eq!(c.interval, Duration::from_millis(2500));
        assert_eq!(c.filter.include, ["a", "b"]);
        assert_eq!(c.filter.exclude, ["c"]);
        assert_eq!(c.log_level, LevelFilter::Warn);
        assert_eq!(c.prefix, "ecs_task");

        let d = resolve(
            Cli::default(),
            &[("ECS_CONTAINER_METADATA_URI", "http://x")],
        )
        .unwrap();
        assert_eq!(
            d.destination,
            Destination::Udp {
                host: "127.0.0.1".into(),
                port: 8125
            }
        );
        assert_eq!(d.interval, Duration::from_secs(60));
        assert_eq!(d.timeout, Duration::from_secs(5));
        assert_eq!(d.log_level, LevelFilter::Warn);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        let url = ("ECS_CONTAINER_METADATA_URI", "http://x");
        for (var, value) in [
            ("STATSD_PORT", "0"),
            ("STATSD_PORT", "70000"),
            ("INTERVAL", "-1"),
            ("INTERVAL", "NaN"),
            ("INTERVAL", "soon"),
            ("HTTP_TIMEOUT", "0"),
            ("LOG_LEVEL", "loud"),
            ("STATSD_PREFIX", "ecs task"),
            ("STATSD_PREFIX", "9x"),
        ] {
            let err = resolve(Cli::default(), &[url, (var, value)]).unwrap_err();
            assert!(err.contains(var), "{var}={value}: {err}");
        }
    }

    #[test]
    fn flags_beat_environment() {
        let cli = Cli {
            interval: Some("0".into()),
            statsd_port: Some("1234".into()),
            ..Cli::default()
        };
        let c = resolve(
            cli,
            &[
                ("ECS_CONTAINER_METADATA_URI", "http://x"),
                ("INTERVAL", "9"),
                ("STATSD_PORT", "9"),
            ],
        )
        .unwrap();
        assert_eq!(c.interval, Duration::ZERO);
        assert_eq!(
            c.destination,
            Destination::Udp {
                host: "127.0.0.1".into(),
                port: 1234
            }
        );
    }

    #[test]
    fn destination_rules_in_order() {
        let url = ("ECS_CONTAINER_METADATA_URI", "http://x");
        let udp = |host: &str, port: u16| Destination::Udp {
            host: host.into(),
            port,
        };
        let dest = |cli: Cli, vars: &[(&str, &str)]| {
            let mut all = vec![url];
            all.extend_from_slice(vars);
            resolve(cli, &all).unwrap().destination
        };
        // 5. Nothing set.
        assert_eq!(dest(Cli::default(), &[]), udp("127.0.0.1", 8125));
        // 4. The ancestor's variables.
        assert_eq!(
            dest(
                Cli::default(),
                &[("STATSD_HOST", "s"), ("STATSD_PORT", "1")]
            ),
            udp("s", 1)
        );
        // 3. DD_AGENT_HOST (port default 8125) beats 4.
        let agent = [
            ("DD_AGENT_HOST", "a"),
            ("STATSD_HOST", "s"),
            ("STATSD_PORT", "1"),
        ];
        assert_eq!(dest(Cli::default(), &agent), udp("a", 8125));
        assert_eq!(
            dest(
                Cli::default(),
                &[("DD_AGENT_HOST", "a"), ("DD_DOGSTATSD_PORT", "2")]
            ),
            udp("a", 2)
        );
        // 2. DD_DOGSTATSD_URL beats 3.
        let with_url = [("DD_DOGSTATSD_URL", "udp://u:3"), ("DD_AGENT_HOST", "a")];
        assert_eq!(dest(Cli::default(), &with_url), udp("u", 3));
        // 1. Flags beat 2; a missing half comes from STATSD_* or the default.
        let port_only = Cli {
            statsd_port: Some("4".into()),
            ..Cli::default()
        };
        assert_eq!(
            dest(
                port_only,
                &[("DD_DOGSTATSD_URL", "udp://u:3"), ("STATSD_HOST", "s")]
            ),
            udp("s", 4)
        );
        let socket = Cli {
            statsd_socket: Some("/run/dsd.sock".into()),
            ..Cli::default()
        };
        assert_eq!(
            dest(socket, &with_url),
            Destination::Unix {
                path: "/run/dsd.sock".into()
            }
        );
        // --dry-run wins over everything.
        let dry = Cli {
            dry_run: true,
            ..Cli::default()
        };
        assert_eq!(dest(dry, &with_url), Destination::Stdout);
    }

    #[test]
    fn dogstatsd_url_forms() {
        let unix = |p: &str| Destination::Unix { path: p.into() };
        assert_eq!(
            parse_dogstatsd_url("udp://10.0.0.1:9125").unwrap(),
            Destination::Udp {
                host: "10.0.0.1".into(),
                port: 9125
            }
        );
        assert_eq!(
            parse_dogstatsd_url("udp://[::1]:9125").unwrap(),
            Destination::Udp {
                host: "::1".into(),
                port: 9125
            }
        );
        assert_eq!(
            parse_dogstatsd_url("udp://agent").unwrap(),
            Destination::Udp {
                host: "agent".into(),
                port: 8125
            }
        );
        assert_eq!(
            parse_dogstatsd_url("unix:///var/run/datadog/dsd.socket").unwrap(),
            unix("/var/run/datadog/dsd.socket")
        );
        assert_eq!(
            parse_dogstatsd_url("unixgram:///tmp/d.sock").unwrap(),
            unix("/tmp/d.sock")
        );
        for bad in [
            "tcp://x:1",
            "udp://",
            "udp://x:0",
            "udp://x:http",
            "unix://relative",
            "udp://[::1",
        ] {
            assert!(
                parse_dogstatsd_url(bad)
                    .unwrap_err()
                    .contains("DD_DOGSTATSD_URL"),
                "{bad}"
            );
        }
    }

    #[test]
    fn output_file_needs_something_printed() {
        let url = ("ECS_CONTAINER_METADATA_URI", "http://x");
        let err = resolve(Cli::default(), &[url, ("OUTPUT_FILE", "/tmp/x.prom")]).unwrap_err();
        assert!(err.contains("--dry-run"), "{err}");
        let prometheus = resolve(
            Cli {
                output_file: Some("/tmp/x.prom".into()),
                ..Cli::default()
            },
            &[url, ("OUTPUT_FORMAT", "prometheus")],
        )
        .unwrap();
        assert_eq!(prometheus.output_file, Some(PathBuf::from("/tmp/x.prom")));
        let dry = Cli {
            dry_run: true,
            ..Cli::default()
        };
        let dry = resolve(dry, &[url, ("OUTPUT_FILE", "/tmp/x.txt")]).unwrap();
        assert_eq!(dry.output_file, Some(PathBuf::from("/tmp/x.txt")));
    }

    #[test]
    fn constant_tags_are_parsed_and_sanitized() {
        let c = resolve(
            Cli {
                tag: vec!["k|ey:v,al".into(), "bare".into(), ":".into()],
                ..Cli::default()
            },
            &[
                ("ECS_CONTAINER_METADATA_URI", "http://x"),
                ("DD_ENV", "prod"),
                ("DD_TAGS", "a:1,b:2 c"),
                ("DD_ENTITY_ID", "id-1"),
            ],
        )
        .unwrap();
        let tags: Vec<(&str, &str)> = c
            .constant_tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        // --tag first, then unified service tagging, DD_TAGS, DD_ENTITY_ID (precedence order).
        assert_eq!(
            tags,
            [
                ("k_ey", "v_al"),
                ("bare", ""),
                ("env", "prod"),
                ("a", "1"),
                ("b", "2"),
                ("c", ""),
                ("dd.internal.entity_id", "id-1")
            ]
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("\":\" from --tag dropped"));
    }

    #[test]
    fn datadog_tag_rules_with_one_warning_each() {
        let long = format!("note:{}", "v".repeat(300));
        let c = resolve(
            Cli {
                tag: vec![
                    "env:cli".into(),
                    "_x:1".into(),
                    "9z".into(),
                    "container_name:evil".into(),
                    "task_family:evil".into(),
                    "team:a".into(),
                    "team:a".into(),
                    long,
                ],
                ..Cli::default()
            },
            &[
                ("ECS_CONTAINER_METADATA_URI", "http://x"),
                ("DD_ENV", "prod"),
                ("DD_TAGS", "team:a,team:b,__name__:x"),
            ],
        )
        .unwrap();
        let keys: Vec<&str> = c.constant_tags.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["env", "team", "note"]);
        assert_eq!(c.constant_tags[0].1, "cli");
        let (key, value) = &c.constant_tags[2];
        assert_eq!(key.len() + 1 + value.len(), tags::MAX_TAG_CHARS);
        let expected = [
            ("\"_x:1\" from --tag", "start with a letter"),
            ("\"9z\" from --tag", "start with a letter"),
            (
                "\"container_name:evil\" from --tag",
                "sets the \"container_name\" tag itself",
            ),
            (
                "\"task_family:evil\" from --tag",
                "sets the \"task_family\" tag itself",
            ),
            ("\"env:prod\" from DD_ENV", "already \"cli\""),
            ("\"team:b\" from DD_TAGS", "already \"a\""),
            ("\"__name__:x\" from DD_TAGS", "start with a letter"),
        ];
        assert_eq!(c.warnings.len(), expected.len(), "{:#?}", c.warnings);
        for (warning, (what, why)) in c.warnings.iter().zip(expected) {
            assert!(warning.contains(what) && warning.contains(why), "{warning}");
        }
        // Identity keys are the user's when ecs-statsd does not set them.
        let plain = resolve(
            Cli {
                tag: vec!["task_family:mine".into(), "container_name:no".into()],
                no_identity_tags: true,
                ..Cli::default()
            },
            &[("ECS_CONTAINER_METADATA_URI", "http://x")],
        )
        .unwrap();
        assert_eq!(
            plain.constant_tags,
            [("task_family".to_string(), "mine".to_string())]
        );
    }

    fn usage_error(cli: Cli, vars: &[(&str, &str)]) -> String {
        let mut all = vec![("ECS_CONTAINER_METADATA_URI", "http://x")];
        all.extend_from_slice(vars);
        resolve(cli, &all).unwrap_err()
    }

    #[test]
    fn prefix_rules() {
        let longest = crate::metrics::catalog::CATALOG
            .iter()
            .map(|d| d.name.len())
            .max()
            .unwrap();
        let fits = format!("a{}", "b".repeat(MAX_METRIC_NAME_CHARS - 2 - longest));
        let c = resolve(
            Cli {
                prefix: Some(fits.clone()),
                ..Cli::default()
            },
            &[("ECS_CONTAINER_METADATA_URI", "http://x")],
        )
        .unwrap();
        assert_eq!(c.prefix.len() + 1 + longest, MAX_METRIC_NAME_CHARS);
        for (bad, why) in [
            (format!("{fits}b"), "stays within Datadog's 200"),
            ("a".repeat(250), "at most"),
            ("a..b".into(), "non-empty parts"),
            ("a.".into(), "non-empty parts"),
            (".a".into(), "starting with a letter"),
            ("_a".into(), "starting with a letter"),
        ] {
            let err = usage_error(
                Cli {
                    prefix: Some(bad.clone()),
                    ..Cli::default()
                },
                &[],
            );
            assert!(
                err.contains("--prefix") && err.contains(why),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn packet_size_and_namespace_rules() {
        let size = |raw: &str| {
            let cli = Cli {
                max_packet_size: Some(raw.into()),
                ..Cli::default()
            };
            resolve(cli, &[("ECS_CONTAINER_METADATA_URI", "http://x")])
        };
        assert_eq!(size("512").unwrap().max_packet_size, MIN_PACKET_SIZE);
        assert!(size("511").unwrap_err().contains("give 512 to 65507"));
        assert!(size("64").unwrap_err().contains("--max-packet-size"));

        let emf = |ns: &str| {
            resolve(
                Cli {
                    format: Some("emf".into()),
                    emf_namespace: Some(ns.into()),
                    ..Cli::default()
                },
                &[("ECS_CONTAINER_METADATA_URI", "http://x")],
            )
        };
        for ok in [
            "ECS/ContainerMetrics",
            "My App:1 #x",
            "aws/mine",
            &"n".repeat(255),
        ] {
            assert!(emf(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("AWS/ECS", "reserves"),
            (":x", "':'"),
            ("   ", "not a space"),
            ("caf\u{e9}", "only ASCII"),
            ("a|b", "only ASCII"),
            (&"n".repeat(256), "1 to 255"),
        ] {
            let err = emf(bad).unwrap_err();
            assert!(
                err.contains("--emf-namespace") && err.contains(why),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn tag_format_graphite_is_plain_statsd_only() {
        let c = resolve(
            Cli::default(),
            &[
                ("ECS_CONTAINER_METADATA_URI", "http://x"),
                ("TAG_FORMAT", "graphite"),
            ],
        )
        .unwrap();
        assert_eq!(c.tag_format, TagFormat::Graphite);
        assert_eq!(
            resolve(
                Cli::default(),
                &[("ECS_CONTAINER_METADATA_URI", "http://x")]
            )
            .unwrap()
            .tag_format,
            TagFormat::Dogstatsd
        );
        let graphite = || Cli {
            tag_format: Some("graphite".into()),
            ..Cli::default()
        };
        for (cli, why) in [
            (
                Cli {
                    origin_detection: true,
                    ..graphite()
                },
                "--origin-detection",
            ),
            (
                Cli {
                    timestamps: true,
                    ..graphite()
                },
                "--timestamps",
            ),
            (
                Cli {
                    format: Some("emf".into()),
                    ..graphite()
                },
                "--format prometheus or emf",
            ),
        ] {
            let err = usage_error(cli, &[]);
            assert!(
                err.contains("--tag-format graphite") && err.contains(why),
                "{err}"
            );
        }
        let err = usage_error(Cli::default(), &[("TAG_FORMAT", "influx")]);
        assert!(err.contains("TAG_FORMAT"), "{err}");
    }
}
