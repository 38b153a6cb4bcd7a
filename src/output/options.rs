//! What the outputs need to know, and nothing else: the configuration builds these from flags
//! and variables, the outputs only read them. The rules on names an output writes (prefix,
//! EMF namespace) live here too, beside the outputs that need them.

use std::path::PathBuf;

use crate::metrics::catalog::CATALOG;

/// Largest UDP datagram that crosses a 1500-byte MTU path without fragmentation (Datadog's
/// recommended `dogstatsd_buffer_size` for UDP).
pub const UDP_MAX_DATAGRAM: usize = 1432;
/// Largest datagram on a Unix socket: the Datadog agent's `dogstatsd_buffer_size`.
pub const UNIX_MAX_DATAGRAM: usize = super::line_limit::AGENT_BUFFER_SIZE;
/// The smallest `--max-packet-size`: the StatsD default (and cadence's buffer), which every
/// server reads whole and which holds any line ecs-statsd normally sends.
pub const MIN_PACKET_SIZE: usize = 512;
/// The largest: a UDP payload over IPv4 (65535 - 8 UDP - 20 IP header bytes), for plain
/// StatsD servers (`--tag-format graphite`); DogStatsD stops at the agent's buffer,
/// [`UNIX_MAX_DATAGRAM`].
pub const MAX_PACKET_SIZE: usize = 65_507;
/// Datadog's limit on a metric name, in characters.
pub const MAX_METRIC_NAME_CHARS: usize = 200;

/// Everything an output reads.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub format: Format,
    pub destination: Destination,
    pub max_packet_size: usize,
    pub tag_format: TagFormat,
    pub origin_detection: bool,
    pub timestamps: bool,
    /// Metric name prefix (`ecs_task`), checked by [`check_prefix`].
    pub prefix: String,
    /// `--output-file`: what would go to stdout is written to this file, atomically.
    pub output_file: Option<PathBuf>,
    /// Which setting chose the destination (`DD_AGENT_HOST`, `--statsd-host and
    /// --statsd-port`, `the default`), for the error that names where sending failed.
    pub chosen_by: String,
    /// Keys of the user's tags (`--tag`, `DD_TAGS`, ...): a DogStatsD line over the agent's
    /// buffer leaves the last of them out.
    pub user_tag_keys: Vec<String>,
}

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

impl std::fmt::Display for Destination {
    /// `UDP 127.0.0.1:8125`, `Unix socket /var/run/datadog/dsd.socket`, `stdout`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Udp { host, port } if host.contains(':') => {
                write!(f, "UDP [{host}]:{port}")
            }
            Destination::Udp { host, port } => write!(f, "UDP {host}:{port}"),
            Destination::Unix { path } => write!(f, "Unix socket {}", path.display()),
            Destination::Stdout => f.write_str("stdout"),
        }
    }
}

impl Destination {
    /// The datagram size when `--max-packet-size` is not given.
    pub fn default_packet_size(&self) -> usize {
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

/// DogStatsD metric names: ASCII letters, digits, `_` and `.`, starting with a letter, no
/// empty segment, and every `<prefix>.<name>` within Datadog's 200 characters. The error
/// says why, for the caller to name the setting.
pub fn check_prefix(prefix: &str) -> Result<(), String> {
    let ok = prefix.starts_with(|c: char| c.is_ascii_alphabetic())
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if !ok {
        return Err(
            "use ASCII letters, digits, '_' and '.', starting with a letter, e.g. ecs_task".into(),
        );
    }
    if prefix.split('.').any(str::is_empty) {
        return Err(
            "a '.' must separate two non-empty parts (no '..', no '.' at the end)".to_string(),
        );
    }
    let longest = longest_metric_name();
    let room = MAX_METRIC_NAME_CHARS - 1 - longest;
    if prefix.len() > room {
        return Err(format!(
            "{} characters; at most {room}, so that every metric name (<prefix>.<name>, the \
             longest name being {longest} characters) stays within Datadog's \
             {MAX_METRIC_NAME_CHARS}",
            prefix.len()
        ));
    }
    Ok(())
}

/// The longest metric name without the prefix.
pub fn longest_metric_name() -> usize {
    CATALOG.iter().map(|d| d.name.len()).max().unwrap_or(0)
}

/// CloudWatch namespaces (PutMetricData): 1-255 ASCII letters, digits and `. - _ / # :` and
/// space, at least one non-space, not starting with `:`, and not `AWS/...` (reserved for AWS
/// services). The error says why, for the caller to name the setting.
pub fn check_namespace(namespace: &str) -> Result<(), String> {
    let why = if !(1..=255).contains(&namespace.len()) {
        "1 to 255 characters"
    } else if !namespace
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c))
    {
        "only ASCII letters, digits and . - _ / # : space"
    } else if namespace.trim().is_empty() {
        "at least one character that is not a space"
    } else if namespace.starts_with(':') {
        "not starting with ':'"
    } else if namespace.starts_with("AWS/") {
        "not starting with AWS/, which CloudWatch reserves for AWS services"
    } else {
        return Ok(());
    };
    Err(format!("{why}, e.g. ECS/ContainerMetrics"))
}
