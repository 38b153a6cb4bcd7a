//! Flags + environment → one validated `Config`. Defaults and validation live here only.

use std::path::PathBuf;
use std::time::Duration;

use log::LevelFilter;

use crate::cli::Cli;
use crate::filter::Filter;
use crate::metrics::TagOptions;

pub const DEFAULT_PREFIX: &str = "ecs_task";
pub const DEFAULT_STATSD_HOST: &str = "127.0.0.1";
pub const DEFAULT_STATSD_PORT: u16 = 8125;
pub const DEFAULT_INTERVAL_SECS: f64 = 60.0;
pub const DEFAULT_TIMEOUT_SECS: f64 = 5.0;
pub const DEFAULT_MAX_AGE_SECS: f64 = 600.0;
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

#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    Udp {
        host: String,
        port: u16,
    },
    /// `--dry-run`: the lines on stdout.
    Stdout,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Endpoint base URL (no trailing `/`) or capture directory.
    pub metadata_url: String,
    pub destination: Destination,
    pub prefix: String,
    pub interval: Duration,
    pub filter: Filter,
    /// `None` with `--no-cache`.
    pub cache_file: Option<PathBuf>,
    pub timeout: Duration,
    pub log_level: LevelFilter,
    /// Stats samples per run (≥ 2), spread evenly over `interval`.
    pub samples: usize,
    /// `--since-last-run`: where the previous run's sample is kept, beside the cache.
    pub state_file: Option<PathBuf>,
    pub max_age: Duration,
    pub tags: TagOptions,
}

impl Config {
    /// Resolve flags over environment over defaults. `env` returns a variable's value; empty
    /// values count as unset.
    pub fn resolve(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let pick = |flag: Option<String>, var: &str| flag.or_else(|| env(var));

        let metadata_url = cli
            .metadata_url
            .or_else(|| ENDPOINT_VARS.iter().find_map(|v| env(v)))
            .ok_or_else(|| {
                format!(
                    "no metadata endpoint: --metadata-url is not given and neither {} nor {} is \
                     set; run inside an ECS task, or pass --metadata-url with a URL or a \
                     capture directory",
                    ENDPOINT_VARS[0], ENDPOINT_VARS[1]
                )
            })?;

        let destination =
            if cli.dry_run {
                Destination::Stdout
            } else {
                let host = pick(cli.statsd_host, "STATSD_HOST")
                    .unwrap_or_else(|| DEFAULT_STATSD_HOST.to_string());
                let port = match pick(cli.statsd_port, "STATSD_PORT") {
                None => DEFAULT_STATSD_PORT,
                Some(p) => p.trim().parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| {
                    format!("invalid StatsD port {p:?} (--statsd-port / STATSD_PORT): give 1-65535")
                })?,
            };
                Destination::Udp { host, port }
            };

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
                .unwrap_or(LevelFilter::Error),
        };

        Ok(Config {
            metadata_url: metadata_url.trim().to_string(),
            destination,
            prefix,
            interval,
            filter,
            cache_file,
            timeout,
            log_level,
            samples,
            state_file,
            max_age,
            tags,
        })
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

/// DogStatsD metric names: ASCII letters, digits, `_` and `.`, starting with a letter.
fn validate_prefix(prefix: &str) -> Result<(), String> {
    let ok = prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && !prefix.ends_with('.')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid prefix {prefix:?} (--prefix / STATSD_PREFIX): use ASCII letters, digits, \
             '_' and '.', starting with a letter, e.g. ecs_task"
        ))
    }
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
        assert_eq!(d.log_level, LevelFilter::Error);
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
}
