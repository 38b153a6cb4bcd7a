//! DogStatsD through cadence: all line formatting is cadence's; this file chooses the sink
//! (buffered UDP, buffered Unix datagram socket, or stdout for `--dry-run`), adds the
//! optional container (`|c:`) and timestamp (`|T`) fields, and counts what was not sent.

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

use cadence::{
    BufferedUdpMetricSink, BufferedUnixMetricSink, Gauged, Metric as _, MetricBuilder, MetricSink,
    StatsdClient,
};

use super::{Batch, Export, Printed, SendReport, StdoutSink};
use crate::config::{Config, Destination};
use crate::metrics::Value;

/// How long one datagram may wait for room in a full socket buffer before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_millis(500);

pub struct Sender {
    client: StatsdClient,
    origin_detection: bool,
    timestamps: bool,
}

impl Sender {
    pub fn new(config: &Config, printed: &Printed) -> Result<Sender, String> {
        let prefix = config.prefix.as_str();
        let size = config.max_packet_size;
        let client = match &config.destination {
            Destination::Stdout => {
                StatsdClient::from_sink(prefix, StdoutSink::to(printed.writer()))
            }
            Destination::Udp { host, port } => {
                let addr = resolve(host, *port)?;
                let bind: SocketAddr = if addr.is_ipv4() {
                    ([0, 0, 0, 0], 0).into()
                } else {
                    ([0u16; 8], 0).into()
                };
                let socket = UdpSocket::bind(bind)
                    .and_then(|s| s.set_write_timeout(Some(SEND_TIMEOUT)).map(|()| s))
                    .map_err(|e| format!("cannot open a UDP socket for {addr}: {e}"))?;
                let sink = BufferedUdpMetricSink::with_capacity(addr, socket, size)
                    .map_err(|e| format!("cannot send to {addr}: {e}"))?;
                StatsdClient::from_sink(prefix, sink)
            }
            Destination::Unix { path } => {
                let socket = connect_unix(path)?;
                let control = socket
                    .try_clone()
                    .map_err(|e| format!("cannot open a Unix socket: {e}"))?;
                let sink = BufferedUnixMetricSink::with_capacity(path, socket, size);
                let guarded = StallGuard {
                    inner: sink,
                    socket: control,
                    stalled: AtomicBool::new(false),
                };
                StatsdClient::from_sink(prefix, guarded)
            }
        };
        Ok(Sender {
            client,
            origin_detection: config.origin_detection,
            timestamps: config.timestamps,
        })
    }

    #[cfg(test)]
    fn from_client(client: StatsdClient) -> Sender {
        Sender {
            client,
            origin_detection: false,
            timestamps: false,
        }
    }
}

impl Export for Sender {
    /// Send every metric, then flush the buffer (lines are packed into as few datagrams as
    /// fit). Non-finite values are never sent; they count as failed.
    fn export(&self, batch: &Batch) -> SendReport {
        let mut report = SendReport::default();
        let timestamp = batch
            .timestamp_ms
            .filter(|_| self.timestamps)
            .map(|ms| (ms.max(0) / 1000) as u64);
        for metric in batch.metrics {
            let builder = match metric.value {
                Value::Int(v) => self.client.gauge_with_tags(metric.name, v),
                Value::Float(v) if v.is_finite() => self.client.gauge_with_tags(metric.name, v),
                Value::Float(v) => {
                    report.fail(format!("{} has a non-finite value {v}", metric.name));
                    continue;
                }
            };
            let mut builder: MetricBuilder<_> =
                metric.tags.iter().fold(builder, |b, (key, value)| {
                    // An empty value is a bare tag (`DD_TAGS=team-a`).
                    if value.is_empty() {
                        b.with_tag_value(key)
                    } else {
                        b.with_tag(key, value)
                    }
                });
            if self.origin_detection {
                let container = metric.tags.iter().find(|(k, _)| k == "container_name");
                if let Some(id) = container.and_then(|(_, name)| batch.origins.get(name)) {
                    builder = builder.with_container_id(id);
                }
            }
            if let Some(seconds) = timestamp {
                builder = builder.with_timestamp(seconds);
            }
            match builder.try_send() {
                Ok(gauge) => {
                    log::trace!("{}", gauge.as_metric_str());
                    report.sent += 1;
                }
                Err(e) => report.fail(e.to_string()),
            }
        }
        if let Err(e) = self.client.flush() {
            // The buffered tail did not leave; we cannot tell how many lines it held.
            report.fail(e.to_string());
        }
        report
    }
}

/// A Unix socket whose reader stopped draining it: the first datagram that waited
/// [`SEND_TIMEOUT`] in vain turns the socket non-blocking, so every later one fails at once
/// (and is counted) instead of each waiting in turn.
struct StallGuard<S> {
    inner: S,
    /// The same open socket (a clone shares its non-blocking flag).
    socket: UnixDatagram,
    stalled: AtomicBool,
}

impl<S: MetricSink> StallGuard<S> {
    fn watch<T>(&self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result
            && matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            )
            && !self.stalled.swap(true, Ordering::Relaxed)
        {
            log::warn!("DogStatsD socket full for {SEND_TIMEOUT:?}: dropping the rest of this run");
            let _ = self.socket.set_nonblocking(true);
        }
        result
    }
}

impl<S: MetricSink> MetricSink for StallGuard<S> {
    fn emit(&self, metric: &str) -> io::Result<usize> {
        self.watch(self.inner.emit(metric))
    }

    fn flush(&self) -> io::Result<()> {
        self.watch(self.inner.flush())
    }
}

/// Send `metrics` through cadence to any sink, as a run does (for benchmarks: cadence's
/// `NopMetricSink` measures the formatting alone).
pub fn send_to<S>(metrics: &[crate::metrics::Metric], prefix: &str, sink: S) -> SendReport
where
    S: MetricSink + Sync + Send + std::panic::RefUnwindSafe + 'static,
{
    let sender = Sender {
        client: StatsdClient::from_sink(prefix, sink),
        origin_detection: false,
        timestamps: false,
    };
    let origins = std::collections::HashMap::new();
    sender.export(&Batch {
        metrics,
        timestamp_ms: None,
        origins: &origins,
    })
}

/// The DogStatsD lines of `metrics`, formatted by cadence exactly as a run sends them (for
/// property tests and the fuzz target).
pub fn lines(metrics: &[crate::metrics::Metric], prefix: &str) -> Vec<String> {
    let (rx, sink) = cadence::SpyMetricSink::new();
    send_to(metrics, prefix, sink);
    rx.try_iter()
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect()
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve StatsD host {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("StatsD host {host:?} resolved to no address"))
}

/// An unbound datagram socket, checked against `path` now: a missing socket or one with no
/// listener fails before any sampling, with the fix in the message.
fn connect_unix(path: &Path) -> Result<UnixDatagram, String> {
    let socket = UnixDatagram::unbound().map_err(|e| format!("cannot open a Unix socket: {e}"))?;
    socket.connect(path).map_err(|e| {
        format!(
            "cannot send to DogStatsD socket {}: {e}; check the path, that the agent's socket \
             volume is mounted, and the agent's DD_DOGSTATSD_SOCKET setting",
            path.display()
        )
    })?;
    // cadence sends with `send_to(path)`, which an unconnected socket needs. A full receive
    // queue (a slow agent) blocks a send: wait briefly, then count the datagram as dropped
    // rather than hang the run.
    UnixDatagram::unbound()
        .and_then(|s| s.set_write_timeout(Some(SEND_TIMEOUT)).map(|()| s))
        .map_err(|e| format!("cannot open a Unix socket: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metric;
    use cadence::{MetricSink, SpyMetricSink};
    use std::collections::HashMap;
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
            Metric::new(
                "cpu_usage_ratio",
                Value::Float(0.25),
                vec![("team".into(), String::new())],
            ),
            Metric::new("bad", Value::Float(f64::NAN), vec![]),
        ]
    }

    fn batch<'a>(metrics: &'a [Metric], origins: &'a HashMap<String, String>) -> Batch<'a> {
        Batch {
            metrics,
            timestamp_ms: Some(1_715_680_800_999),
            origins,
        }
    }

    #[test]
    fn every_send_error_is_counted() {
        let sender = Sender::from_client(StatsdClient::from_sink("ecs_task", RefusingSink));
        let origins = HashMap::new();
        let report = sender.export(&batch(&metrics(), &origins));
        assert_eq!(report.sent, 0);
        assert_eq!(report.failed, 3);
        assert!(report.first_error.unwrap().contains("refused"));
    }

    #[test]
    fn formats_through_cadence_and_never_sends_non_finite() {
        let (rx, sink) = SpyMetricSink::new();
        let mut sender = Sender::from_client(StatsdClient::from_sink("ecs_task", sink));
        let origins = HashMap::from([("web".to_string(), "abc-123".to_string())]);
        let report = sender.export(&batch(&metrics(), &origins));
        assert_eq!((report.sent, report.failed), (2, 1));
        sender.origin_detection = true;
        sender.timestamps = true;
        sender.export(&batch(&metrics()[..1], &origins));
        let lines: Vec<String> = rx
            .try_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "ecs_task.mem_usage:18446744073709551615|g|#container_name:web",
                "ecs_task.cpu_usage_ratio:0.25|g|#team",
                "ecs_task.mem_usage:18446744073709551615|g|#container_name:web|c:abc-123|T1715680800",
            ]
        );
    }
}
