//! What a setting is: one row of the table in [`crate::cli`] (flag, variables, default, help)
//! and the parser of its value. Looking a setting up names where its value came from, so an
//! error says `--interval` or `INTERVAL`, whichever the user wrote.

use std::fmt::Display;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use log::LevelFilter;

use super::Env;
use crate::cli::Cli;
use crate::output::{self, MAX_PACKET_SIZE, MIN_PACKET_SIZE, TagFormat};

/// What applies when neither the flag nor a variable gives a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Nothing: the setting is off or empty.
    None,
    /// The run cannot go without it.
    Required,
    /// This text, read by the setting's own parser.
    Value(&'static str),
    /// Worked out by the configuration (it depends on other settings); the text says how.
    Described(&'static str),
}

/// One setting as a user meets it: the flag, the variables, the default and the help.
#[derive(Debug)]
pub struct Row {
    /// `--interval`.
    pub flag: &'static str,
    pub short: Option<char>,
    /// What the value is called in the usage line and the docs (`SECS`); `None`: a switch.
    pub value: Option<&'static str>,
    /// Given more than once; then every variable is read too, not only the first set.
    pub repeatable: bool,
    /// The variables read when the flag is not given, first set first.
    pub env: &'static [&'static str],
    pub fallback: Fallback,
    /// The help, one doc-comment line each.
    pub help: &'static [&'static str],
}

impl Row {
    /// The help as one line.
    pub fn help(&self) -> String {
        self.help
            .iter()
            .map(|line| line.trim())
            .filter(|line| !line.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `INTERVAL`; `LOG_LEVEL, then RUST_LOG` (the first set wins); `DD_TAGS, DATADOG_TAGS`
    /// (a repeatable setting reads them all).
    pub fn env_list(&self) -> Option<String> {
        let joint = if self.repeatable { ", " } else { ", then " };
        (!self.env.is_empty()).then(|| self.env.join(joint))
    }

    /// The default as shown to users.
    pub fn default_text(&self) -> Option<&'static str> {
        match self.fallback {
            Fallback::None => None,
            Fallback::Required => Some("(required)"),
            Fallback::Value(text) | Fallback::Described(text) => Some(text),
        }
    }
}

/// A setting with a value: its row, the parser of its text, and its field of [`Cli`].
pub struct Setting<T: 'static> {
    pub row: &'static Row,
    /// Text → value, or why the text is wrong (without naming the setting: the caller does).
    pub parse: fn(&str) -> Result<T, String>,
    pub read: fn(&Cli) -> Option<&str>,
}

/// A value as given, and who gave it: the flag, or the variable.
#[derive(Debug, Clone, PartialEq)]
pub struct Given {
    pub raw: String,
    /// `--interval` or `INTERVAL`.
    pub source: &'static str,
}

impl Given {
    /// As the user wrote it: `--tag-format graphite` or `TAG_FORMAT=graphite`.
    pub fn as_written(&self) -> String {
        if self.source.starts_with('-') {
            format!("{} {}", self.source, self.raw)
        } else {
            format!("{}={}", self.source, self.raw)
        }
    }
}

impl<T> Setting<T> {
    /// The flag's text, else the first variable set (an empty variable counts as unset).
    pub fn given(&self, cli: &Cli, env: Env) -> Option<Given> {
        if let Some(raw) = (self.read)(cli) {
            return Some(Given {
                raw: raw.to_string(),
                source: self.row.flag,
            });
        }
        self.row
            .env
            .iter()
            .find_map(|&var| env(var).map(|raw| Given { raw, source: var }))
    }

    /// The given value parsed; `None` when not given. The error names the source used.
    pub fn get(&self, cli: &Cli, env: Env) -> Result<Option<T>, String> {
        self.given(cli, env)
            .map(|g| self.parse_given(&g))
            .transpose()
    }

    /// The given value, else the default.
    pub fn get_or_default(&self, cli: &Cli, env: Env) -> Result<T, String> {
        match self.get(cli, env)? {
            Some(value) => Ok(value),
            None => self.default_value(),
        }
    }

    /// The default, read by the setting's own parser.
    pub fn default_value(&self) -> Result<T, String> {
        match self.row.fallback {
            Fallback::Value(text) => (self.parse)(text)
                .map_err(|why| format!("invalid default {text:?} of {}: {why}", self.row.flag)),
            _ => Err(format!("{} has no default value: give one", self.row.flag)),
        }
    }

    /// `invalid --interval "soon": give a number of seconds, e.g. 60 or 0.5`.
    pub fn parse_given(&self, given: &Given) -> Result<T, String> {
        (self.parse)(&given.raw)
            .map_err(|why| format!("invalid {} {:?}: {why}", given.source, given.raw))
    }
}

// The parsers the table names. Each says why a text is wrong and what to give instead.

/// Any text, trimmed.
pub fn text(raw: &str) -> Result<String, String> {
    Ok(raw.trim().to_string())
}

/// The metadata endpoint: an `http://` URL with a usable port, or a capture directory (any
/// text without a scheme), trimmed.
pub fn metadata_location(raw: &str) -> Result<String, String> {
    let location = raw.trim();
    crate::ecs::client::endpoint_url(location)?;
    Ok(location.to_string())
}

/// A path, as given.
pub fn path(raw: &str) -> Result<PathBuf, String> {
    Ok(PathBuf::from(raw))
}

/// A file to write: not blank.
pub fn file(raw: &str) -> Result<PathBuf, String> {
    if raw.trim().is_empty() {
        return Err("give the path of the file to write".into());
    }
    Ok(PathBuf::from(raw))
}

/// A whole number from `low` to `high`.
fn number_in<T: FromStr + PartialOrd + Display + Copy>(
    raw: &str,
    low: T,
    high: T,
) -> Result<T, String> {
    raw.trim()
        .parse::<T>()
        .ok()
        .filter(|n| (low..=high).contains(n))
        .ok_or_else(|| format!("give {low} to {high}"))
}

pub fn port(raw: &str) -> Result<u16, String> {
    number_in(raw, 1, u16::MAX)
}

pub fn packet_size(raw: &str) -> Result<usize, String> {
    number_in(raw, MIN_PACKET_SIZE, MAX_PACKET_SIZE).map_err(|why| format!("{why} bytes"))
}

/// More samples than this over one interval would hammer the endpoint (the ECS agent
/// rate-limits it per instance).
pub const MAX_SAMPLES: usize = 1000;

pub fn samples(raw: &str) -> Result<usize, String> {
    number_in(raw, 2, MAX_SAMPLES)
}

/// The smallest timeout, fetch budget or max age: shorter is too short to act on (a request
/// cannot even be written) and would silently behave as zero.
pub const MIN_BOUND_SECS: f64 = 0.001;
/// A day is far beyond any sensible value and keeps `Duration` arithmetic safe.
const MAX_SECS: f64 = 86_400.0;

/// Seconds from `low` to a day, decimals allowed.
fn seconds(raw: &str, low: f64) -> Result<Duration, String> {
    let secs: f64 = raw
        .trim()
        .parse()
        .map_err(|_| "give a number of seconds, e.g. 60 or 0.5".to_string())?;
    if !(secs.is_finite() && (low..=MAX_SECS).contains(&secs)) {
        return Err(format!("give {low} to {MAX_SECS} seconds"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A wait: 0 is back to back.
pub fn wait(raw: &str) -> Result<Duration, String> {
    seconds(raw, 0.0)
}

/// A bound: at least a millisecond (1e-320 is "more than 0" but rounds to no time at all).
pub fn bound(raw: &str) -> Result<Duration, String> {
    seconds(raw, MIN_BOUND_SECS)
}

/// `--format`, before the EMF namespace is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatName {
    Statsd,
    Prometheus,
    Emf,
}

pub fn format(raw: &str) -> Result<FormatName, String> {
    match raw.trim() {
        "statsd" | "dogstatsd" => Ok(FormatName::Statsd),
        "prometheus" => Ok(FormatName::Prometheus),
        "emf" => Ok(FormatName::Emf),
        _ => Err("use statsd, prometheus or emf".into()),
    }
}

pub fn tag_format(raw: &str) -> Result<TagFormat, String> {
    match raw.trim() {
        "dogstatsd" => Ok(TagFormat::Dogstatsd),
        "graphite" => Ok(TagFormat::Graphite),
        _ => Err("use dogstatsd or graphite".into()),
    }
}

/// `--metrics` / `--skip-metrics`: metric names and families.
pub fn metric_list(raw: &str) -> Result<crate::metrics::selection::MetricList, String> {
    crate::metrics::selection::MetricList::parse(raw)
}

pub fn prefix(raw: &str) -> Result<String, String> {
    output::check_prefix(raw).map(|()| raw.to_string())
}

pub fn namespace(raw: &str) -> Result<String, String> {
    output::check_namespace(raw).map(|()| raw.to_string())
}

pub fn log_level(raw: &str) -> Result<LevelFilter, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "warning" => Ok(LevelFilter::Warn),
        "critical" | "fatal" => Ok(LevelFilter::Error),
        other => other
            .parse()
            .map_err(|_| "use error, warn, info, debug, trace or off".to_string()),
    }
}
