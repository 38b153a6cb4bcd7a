//! The options the outputs get: the format, where DogStatsD lines go, how they are packed
//! and named, and `--output-file`.

use std::path::PathBuf;

use super::Env;
use super::setting::FormatName;
use crate::cli::{Cli, settings};
use crate::output::{Destination, Format, Options, TagFormat};

pub fn resolve(cli: &Cli, env: Env) -> Result<Options, String> {
    let destination = if cli.dry_run {
        Destination::Stdout
    } else {
        destination(cli, env)?
    };
    let max_packet_size = match settings::max_packet_size.get(cli, env)? {
        Some(size) => size,
        None => destination.default_packet_size(),
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
    })
}

/// Where DogStatsD lines go; the first rule that applies wins (docs/configuration.md "Where
/// the lines go"):
/// 1. `--statsd-socket`, or `--statsd-host`/`--statsd-port` (the other half from
///    `STATSD_HOST`/`STATSD_PORT` or the default);
/// 2. `DD_DOGSTATSD_URL` (`udp://host:port`, `unix:///path`, `unixgram:///path`);
/// 3. `DD_AGENT_HOST` with `DD_DOGSTATSD_PORT` (default 8125);
/// 4. `STATSD_HOST`/`STATSD_PORT` (the ancestor's variables);
/// 5. 127.0.0.1:8125.
fn destination(cli: &Cli, env: Env) -> Result<Destination, String> {
    if let Some(path) = settings::statsd_socket.get(cli, env)? {
        return Ok(Destination::Unix { path });
    }
    let udp = |host: Option<String>, port: Option<u16>| -> Result<Destination, String> {
        Ok(Destination::Udp {
            host: host.map_or_else(|| settings::statsd_host.get_or_default(cli, env), Ok)?,
            port: port.map_or_else(|| settings::statsd_port.get_or_default(cli, env), Ok)?,
        })
    };
    if cli.statsd_host.is_some() || cli.statsd_port.is_some() {
        return udp(None, None);
    }
    if let Some(url) = env("DD_DOGSTATSD_URL") {
        return parse_dogstatsd_url(url.trim());
    }
    if let Some(host) = env("DD_AGENT_HOST") {
        let port = env("DD_DOGSTATSD_PORT")
            .map(|raw| {
                super::setting::port(&raw)
                    .map_err(|why| format!("invalid DD_DOGSTATSD_PORT {raw:?}: {why}"))
            })
            .transpose()?;
        let port = port.map_or_else(|| settings::statsd_port.default_value(), Ok)?;
        return udp(Some(host.trim().to_string()), Some(port));
    }
    udp(None, None)
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
