//! The options the outputs get: the format, where DogStatsD lines go, how they are packed
//! and named, and `--output-file`.

use std::path::PathBuf;

use super::Env;
use super::setting::{FormatName, Given};
use crate::cli::{Cli, settings};
use crate::output::{Destination, Format, MAX_PACKET_SIZE, Options, TagFormat, UNIX_MAX_DATAGRAM};

/// The options, and the warnings about settings that were ignored (for the caller to log).
pub fn resolve(cli: &Cli, env: Env, warnings: &mut Vec<String>) -> Result<Options, String> {
    let (destination, chosen_by) = if cli.dry_run {
        (Destination::Stdout, "--dry-run".to_string())
    } else {
        destination(cli, env, warnings)?
    };
    let format_given = settings::format.given(cli, env);
    let format = match settings::format.get_or_default(cli, env)? {
        FormatName::Statsd => Format::Statsd,
        FormatName::Prometheus => Format::Prometheus,
        FormatName::Emf => Format::Emf {
            namespace: settings::emf_namespace.get_or_default(cli, env)?,
        },
    };
    let output_file = output_file(cli, env, &format)?;
    let tag_format_given = settings::tag_format.given(cli, env);
    let tag_format = settings::tag_format.get_or_default(cli, env)?;
    let max_packet_size = max_packet_size(cli, env, &destination, &format, tag_format)?;
    if let (TagFormat::Graphite, Some(graphite)) = (tag_format, &tag_format_given) {
        let other_format = format_given.filter(|_| format != Format::Statsd);
        let datadog_only = [
            (
                cli.origin_detection,
                "--origin-detection (the |c: field)".to_string(),
            ),
            (cli.timestamps, "--timestamps (the |T field)".to_string()),
            (
                other_format.is_some(),
                other_format.map(|g| g.as_written()).unwrap_or_default(),
            ),
        ];
        if let Some((_, what)) = datadog_only.iter().find(|(on, _)| *on) {
            return Err(format!(
                "{} is plain StatsD and cannot be used with {what}: drop one of them",
                graphite.as_written()
            ));
        }
    }
    Ok(Options {
        format,
        destination,
        max_packet_size,
        tag_format,
        origin_detection: cli.origin_detection,
        timestamps: cli.timestamps,
        prefix: settings::prefix.get_or_default(cli, env)?,
        output_file,
        chosen_by,
        user_tag_keys: Vec::new(),
    })
}

/// `--max-packet-size`, else the destination's default. DogStatsD stops at the agent's
/// buffer: the agent reads 8192 bytes of a datagram (`dogstatsd_buffer_size`) and cuts the
/// rest without a word, so a larger size for DogStatsD lines is a usage error. Plain StatsD
/// (`--tag-format graphite`) keeps the whole UDP range.
fn max_packet_size(
    cli: &Cli,
    env: Env,
    destination: &Destination,
    format: &Format,
    tag_format: TagFormat,
) -> Result<usize, String> {
    let Some(given) = settings::max_packet_size.given(cli, env) else {
        return Ok(destination.default_packet_size());
    };
    let size = settings::max_packet_size.parse_given(&given)?;
    if *format == Format::Statsd && tag_format == TagFormat::Dogstatsd && size > UNIX_MAX_DATAGRAM {
        return Err(format!(
            "invalid {} {:?}: the Datadog agent reads at most {UNIX_MAX_DATAGRAM} bytes of a \
             DogStatsD datagram (dogstatsd_buffer_size) and silently loses the rest; give 512 \
             to {UNIX_MAX_DATAGRAM}, or add --tag-format graphite for a plain StatsD server \
             (up to {MAX_PACKET_SIZE})",
            given.source, given.raw
        ));
    }
    Ok(size)
}

/// Where DogStatsD lines go, and which settings chose it; the first rule that applies wins
/// (docs/configuration.md "Where the lines go"):
/// 1. `--statsd-socket`, or `--statsd-host`/`--statsd-port` (the other half from
///    `STATSD_HOST`/`STATSD_PORT` or the default);
/// 2. `DD_DOGSTATSD_URL` (`udp://host:port`, `unix:///path`, `unixgram:///path`);
/// 3. `DD_AGENT_HOST` with `DD_DOGSTATSD_PORT` (default 8125), or `DD_DOGSTATSD_PORT` alone
///    on the default host;
/// 4. `STATSD_HOST`/`STATSD_PORT` (the ancestor's variables);
/// 5. 127.0.0.1:8125.
///
/// `DD_DOGSTATSD_PORT` alone: datadogpy (datadog/dogstatsd/base.py at d18ac6d4,
/// `_parse_env_connection_overrides`) uses it with its default host, `localhost`; datadog-go
/// (statsd/statsdex.go at 8e0c7a69, `resolveAddr`) has no default host and refuses to start
/// without `DD_AGENT_HOST`. Neither ignores it: ecs-statsd follows datadogpy, on its own
/// default host. `STATSD_HOST`/`STATSD_PORT` under a `DD_*` destination are ignored with a
/// warning naming both.
fn destination(
    cli: &Cli,
    env: Env,
    warnings: &mut Vec<String>,
) -> Result<(Destination, String), String> {
    if let Some(path) = settings::statsd_socket.get(cli, env)? {
        return Ok((Destination::Unix { path }, "--statsd-socket".to_string()));
    }
    let host_given = settings::statsd_host.given(cli, env);
    let port_given = settings::statsd_port.given(cli, env);
    let flags = cli.statsd_host.is_some() || cli.statsd_port.is_some();
    let dd_variable = ["DD_DOGSTATSD_URL", "DD_AGENT_HOST", "DD_DOGSTATSD_PORT"]
        .into_iter()
        .find(|name| env(name).is_some());
    if let Some(dd) = dd_variable.filter(|_| !flags) {
        let ignored: Vec<String> = [&host_given, &port_given]
            .into_iter()
            .flatten()
            .map(Given::as_written)
            .collect();
        if !ignored.is_empty() {
            warnings.push(format!(
                "{} ignored: {dd} is set and the Datadog variables choose where the lines go; \
                 unset one of them, or give --statsd-host / --statsd-port",
                ignored.join(" and ")
            ));
        }
    }
    if !flags {
        if let Some(url) = env("DD_DOGSTATSD_URL") {
            let destination = parse_dogstatsd_url(url.trim())?;
            return Ok((destination, "DD_DOGSTATSD_URL".to_string()));
        }
        let dd_port = env("DD_DOGSTATSD_PORT")
            .map(|raw| {
                super::setting::port(&raw)
                    .map_err(|why| format!("invalid DD_DOGSTATSD_PORT {raw:?}: {why}"))
            })
            .transpose()?;
        let dd_host = env("DD_AGENT_HOST").map(|host| host.trim().to_string());
        if dd_host.is_some() || dd_port.is_some() {
            let chosen_by = match (&dd_host, dd_port) {
                (Some(_), Some(_)) => "DD_AGENT_HOST and DD_DOGSTATSD_PORT",
                (Some(_), None) => "DD_AGENT_HOST",
                _ => "DD_DOGSTATSD_PORT (on the default host)",
            };
            let host = dd_host.map_or_else(|| settings::statsd_host.default_value(), Ok)?;
            let port = dd_port.map_or_else(|| settings::statsd_port.default_value(), Ok)?;
            return Ok((Destination::Udp { host, port }, chosen_by.to_string()));
        }
    }
    let sources: Vec<&str> = [&host_given, &port_given]
        .into_iter()
        .flatten()
        .map(|given| given.source)
        .collect();
    let chosen_by = if sources.is_empty() {
        "the default".to_string()
    } else {
        sources.join(" and ")
    };
    let host = settings::statsd_host.get_or_default(cli, env)?;
    let port = settings::statsd_port.get_or_default(cli, env)?;
    Ok((Destination::Udp { host, port }, chosen_by))
}

/// `--output-file` / `OUTPUT_FILE`, for output that would go to stdout: DogStatsD lines are
/// printed only with `--dry-run`, so without it there is nothing to write.
fn output_file(cli: &Cli, env: Env, format: &Format) -> Result<Option<PathBuf>, String> {
    let Some(given) = settings::output_file.given(cli, env) else {
        return Ok(None);
    };
    let path = settings::output_file.parse_given(&given)?;
    if *format == Format::Statsd && !cli.dry_run {
        return Err(format!(
            "{} {:?} holds what a run prints, and a statsd run sends its lines instead: add \
             --dry-run, or use --format prometheus or emf",
            given.source, given.raw
        ));
    }
    Ok(Some(path))
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
        None => settings::statsd_port.default_value()?,
        Some(p) => super::setting::port(p).map_err(|_| bad("the port must be 1-65535"))?,
    };
    Ok(Destination::Udp {
        host: host.to_string(),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn chosen(cli: &Cli, vars: &[(&str, &str)]) -> (Destination, String, Vec<String>) {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        let env = |name: &str| map.get(name).map(|v| v.to_string());
        let mut warnings = Vec::new();
        let (destination, by) = destination(cli, &env, &mut warnings).unwrap();
        (destination, by, warnings)
    }

    fn udp(host: &str, port: u16) -> Destination {
        Destination::Udp {
            host: host.into(),
            port,
        }
    }

    /// Each rule names what chose the destination; `DD_DOGSTATSD_PORT` alone is used on the
    /// default host (as datadogpy does); `STATSD_*` under a `DD_*` destination are named in
    /// one warning.
    #[test]
    fn the_destination_and_what_chose_it() {
        let none = Cli::default();
        assert_eq!(
            chosen(&none, &[]),
            (udp("127.0.0.1", 8125), "the default".into(), vec![])
        );
        assert_eq!(
            chosen(&none, &[("DD_DOGSTATSD_PORT", "9125")]),
            (
                udp("127.0.0.1", 9125),
                "DD_DOGSTATSD_PORT (on the default host)".into(),
                vec![]
            )
        );
        let (d, by, warnings) = chosen(
            &none,
            &[
                ("DD_AGENT_HOST", "agent"),
                ("STATSD_HOST", "old"),
                ("STATSD_PORT", "7"),
            ],
        );
        assert_eq!((d, by.as_str()), (udp("agent", 8125), "DD_AGENT_HOST"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].starts_with("STATSD_HOST=old and STATSD_PORT=7 ignored: DD_AGENT_HOST"),
            "{warnings:?}"
        );
        let (_, by, warnings) = chosen(
            &none,
            &[("DD_DOGSTATSD_URL", "udp://u:3"), ("STATSD_PORT", "7")],
        );
        assert_eq!((by.as_str(), warnings.len()), ("DD_DOGSTATSD_URL", 1));
        assert_eq!(
            chosen(&none, &[("STATSD_HOST", "old")]),
            (udp("old", 8125), "STATSD_HOST".into(), vec![])
        );
        let flags = Cli {
            statsd_port: Some("9".into()),
            ..Cli::default()
        };
        assert_eq!(
            chosen(&flags, &[("STATSD_HOST", "old"), ("DD_AGENT_HOST", "a")]),
            (
                udp("old", 9),
                "STATSD_HOST and --statsd-port".into(),
                vec![]
            )
        );
        assert_eq!(
            format!("{}", udp("::1", 8125)),
            "UDP [::1]:8125",
            "an IPv6 host in brackets"
        );
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
}
