//! Where the lines go. All DogStatsD formatting is cadence's; this module only chooses the
//! sink (a buffered UDP socket, or stdout for `--dry-run`) and counts what could not be sent.

pub mod emf;
pub mod prometheus;
mod stdout;

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};

use cadence::{BufferedUdpMetricSink, Gauged, Metric as _, StatsdClient};

use crate::config::{Destination, UDP_MAX_DATAGRAM};
use crate::metrics::{Metric, Value};
pub use stdout::StdoutSink;

pub struct Sender {
    client: StatsdClient,
}

/// What happened to one batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SendReport {
    pub sent: usize,
    pub failed: usize,
    /// The first send error, to report once.
    pub first_error: Option<String>,
}

impl Sender {
    /// Set up the destination. For UDP the host is resolved once here, before any waiting, so
    /// a bad host fails fast; an IP literal needs no DNS lookup.
    pub fn new(destination: &Destination, prefix: &str) -> Result<Sender, String> {
        let client = match destination {
            Destination::Stdout => StatsdClient::from_sink(prefix, StdoutSink::new()),
            Destination::Udp { host, port } => {
                let addr = resolve(host, *port)?;
                let bind: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(bind)
                    .map_err(|e| format!("cannot open a UDP socket for {addr}: {e}"))?;
                let sink = BufferedUdpMetricSink::with_capacity(addr, socket, UDP_MAX_DATAGRAM)
                    .map_err(|e| format!("cannot send to {addr}: {e}"))?;
                StatsdClient::from_sink(prefix, sink)
            }
        };
        Ok(Sender { client })
    }

    /// Send every metric, then flush the buffer (lines are packed into as few datagrams as
    /// fit). Non-finite values are never sent; they count as failed.
    pub fn send(&self, metrics: &[Metric]) -> SendReport {
        let mut report = SendReport::default();
        let fail = |report: &mut SendReport, error: String| {
            report.failed += 1;
            report.first_error.get_or_insert(error);
        };
        for metric in metrics {
            let builder = match metric.value {
                Value::Int(v) => self.client.gauge_with_tags(metric.name, v),
                Value::Float(v) if v.is_finite() => self.client.gauge_with_tags(metric.name, v),
                Value::Float(v) => {
                    fail(
                        &mut report,
                        format!("{} has a non-finite value {v}", metric.name),
                    );
                    continue;
                }
            };
            let builder = metric
                .tags
                .iter()
                .fold(builder, |b, (key, value)| b.with_tag(key, value));
            match builder.try_send() {
                Ok(gauge) => {
                    log::trace!("{}", gauge.as_metric_str());
                    report.sent += 1;
                }
                Err(e) => fail(&mut report, e.to_string()),
            }
        }
        if let Err(e) = self.client.flush() {
            // The buffered tail did not leave; we cannot tell how many lines it held.
            fail(&mut report, e.to_string());
        }
        report
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve StatsD host {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("StatsD host {host:?} resolved to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cadence::{MetricSink, SpyMetricSink};
    use std::io;

    struct RefusingSink;

    impl MetricSink for RefusingSink {
        fn emit(&self, _: &str) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::ConnectionRefused))
        }
    }

    fn metrics() -> Vec<Metric> {
        vec![
            Metric::new(
                "mem_usage",
                Value::Int(u64::MAX),
                vec![("container_name".into(), "web".into())],
            ),
            Metric::new("cpu_usage_ratio", Value::Float(0.25), vec![]),
            Metric::new("bad", Value::Float(f64::NAN), vec![]),
        ]
    }

    #[test]
    fn every_send_error_is_counted() {
        let sender = Sender {
            client: StatsdClient::from_sink("ecs_task", RefusingSink),
        };
        let report = sender.send(&metrics());
        assert_eq!(report.sent, 0);
        assert_eq!(report.failed, 3);
        assert!(report.first_error.unwrap().contains("refused"));
    }

    #[test]
    fn formats_through_cadence_and_never_sends_non_finite() {
        let (rx, sink) = SpyMetricSink::new();
        let sender = Sender {
            client: StatsdClient::from_sink("ecs_task", sink),
        };
        let report = sender.send(&metrics());
        assert_eq!((report.sent, report.failed), (2, 1));
        let lines: Vec<String> = rx
            .try_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "ecs_task.mem_usage:18446744073709551615|g|#container_name:web",
                "ecs_task.cpu_usage_ratio:0.25|g",
            ]
        );
    }
}
