//! Flags + environment → one validated [`Config`]. The settings themselves (flag, variables,
//! default, parser, help) are the table in [`crate::cli`]; this module resolves them, one file
//! per concern: [`fetch`] (endpoint, bounds, cache), [`sampling`] (interval, samples, which
//! containers and metrics), [`output`] (the options the outputs get) and [`tags`]. Each file's
//! result is a group of [`Config`], the type its consumer takes, so nothing rebuilds it.

mod agent;
pub mod fetch;
pub mod filter;
mod output;
pub mod sampling;
pub mod tags;

use log::LevelFilter;

use crate::cli::{Cli, settings};

/// The environment as the settings read it: a variable's value, `None` when unset or empty.
pub use crate::cli::setting::Env;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where a run reads (the endpoint or a capture), its bounds and the metadata cache.
    pub fetch: fetch::Fetch,
    /// How it samples, and which containers and metrics it reports.
    pub sampling: sampling::Sampling,
    /// The tags on every series.
    pub tags: tags::Tags,
    /// Everything the outputs read.
    pub output: crate::output::Options,
    /// `--ecs-agent-divides-network`: the ECS agent divides an awsvpc task's ENI counters
    /// among its containers (before 1.100.0 on Linux).
    pub ecs_agent_divides_network: bool,
    pub log_level: LevelFilter,
    /// Settings that were corrected or dropped (a user tag breaking Datadog's rules), for the
    /// caller to log once the logger is set up.
    pub warnings: Vec<String>,
}

impl Config {
    /// [`Config::resolve`] over the process environment. A variable that is read but is not
    /// valid UTF-8 is a usage error naming it (as a non-UTF-8 argument is), never "unset".
    pub fn from_process_env(cli: Cli) -> Result<Config, String> {
        let not_unicode = std::cell::RefCell::new(Vec::new());
        let resolved = Config::resolve(cli, &|name| match std::env::var(name) {
            Ok(value) => Some(value),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => {
                not_unicode.borrow_mut().push(name.to_string());
                None
            }
        });
        if let Some(name) = not_unicode.borrow().first() {
            return Err(format!(
                "invalid environment variable {name}: its value is not valid UTF-8; set it \
                 again with a UTF-8 value or unset it"
            ));
        }
        resolved
    }

    /// Resolve flags over environment over defaults. `env` returns a variable's value; empty
    /// values count as unset.
    pub fn resolve(cli: Cli, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let env: Env = &env;
        let fetch = fetch::resolve(&cli, env)?;
        let mut output_warnings = Vec::new();
        let mut output = output::resolve(&cli, env, &mut output_warnings)?;
        let sampling = sampling::resolve(&cli, env, fetch.cache_file.as_deref())?;
        let (tags, mut warnings) = tags::resolve(&cli, env, &output.format, output.tag_format);
        warnings.extend(output_warnings);
        output.user_tag_keys = tags.constant.iter().map(|(key, _)| key.clone()).collect();
        let log_level = log_level(&cli, env)?;
        // The cache folder is opened (and checked) by a live run: see `cache::open`.
        Ok(Config {
            fetch,
            sampling,
            tags,
            output,
            ecs_agent_divides_network: agent::divides_network(&cli, env)?,
            log_level,
            warnings,
        })
    }
}

/// `--log-level` / `LOG_LEVEL`, else `RUST_LOG`, which may hold filter directives
/// (`ecs_statsd=debug`): its last level counts, and one that is not a level is ignored.
fn log_level(cli: &Cli, env: Env) -> Result<LevelFilter, String> {
    let log_level = &settings::log_level;
    let rust_log = log_level.row.env.last().copied();
    match log_level.given(cli, env) {
        Some(given) if Some(given.source) == rust_log => {
            let last = given.raw.rsplit(['=', ',']).next().unwrap_or("");
            crate::cli::setting::log_level(last).or_else(|_| log_level.default_value())
        }
        Some(given) => log_level.parse_given(&given),
        None => log_level.get_or_default(cli, env),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tags;
    use crate::output::{Destination, MAX_METRIC_NAME_CHARS, MIN_PACKET_SIZE, TagFormat};
    use std::collections::HashMap;
    use std::path::PathBuf;
    use std::time::Duration;

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
            resolve(Cli::default(), &both).unwrap().fetch.metadata_url,
            "http://v4"
        );
        assert_eq!(
            resolve(Cli::default(), &both[1..])
                .unwrap()
                .fetch
                .metadata_url,
            "http://v3"
        );
        let flag = Cli {
            metadata_url: Some("http://flag".into()),
            ..Cli::default()
        };
        assert_eq!(
            resolve(flag, &both).unwrap().fetch.metadata_url,
            "http://flag"
        );
        let err = resolve(Cli::default(), &[]).unwrap_err();
        assert!(
            err.contains("ECS_CONTAINER_METADATA_URI_V4")
                && err.contains("ECS_CONTAINER_METADATA_URI ")
        );
    }

    /// A bad endpoint URL is named by the source actually used: the v3 variable here, not the
    /// flag or the v4 variable.
    #[test]
    fn a_bad_endpoint_url_names_its_source() {
        let err = resolve(
            Cli::default(),
            &[("ECS_CONTAINER_METADATA_URI", "https://169.254.170.2/v3")],
        )
        .unwrap_err();
        assert!(
            err.starts_with("invalid ECS_CONTAINER_METADATA_URI \"https://")
                && err.contains("no TLS support"),
            "{err}"
        );
        let flag = Cli {
            metadata_url: Some("http://127.0.0.1:516780".into()),
            ..Cli::default()
        };
        let err = resolve(flag, &[]).unwrap_err();
        assert!(err.starts_with("invalid --metadata-url \"http://") && err.contains("1-65535"));
        assert!(!err.contains("ECS_CONTAINER_METADATA_URI"), "{err}");
        // A capture directory is any text without a scheme.
        let dir = Cli {
            metadata_url: Some("testdata/parity/ancestor-example".into()),
            ..Cli::default()
        };
        assert!(resolve(dir, &[]).is_ok());
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
            c.output.destination,
            Destination::Udp {
                host: "agent".into(),
                port: 9125
            }
        );
        assert_eq!(c.sampling.interval, Duration::from_millis(2500));
        assert_eq!(c.sampling.filter.include, ["a", "b"]);
        assert_eq!(c.sampling.filter.exclude, ["c"]);
        assert_eq!(c.log_level, LevelFilter::Warn);
        assert_eq!(c.output.prefix, "ecs_task");

        let d = resolve(
            Cli::default(),
            &[("ECS_CONTAINER_METADATA_URI", "http://x")],
        )
        .unwrap();
        assert_eq!(
            d.output.destination,
            Destination::Udp {
                host: "127.0.0.1".into(),
                port: 8125
            }
        );
        assert_eq!(d.sampling.interval, Duration::from_secs(60));
        assert_eq!(d.fetch.timeout, Duration::from_secs(5));
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
            ("HTTP_TIMEOUT", "1e-320"),
            ("FETCH_BUDGET", "1e-320"),
            ("FETCH_BUDGET", "0.0009"),
            ("MAX_AGE", "1e-320"),
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
        assert_eq!(c.sampling.interval, Duration::ZERO);
        assert_eq!(
            c.output.destination,
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
            resolve(cli, &all).unwrap().output.destination
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
        assert_eq!(
            prometheus.output.output_file,
            Some(PathBuf::from("/tmp/x.prom"))
        );
        let dry = Cli {
            dry_run: true,
            ..Cli::default()
        };
        let dry = resolve(dry, &[url, ("OUTPUT_FILE", "/tmp/x.txt")]).unwrap();
        assert_eq!(dry.output.output_file, Some(PathBuf::from("/tmp/x.txt")));
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
            .tags
            .constant
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
        let keys: Vec<&str> = c.tags.constant.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["env", "team", "note"]);
        assert_eq!(c.tags.constant[0].1, "cli");
        let (key, value) = &c.tags.constant[2];
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
            plain.tags.constant,
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
        let longest = crate::output::longest_metric_name();
        let fits = format!("a{}", "b".repeat(MAX_METRIC_NAME_CHARS - 2 - longest));
        let c = resolve(
            Cli {
                prefix: Some(fits.clone()),
                ..Cli::default()
            },
            &[("ECS_CONTAINER_METADATA_URI", "http://x")],
        )
        .unwrap();
        assert_eq!(c.output.prefix.len() + 1 + longest, MAX_METRIC_NAME_CHARS);
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
        assert_eq!(size("512").unwrap().output.max_packet_size, MIN_PACKET_SIZE);
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
        assert_eq!(c.output.tag_format, TagFormat::Graphite);
        assert_eq!(
            resolve(
                Cli::default(),
                &[("ECS_CONTAINER_METADATA_URI", "http://x")]
            )
            .unwrap()
            .output
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
                "--format emf",
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
