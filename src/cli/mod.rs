//! Every setting, once: flag, environment variables, default, parser and help, in one table.
//! From it come the argh struct ([`Cli`], every field optional), `--help` ([`help`]), the
//! typed look-ups the configuration uses ([`settings`]) and so the error messages, which name
//! the flag or the variable the value came from. docs/configuration.md's flag table is checked
//! against it.

use std::path::PathBuf;
use std::time::Duration;

use argh::{ArgsInfo, FromArgs};
use log::LevelFilter;

pub mod argv;
pub mod setting;

use crate::metrics::selection::MetricList;
use crate::output::TagFormat;
use setting::{self as parse, Fallback, FormatName, Row};

/// Declares the argh struct, one [`Row`] per flag in [`SETTINGS`] (module [`row`]), and one
/// typed [`Setting`](crate::cli::setting::Setting) per flag that has a parser (module
/// [`settings`]), from one list.
macro_rules! settings {
    (
        about { $(#[doc = $about:literal])* }
        $(
            $(#[doc = $help:literal])*
            $field:ident: $kind:ident $fty:ident $(<$inner:ident>)? = $long:literal
                $(short $short:tt)?
                $(<$value:literal>)?
                $(repeatable $repeatable:literal)?
                $(env [$($env:literal),*])?
                $(default($fallback:expr))?
                $(parse $parse:path => $ty:ty)?
            ;
        )*
    ) => {
        $(#[doc = $about])*
        #[derive(FromArgs, ArgsInfo, Debug, Default)]
        #[argh(help_triggers("-h", "--help", "help"))]
        pub struct Cli {
            $(
                $(#[doc = $help])*
                #[argh($kind, long = $long)]
                $(#[argh(short = $short)])?
                pub $field: $fty $(<$inner>)?,
            )*
        }

        /// The headline of `--help`, one doc-comment line each.
        const ABOUT: &[&str] = &[$($about),*];

        /// Each flag's row, named after its field of [`Cli`].
        #[allow(non_upper_case_globals)]
        pub mod row {
            use super::*;
            $(
                pub static $field: Row = Row {
                    flag: concat!("--", $long),
                    short: first(&[$($short)?]),
                    value: first(&[$($value)?]),
                    repeatable: false $(|| $repeatable)?,
                    env: &[$($($env),*)?],
                    fallback: match first(&[$($fallback)?]) {
                        Some(fallback) => fallback,
                        None => Fallback::None,
                    },
                    help: &[$($help),*],
                };
            )*
        }

        /// Every flag, in `--help` order.
        pub static SETTINGS: &[&Row] = &[$(&row::$field),*];

        /// The typed look-up of each flag that has a value, named after its field of [`Cli`].
        #[allow(non_upper_case_globals)]
        pub mod settings {
            use super::*;
            $( typed_setting!($field $(, $parse, $ty)?); )*

            /// Each default its own parser rejects (none, as a test checks).
            #[cfg(test)]
            pub fn bad_defaults() -> Vec<String> {
                let mut bad = Vec::new();
                $($(
                    let _ = stringify!($parse);
                    if let Fallback::Value(_) = $field.row.fallback {
                        bad.extend($field.default_value().err());
                    }
                )?)*
                bad
            }
        }
    };
}

macro_rules! typed_setting {
    ($field:ident) => {};
    ($field:ident, $parse:path, $ty:ty) => {
        pub static $field: crate::cli::setting::Setting<$ty> = crate::cli::setting::Setting {
            row: &super::row::$field,
            parse: $parse,
            read: |cli| cli.$field.as_deref(),
        };
    };
}

/// The first item, if any (the table's optional columns).
const fn first<T: Copy>(items: &[T]) -> Option<T> {
    match items {
        [item, ..] => Some(*item),
        [] => None,
    }
}

settings! {
    about {
    /// Read the ECS Task Metadata Endpoint once, take stats samples --interval apart (two by
    /// default; --samples for more, one with --since-last-run), and send container- and
    /// task-level CPU, memory, block IO, network and process metrics as DogStatsD or plain
    /// StatsD gauges, or print them as Prometheus text or CloudWatch EMF.
    ///
    /// Every flag may also be given by the environment variable named in its help. Exit status:
    /// 0 sent; 1 bad usage or configuration; 2 the metadata endpoint failed; 3 sending failed;
    /// 128+N stopped by signal N before the first sample.
    }

    /// task metadata endpoint URL, or a capture directory with task.json and stats*.json to
    /// replay
    metadata_url: option Option<String> = "metadata-url" <"URL|DIR">
        env ["ECS_CONTAINER_METADATA_URI_V4", "ECS_CONTAINER_METADATA_URI"]
        default(Fallback::Required)
        parse parse::metadata_location => String;

    /// the DogStatsD host (docs/configuration.md gives the order with DD_DOGSTATSD_URL and
    /// DD_AGENT_HOST)
    statsd_host: option Option<String> = "statsd-host" <"HOST"> env ["STATSD_HOST"]
        default(Fallback::Value("127.0.0.1")) parse parse::text => String;

    /// the DogStatsD UDP port
    statsd_port: option Option<String> = "statsd-port" <"PORT"> env ["STATSD_PORT"]
        default(Fallback::Value("8125")) parse parse::port => u16;

    /// send to this DogStatsD Unix datagram socket instead of UDP (as
    /// DD_DOGSTATSD_URL=unix:///PATH)
    statsd_socket: option Option<String> = "statsd-socket" <"PATH">
        parse parse::path => PathBuf;

    /// largest datagram to send: 512 to 8192 bytes for DogStatsD (the Datadog agent reads no
    /// more of a datagram), to 65507 with --tag-format graphite
    max_packet_size: option Option<String> = "max-packet-size" <"BYTES"> env ["MAX_PACKET_SIZE"]
        default(Fallback::Described("1432 for UDP, 8192 for a Unix socket"))
        parse parse::packet_size => usize;

    /// constant tag key:value added to every line; repeatable
    tag: option Vec<String> = "tag" <"KEY:VALUE"> repeatable true
        env ["DD_TAGS", "DATADOG_TAGS"];

    /// how --format statsd carries tags: dogstatsd (|#key:value) or graphite (no tags: the
    /// container, interface and CPU go into the metric name, for plain StatsD servers such as
    /// collectd, statsite or Graphite's statsd)
    tag_format: option Option<String> = "tag-format" <"FORMAT"> env ["TAG_FORMAT"]
        default(Fallback::Value("dogstatsd")) parse parse::tag_format => TagFormat;

    /// add the DogStatsD container field (|c:<docker id>) of the container each series
    /// describes, so a Datadog agent enriches it with that container's tags (Datadog only)
    origin_detection: switch bool = "origin-detection";

    /// add the DogStatsD timestamp field (|T<unix seconds>) of the last sample (agent 7.40+;
    /// Datadog only)
    timestamps: switch bool = "timestamps";

    /// output format: statsd (DogStatsD), prometheus (text exposition on stdout) or emf
    /// (CloudWatch Embedded Metric Format on stdout)
    format: option Option<String> = "format" <"FORMAT"> env ["OUTPUT_FORMAT"]
        default(Fallback::Value("statsd")) parse parse::format => FormatName;

    /// the CloudWatch namespace for --format emf
    emf_namespace: option Option<String> = "emf-namespace" <"NS"> env ["EMF_NAMESPACE"]
        default(Fallback::Value("ECS/ContainerMetrics")) parse parse::namespace => String;

    /// write the task.json and stats*.json the run read into this directory, in the replay
    /// layout (for bug reports; replay with --metadata-url DIR)
    capture: option Option<String> = "capture" <"DIR"> parse parse::path => PathBuf;

    /// metric name prefix
    prefix: option Option<String> = "prefix" <"NAME"> env ["STATSD_PREFIX"]
        default(Fallback::Value("ecs_task")) parse parse::prefix => String;

    /// seconds the stats samples are spread over (with two, the time between them), decimals
    /// allowed, 0 for back to back
    interval: option Option<String> = "interval" <"SECS"> env ["INTERVAL"]
        default(Fallback::Value("60")) parse parse::wait => Duration;

    /// comma-separated container names: send series only for these
    include: option Option<String> = "include" <"a,b"> env ["INCLUDE"]
        parse parse::text => String;

    /// comma-separated container names to leave out, in addition to ECS internal containers
    /// and this tool's own container
    exclude: option Option<String> = "exclude" <"a,b"> env ["EXCLUDE"]
        parse parse::text => String;

    /// comma-separated metric names (without the prefix) or families (cpu, percpu, memory,
    /// disk, network, task): send only these; the exporter_* self-telemetry is always sent
    metrics: option Option<String> = "metrics" <"a,b"> env ["METRICS"]
        parse parse::metric_list => MetricList;

    /// comma-separated metric names or families to leave out (Datadog bills each series
    /// as a custom metric; the exporter_* self-telemetry cannot be left out)
    skip_metrics: option Option<String> = "skip-metrics" <"a,b"> env ["SKIP_METRICS"]
        parse parse::metric_list => MetricList;

    /// task metadata cache file
    cache_file: option Option<String> = "cache-file" <"PATH"> env ["CACHE_FILE"]
        default(Fallback::Described(
            "$XDG_CACHE_HOME/ecs-statsd/metadata.json, else ~/.cache/ecs-statsd/metadata.json, \
             else $TMPDIR/ecs-statsd-<uid>/metadata.json"
        ))
        parse parse::path => PathBuf;

    /// do not use or write the metadata cache
    no_cache: switch bool = "no-cache";

    /// seconds allowed for each metadata request (0.001 to 86400)
    timeout: option Option<String> = "timeout" <"SECS"> env ["HTTP_TIMEOUT"]
        default(Fallback::Value("5")) parse parse::bound => Duration;

    /// seconds allowed for all of a run's metadata requests, retries and backoff included
    /// (0.001 to 86400)
    fetch_budget: option Option<String> = "fetch-budget" <"SECS"> env ["FETCH_BUDGET"]
        default(Fallback::Value("30")) parse parse::bound => Duration;

    /// print the DogStatsD lines to stdout instead of sending them
    dry_run: switch bool = "dry-run";

    /// write what the run would print to stdout (--format prometheus or emf, or --dry-run)
    /// to this file instead, replacing it atomically, also after a failed run
    output_file: option Option<String> = "output-file" <"PATH"> env ["OUTPUT_FILE"]
        parse parse::file => PathBuf;

    /// stats samples to take, spread evenly over the interval (at least 2); with 3 or more,
    /// _median and _max variants of the CPU and working-set series are sent too
    samples: option Option<String> = "samples" <"N"> env ["SAMPLES"]
        default(Fallback::Value("2")) parse parse::samples => usize;

    /// take one sample and compute deltas against the sample the previous run stored beside
    /// the cache (falls back to two samples when that one is unusable)
    since_last_run: switch bool = "since-last-run";

    /// oldest previous sample --since-last-run will use, in seconds (0.001 to 86400)
    max_age: option Option<String> = "max-age" <"SECS"> env ["MAX_AGE"]
        default(Fallback::Value("600")) parse parse::bound => Duration;

    /// the ECS agent on EC2 is older than 1.100.0, which divides the task ENI's counters among
    /// the containers of an awsvpc task: the task's network total is then one share times the
    /// containers (ECS_AGENT_DIVIDES_NETWORK=true does the same; Windows always divides)
    ecs_agent_divides_network: switch bool = "ecs-agent-divides-network"
        env ["ECS_AGENT_DIVIDES_NETWORK"];

    /// send only the ancestor's tags (container_name, cpu, interface), not the task and
    /// container identity tags
    no_identity_tags: switch bool = "no-identity-tags";

    /// add the task_arn tag (high cardinality: one value per task)
    tag_task_arn: switch bool = "tag-task-arn";

    /// add the container_id tag (high cardinality: one value per container)
    tag_container_id: switch bool = "tag-container-id";

    /// error, warn, info, debug, trace or off (RUST_LOG may hold filter directives: its last
    /// level counts)
    log_level: option Option<String> = "log-level" <"LEVEL"> env ["LOG_LEVEL", "RUST_LOG"]
        default(Fallback::Value("warn")) parse parse::log_level => LevelFilter;

    /// print the version and exit
    version: switch bool = "version" short 'V';
}

/// Help lines wrap here, the flags in a column of this width (argh's layout).
const WRAP: usize = 80;
const FLAG_COLUMN: usize = 20;

/// `--help`, from the table: the usage line, the headline, then each flag with its help and
/// its variables and default.
pub fn help(command: &str) -> String {
    let usage: Vec<String> = SETTINGS
        .iter()
        .map(|row| {
            let name = match row.short {
                Some(short) => format!("-{short}"),
                None => row.flag.to_string(),
            };
            let many = if row.repeatable { "..." } else { "" };
            match row.value {
                Some(value) => format!("[{name} {value}{many}]"),
                None => format!("[{name}]"),
            }
        })
        .collect();
    let mut out = format!("Usage: {command} {}\n", usage.join(" "));
    for paragraph in ABOUT.split(|line| line.trim().is_empty()) {
        let words: Vec<&str> = paragraph.iter().map(|l| l.trim()).collect();
        out.push('\n');
        out.push_str(&wrap(&words.join(" "), 0).join("\n"));
        out.push('\n');
    }
    out.push_str("\nOptions:\n");
    for row in SETTINGS {
        let mut text = row.help();
        let notes: Vec<String> = [
            row.env_list().map(|env| format!("env: {env}")),
            match row.fallback {
                Fallback::None => None,
                Fallback::Required => Some("required".to_string()),
                Fallback::Value(text) | Fallback::Described(text) => {
                    Some(format!("default {text}"))
                }
            },
        ]
        .into_iter()
        .flatten()
        .collect();
        if !notes.is_empty() {
            text = format!("{text} [{}]", notes.join("; "));
        }
        let name = match row.short {
            Some(short) => format!("-{short}, {}", row.flag),
            None => row.flag.to_string(),
        };
        option_lines(&mut out, &name, &text);
    }
    option_lines(&mut out, "-h, --help, help", "display usage information");
    out.trim_end().to_string()
}

/// `  --flag          help...`, the help in its column (on the next line when the flag is
/// too long for the column).
fn option_lines(out: &mut String, name: &str, text: &str) {
    let mut first = format!("  {name}");
    let lines = wrap(text, FLAG_COLUMN);
    if first.len() + 1 > FLAG_COLUMN {
        out.push_str(&first);
        out.push('\n');
        first = String::new();
    }
    for (i, line) in lines.iter().enumerate() {
        let head = if i == 0 { first.as_str() } else { "" };
        out.push_str(&format!("{head:<FLAG_COLUMN$}{line}\n"));
    }
}

/// Words into lines of at most [`WRAP`] characters once indented by `indent`.
fn wrap(text: &str, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.chars().count() + 1 + word.chars().count() > WRAP {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::collections::HashMap;

    #[test]
    fn every_default_is_read_by_its_own_parser() {
        assert_eq!(settings::bad_defaults(), Vec::<String>::new());
        assert_eq!(
            settings::interval.default_value(),
            Ok(Duration::from_secs(60))
        );
        assert_eq!(settings::statsd_port.default_value(), Ok(8125));
    }

    #[test]
    fn the_table_is_argh_s_flag_list_and_help_shows_every_row() {
        let argh: Vec<&str> = Cli::get_args_info().flags.iter().map(|f| f.long).collect();
        let table: Vec<&str> = SETTINGS.iter().map(|row| row.flag).collect();
        assert_eq!(
            argh.iter().filter(|f| **f != "--help").collect::<Vec<_>>(),
            table.iter().collect::<Vec<_>>()
        );
        let help = help("ecs-statsd");
        // Unwrapped, so that a note split over two lines still counts.
        let flat = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for row in SETTINGS {
            let line = help
                .lines()
                .find(|l| l.trim_start().split([' ', ',']).any(|w| w == row.flag));
            assert!(line.is_some(), "{} in --help", row.flag);
            assert!(flat.contains(&row.help()), "{}: {}", row.flag, row.help());
            if let Some(env) = row.env_list() {
                assert!(
                    flat.contains(&format!("env: {env}")),
                    "{}: env: {env}",
                    row.flag
                );
            }
            if let Fallback::Value(text) | Fallback::Described(text) = row.fallback {
                assert!(
                    flat.contains(&format!("default {text}")),
                    "{}: default {text}",
                    row.flag
                );
            }
        }
        assert!(
            help.lines()
                .all(|l| l.starts_with("Usage:") || l.chars().count() <= WRAP),
            "{help}"
        );
    }

    /// docs/configuration.md's flag table has one row per setting, with the same flag, value
    /// name, variables and default.
    #[test]
    fn the_docs_flag_table_agrees_with_the_settings() {
        let docs = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/configuration.md"
        ))
        .unwrap();
        let start = docs
            .find("| flag | env | default | meaning |")
            .expect("the flag table");
        let plain = |cell: &str| cell.replace("\\|", "|").replace('`', "").trim().to_string();
        let mut documented: HashMap<String, (String, String)> = HashMap::new();
        for line in docs[start..]
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
        {
            // `\|` inside a cell is a pipe, not a column.
            let cells: Vec<String> = line
                .replace("\\|", "\u{0}")
                .split('|')
                .map(|c| plain(&c.replace('\u{0}', "\\|")))
                .collect();
            documented.insert(cells[1].clone(), (cells[2].clone(), cells[3].clone()));
        }
        for row in SETTINGS {
            let flag = match (row.short, row.value) {
                (Some(short), _) => format!("-{short}, {}", row.flag),
                (None, Some(value)) => format!("{} {value}", row.flag),
                (None, None) => row.flag.to_string(),
            };
            let Some((env, default)) = documented.remove(&flag) else {
                panic!("docs/configuration.md has no row for {flag}");
            };
            assert_eq!(env, row.env_list().unwrap_or_default(), "{flag}: env");
            assert_eq!(
                default,
                row.default_text().unwrap_or_default(),
                "{flag}: default"
            );
        }
        assert!(
            documented.is_empty(),
            "documented but no setting: {documented:?}"
        );
    }

    fn resolve(args: &[(&str, &str)], vars: &[(&str, &str)]) -> Result<Config, String> {
        let mut cli = Cli::default();
        for (flag, value) in args {
            let field = match *flag {
                "--interval" => &mut cli.interval,
                "--timeout" => &mut cli.timeout,
                "--fetch-budget" => &mut cli.fetch_budget,
                "--max-age" => &mut cli.max_age,
                "--samples" => &mut cli.samples,
                "--max-packet-size" => &mut cli.max_packet_size,
                "--statsd-port" => &mut cli.statsd_port,
                "--format" => &mut cli.format,
                "--tag-format" => &mut cli.tag_format,
                "--prefix" => &mut cli.prefix,
                "--emf-namespace" => &mut cli.emf_namespace,
                "--log-level" => &mut cli.log_level,
                other => panic!("{other}"),
            };
            *field = Some(value.to_string());
        }
        let mut all: HashMap<&str, &str> = vars.iter().copied().collect();
        all.insert("ECS_CONTAINER_METADATA_URI", "http://x");
        Config::resolve(cli, &|name| all.get(name).map(|v| v.to_string()))
    }

    /// A bad value is reported under the name it was given by: the flag, or the variable.
    #[test]
    fn an_error_names_the_source_used() {
        for (row, bad) in [
            (&row::interval, "soon"),
            (&row::timeout, "0"),
            (&row::fetch_budget, "1e-320"),
            (&row::max_age, "-1"),
            (&row::samples, "1"),
            (&row::max_packet_size, "64"),
            (&row::statsd_port, "0"),
            (&row::format, "xml"),
            (&row::tag_format, "influx"),
            (&row::prefix, "9z"),
            (&row::log_level, "loud"),
        ] {
            let var = row.env[0];
            let by_flag = resolve(&[(row.flag, bad)], &[]).unwrap_err();
            assert!(
                by_flag.starts_with(&format!("invalid {} {bad:?}: ", row.flag)),
                "{by_flag}"
            );
            assert!(!by_flag.contains(var), "{by_flag}");
            let by_var = resolve(&[], &[(var, bad)]).unwrap_err();
            assert!(
                by_var.starts_with(&format!("invalid {var} {bad:?}: ")),
                "{by_var}"
            );
            assert!(!by_var.contains(row.flag), "{by_var}");
            // The flag wins over a good variable, and names itself.
            let both = resolve(&[(row.flag, bad)], &[(var, "1")]);
            assert_eq!(both.unwrap_err(), by_flag);
        }
        let emf = resolve(&[("--format", "emf")], &[("EMF_NAMESPACE", "AWS/x")]).unwrap_err();
        assert!(
            emf.starts_with("invalid EMF_NAMESPACE \"AWS/x\": "),
            "{emf}"
        );
        let graphite =
            resolve(&[], &[("TAG_FORMAT", "graphite"), ("OUTPUT_FORMAT", "emf")]).unwrap_err();
        assert!(
            graphite.starts_with("TAG_FORMAT=graphite is plain StatsD"),
            "{graphite}"
        );
        assert!(graphite.contains("OUTPUT_FORMAT=emf"), "{graphite}");
    }
}
