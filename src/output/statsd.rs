//! DogStatsD through cadence: all line formatting is cadence's; this file packs the lines into
//! datagrams (or stdout writes for `--dry-run`), adds the optional container (`|c:`) and
//! timestamp (`|T`) fields, and counts the lines the kernel accepted.
//!
//! The packing is ours, not cadence's buffered sinks: those keep a failed buffer for the next
//! flush and report a line as sent as soon as it is buffered, so a dead destination looked
//! mostly healthy. Here a line counts as sent only once the datagram (or write) holding it
//! was accepted.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cadence::{Gauged, Metric as _, MetricBuilder, MetricSink, StatsdClient};

use super::line_limit::{self, Dropped};
use super::stdout::Stdout;
use super::{Batch, Destination, Export, Options, Printed, SendReport, TagFormat, graphite};
use crate::metrics::Value;

/// How long one datagram may wait for room in a full socket buffer before it is dropped.
const SEND_TIMEOUT: Duration = Duration::from_millis(500);
/// `--dry-run` writes stdout in chunks of this size (std's `BufWriter` default).
const STDOUT_CHUNK: usize = 8 * 1024;

pub struct Sender {
    client: StatsdClient,
    /// What the sink's transport accepted; `None` for sinks that do not count (benchmarks,
    /// tests), whose lines count as sent when cadence hands them over.
    tally: Option<Arc<Mutex<Tally>>>,
    origin_detection: bool,
    timestamps: bool,
    tag_format: TagFormat,
    /// `--max-packet-size` for a socket (`None` on stdout): a longer line leaves alone, in a
    /// datagram over the limit, and is reported.
    max_packet_size: Option<usize>,
    /// The metric name prefix, to measure lines before cadence writes them.
    prefix: String,
    /// Keys of the user's tags, the ones left out of a line over the agent's buffer.
    user_tag_keys: Vec<String>,
}

impl Sender {
    pub fn new(options: &Options, printed: &Printed) -> Result<Sender, String> {
        let prefix = options.prefix.as_str();
        let size = options.max_packet_size;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let client = match &options.destination {
            Destination::Stdout => {
                let sink = Packer::new(Stdout::to(printed.clone()), STDOUT_CHUNK, &tally);
                StatsdClient::from_sink(prefix, sink)
            }
            Destination::Udp { host, port } => {
                let udp = Udp::connect(resolve(host, *port)?)?;
                StatsdClient::from_sink(prefix, Packer::new(udp, size, &tally))
            }
            Destination::Unix { path } => {
                let unix = Unix::new(path)?;
                StatsdClient::from_sink(prefix, Packer::new(unix, size, &tally))
            }
        };
        Ok(Sender {
            client,
            tally: Some(tally),
            origin_detection: options.origin_detection,
            timestamps: options.timestamps,
            tag_format: options.tag_format,
            max_packet_size: (options.destination != Destination::Stdout).then_some(size),
            prefix: prefix.to_string(),
            user_tag_keys: options.user_tag_keys.clone(),
        })
    }

    fn from_parts(client: StatsdClient) -> Sender {
        Sender {
            client,
            tally: None,
            origin_detection: false,
            timestamps: false,
            tag_format: TagFormat::Dogstatsd,
            max_packet_size: None,
            prefix: String::new(),
            user_tag_keys: Vec::new(),
        }
    }
}

impl Export for Sender {
    /// Send every metric, then flush the last datagram.
    fn export(&self, batch: &Batch) -> SendReport {
        if let Some(tally) = &self.tally {
            *lock(tally) = Tally::default();
        }
        let mut report = SendReport::default();
        let timestamp = batch
            .timestamp_ms
            .filter(|_| self.timestamps)
            .map(|ms| (ms.max(0) / 1000) as u64);
        let graphite = self.tag_format == TagFormat::Graphite;
        // Lines longer than a datagram: how many, and the longest.
        let mut oversized = (0usize, 0usize);
        let mut dropped = Dropped::default();
        for metric in batch.metrics {
            let path;
            let name = if graphite {
                path = graphite::name(metric);
                path.as_str()
            } else {
                metric.name()
            };
            // Always finite (see `Finite`): every value can be written as a gauge.
            let builder = match metric.value {
                Value::Int(v) => self.client.gauge_with_tags(name, v),
                Value::Float(v) => self.client.gauge_with_tags(name, v.get()),
            };
            let container_id = metric.tags.docker_id().filter(|_| self.origin_detection);
            // Never a DogStatsD line over the agent's buffer: the last user tags give way.
            let left_out = if graphite {
                Vec::new()
            } else {
                let len = |skip: &dyn Fn(usize) -> bool| {
                    line_limit::line_len(&self.prefix, name, metric, container_id, timestamp, skip)
                };
                line_limit::user_tags_to_drop(&len, metric, &self.user_tag_keys)
            };
            dropped.add(metric, &left_out);
            let tags = (metric.tags.iter().enumerate())
                .filter(|(i, _)| !graphite && !left_out.contains(i))
                .map(|(_, tag)| tag);
            let mut builder: MetricBuilder<_> = tags.fold(builder, |b, (key, value)| {
                // An empty value is a bare tag (`DD_TAGS=team-a`).
                if value.is_empty() {
                    b.with_tag_value(key)
                } else {
                    b.with_tag(key, value)
                }
            });
            // The series carries its container's Docker ID: names may collide, IDs do not.
            if let Some(id) = container_id {
                builder = builder.with_container_id(id);
            }
            if let Some(seconds) = timestamp {
                builder = builder.with_timestamp(seconds);
            }
            match builder.try_send() {
                Ok(gauge) => {
                    let line = gauge.as_metric_str();
                    log::trace!("{line}");
                    if self.max_packet_size.is_some_and(|max| line.len() > max) {
                        oversized = (oversized.0 + 1, oversized.1.max(line.len()));
                    }
                    report.sent += 1;
                }
                Err(e) => report.fail(e.to_string()),
            }
        }
        if let Err(e) = self.client.flush() {
            report.fail(e.to_string());
        }
        if let Some(tally) = &self.tally {
            // cadence handed every line over; what counts is what the transport accepted.
            let tally = std::mem::take(&mut *lock(tally));
            report.sent = tally.accepted;
            report.failed += tally.lost;
            if let Some(error) = tally.first_error {
                report.first_error.get_or_insert(error);
            }
        }
        if let Some(warning) = dropped.warning() {
            log::warn!("{warning}");
        }
        if let (Some(max), (count @ 1.., longest)) = (self.max_packet_size, oversized) {
            log::warn!(
                "{count} line(s) longer than the {max}-byte packet size (the longest {longest} \
                 bytes) were each sent alone in a larger datagram; raise --max-packet-size or \
                 shorten the prefix and tags if the server drops them"
            );
        }
        report
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// Lines accepted and lost by a transport during one export.
#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    lost: usize,
    first_error: Option<String>,
    /// Lines of the last accepted datagram: a late refusal (UDP) is about it.
    last_accepted: usize,
}

impl Tally {
    fn accept(&mut self, lines: usize) {
        self.accepted += lines;
        self.last_accepted = lines;
    }

    fn lose(&mut self, lines: usize, error: &io::Error) {
        self.lost += lines;
        self.first_error.get_or_insert_with(|| error.to_string());
    }

    /// The destination refused what it was last sent: that datagram did not arrive either.
    fn refused_late(&mut self, error: &io::Error) {
        let lines = std::mem::take(&mut self.last_accepted);
        self.accepted -= lines;
        self.lose(lines, error);
    }
}

/// Where packed lines go: one call per datagram (or stdout write).
pub(super) trait Transport: Send + Sync + std::panic::RefUnwindSafe + 'static {
    fn send(&self, datagram: &[u8]) -> io::Result<()>;

    /// True when a refusal reports on an earlier datagram (connected UDP: ICMP port
    /// unreachable arrives after the datagram left), not on the one being sent.
    fn refusal_is_late(&self) -> bool {
        false
    }

    /// An error the destination reported after the last send.
    fn take_error(&self) -> Option<io::Error> {
        None
    }
}

/// A cadence sink packing lines (each ending in `\n`) into datagrams of at most `capacity`
/// bytes, as cadence's buffered sinks do; a line that does not fit alone goes alone, without
/// its `\n`. Every datagram is sent once: a failed one is counted lost, never resent.
struct Packer<T> {
    transport: T,
    capacity: usize,
    pending: Mutex<Pending>,
    tally: Arc<Mutex<Tally>>,
}

#[derive(Default)]
struct Pending {
    buf: Vec<u8>,
    lines: usize,
}

impl<T: Transport> Packer<T> {
    fn new(transport: T, capacity: usize, tally: &Arc<Mutex<Tally>>) -> Packer<T> {
        Packer {
            transport,
            capacity,
            pending: Mutex::new(Pending {
                buf: Vec::with_capacity(capacity),
                lines: 0,
            }),
            tally: Arc::clone(tally),
        }
    }

    fn send(&self, datagram: &[u8], lines: usize) {
        if lines == 0 {
            return;
        }
        let result = self.transport.send(datagram);
        let mut tally = lock(&self.tally);
        match result {
            Ok(()) => tally.accept(lines),
            Err(e) => {
                if e.kind() == io::ErrorKind::ConnectionRefused && self.transport.refusal_is_late()
                {
                    tally.refused_late(&e);
                }
                tally.lose(lines, &e);
            }
        }
    }

    fn send_pending(&self, pending: &mut Pending) {
        self.send(&pending.buf, pending.lines);
        pending.buf.clear();
        pending.lines = 0;
    }
}

impl<T: Transport> MetricSink for Packer<T> {
    fn emit(&self, line: &str) -> io::Result<usize> {
        let mut pending = lock(&self.pending);
        if line.len() + 1 > self.capacity {
            self.send_pending(&mut pending);
            self.send(line.as_bytes(), 1);
        } else {
            if pending.buf.len() + line.len() + 1 > self.capacity {
                self.send_pending(&mut pending);
            }
            pending.buf.extend_from_slice(line.as_bytes());
            pending.buf.push(b'\n');
            pending.lines += 1;
        }
        Ok(line.len())
    }

    fn flush(&self) -> io::Result<()> {
        let mut pending = lock(&self.pending);
        self.send_pending(&mut pending);
        if let Some(error) = self.transport.take_error() {
            lock(&self.tally).refused_late(&error);
        }
        Ok(())
    }
}

/// UDP through a connected socket: the kernel then turns an ICMP "port unreachable" (no
/// agent listening) into ECONNREFUSED on a later send, or into the socket's pending error
/// (`SO_ERROR`) after the last one. An unconnected socket never reports it.
struct Udp(UdpSocket);

impl Udp {
    fn connect(addr: SocketAddr) -> Result<Udp, String> {
        let bind: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        UdpSocket::bind(bind)
            .and_then(|s| s.set_write_timeout(Some(SEND_TIMEOUT)).map(|()| s))
            .and_then(|s| s.connect(addr).map(|()| s))
            .map(Udp)
            .map_err(|e| format!("cannot open a UDP socket for {addr}: {e}"))
    }
}

impl Transport for Udp {
    fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.0.send(datagram).map(drop)
    }

    fn refusal_is_late(&self) -> bool {
        true
    }

    fn take_error(&self) -> Option<io::Error> {
        self.0.take_error().ok().flatten()
    }
}

/// A Unix datagram socket sending to the agent's path. A reader that stopped draining it:
/// the first datagram that waited [`SEND_TIMEOUT`] in vain turns the socket non-blocking, so
/// every later one fails at once (and is counted) instead of each waiting in turn.
struct Unix {
    socket: UnixDatagram,
    path: PathBuf,
    stalled: AtomicBool,
}

impl Unix {
    fn new(path: &Path) -> Result<Unix, String> {
        Ok(Unix {
            socket: connect_unix(path)?,
            path: path.to_path_buf(),
            stalled: AtomicBool::new(false),
        })
    }
}

impl Transport for Unix {
    fn send(&self, datagram: &[u8]) -> io::Result<()> {
        let result = self.socket.send_to(datagram, &self.path).map(drop);
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

/// Send `metrics` through cadence to any sink, as a run does (for benchmarks: cadence's
/// `NopMetricSink` measures the formatting alone).
pub fn send_to<S>(metrics: &[crate::metrics::Metric], prefix: &str, sink: S) -> SendReport
where
    S: MetricSink + Sync + Send + std::panic::RefUnwindSafe + 'static,
{
    let sender = Sender::from_parts(StatsdClient::from_sink(prefix, sink));
    sender.export(&Batch {
        metrics,
        timestamp_ms: None,
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
    use crate::ecs::Task;
    use crate::ecs::task::Container;
    use crate::metrics::catalog::{CPU_USAGE_RATIO, MEM_USAGE};
    use crate::metrics::{Metric, TagOptions, Tagger};
    use cadence::{MetricSink, SpyMetricSink};

    struct RefusingSink;

    impl MetricSink for RefusingSink {
        fn emit(&self, _: &str) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::ConnectionRefused))
        }
    }

    fn web_tags() -> crate::metrics::TagSet {
        let options = TagOptions {
            identity: false,
            ..TagOptions::default()
        };
        let web = Container {
            name: Some("web".into()),
            ..Container::default()
        };
        Tagger::new(&Task::default(), options, &[]).container(&web, "abc-123")
    }

    fn metrics() -> Vec<Metric> {
        vec![
            Metric::int(&MEM_USAGE, u64::MAX, web_tags()),
            Metric::new(
                &CPU_USAGE_RATIO,
                Value::float(0.25).unwrap(),
                vec![("team".into(), String::new())],
            ),
        ]
    }

    fn batch(metrics: &[Metric]) -> Batch<'_> {
        Batch {
            metrics,
            timestamp_ms: Some(1_715_680_800_999),
        }
    }

    #[test]
    fn every_send_error_is_counted() {
        let sender = Sender::from_parts(StatsdClient::from_sink("ecs_task", RefusingSink));
        let report = sender.export(&batch(&metrics()));
        assert_eq!((report.sent, report.failed), (0, 2));
        assert!(report.first_error.unwrap().contains("refused"));
    }

    #[test]
    fn formats_through_cadence_with_the_series_own_origin() {
        let (rx, sink) = SpyMetricSink::new();
        let mut sender = Sender::from_parts(StatsdClient::from_sink("ecs_task", sink));
        let report = sender.export(&batch(&metrics()));
        assert_eq!((report.sent, report.failed), (2, 0));
        sender.origin_detection = true;
        sender.timestamps = true;
        sender.export(&batch(&metrics()));
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
                "ecs_task.cpu_usage_ratio:0.25|g|#team|T1715680800",
            ]
        );
    }

    /// Records datagrams; fails the ones whose index is listed, with `error`.
    struct Scripted {
        sent: Mutex<Vec<Vec<u8>>>,
        fail: Vec<usize>,
        error: io::ErrorKind,
        late: bool,
        pending: Mutex<Option<io::Error>>,
    }

    impl Scripted {
        fn new(fail: Vec<usize>, error: io::ErrorKind, late: bool) -> Scripted {
            Scripted {
                sent: Mutex::new(Vec::new()),
                fail,
                error,
                late,
                pending: Mutex::new(None),
            }
        }
    }

    impl Transport for Arc<Scripted> {
        fn send(&self, datagram: &[u8]) -> io::Result<()> {
            let mut sent = lock(&self.sent);
            sent.push(datagram.to_vec());
            if self.fail.contains(&(sent.len() - 1)) {
                return Err(io::Error::from(self.error));
            }
            Ok(())
        }
        fn refusal_is_late(&self) -> bool {
            self.late
        }
        fn take_error(&self) -> Option<io::Error> {
            lock(&self.pending).take()
        }
    }

    fn pack(transport: &Arc<Scripted>, capacity: usize, lines: &[&str]) -> Tally {
        let tally = Arc::new(Mutex::new(Tally::default()));
        let packer = Packer::new(Arc::clone(transport), capacity, &tally);
        for line in lines {
            packer.emit(line).unwrap();
        }
        packer.flush().unwrap();
        std::mem::take(&mut *lock(&tally))
    }

    #[test]
    fn packs_like_cadence_and_counts_only_accepted_lines() {
        // Datagrams: "aaaa\nbbbb\n" (10 bytes), "cccc\n", then the oversized line alone.
        let t = Arc::new(Scripted::new(vec![1], io::ErrorKind::Other, false));
        let tally = pack(&t, 10, &["aaaa", "bbbb", "cccc", "dddddddddddd"]);
        let sent: Vec<Vec<u8>> = lock(&t.sent).clone();
        assert_eq!(
            sent,
            [&b"aaaa\nbbbb\n"[..], b"cccc\n", b"dddddddddddd"].map(<[u8]>::to_vec)
        );
        assert_eq!((tally.accepted, tally.lost), (3, 1));
    }

    #[test]
    fn a_late_refusal_also_loses_the_datagram_it_reports_on() {
        // UDP: datagram 0 left, its ICMP fails datagram 1; datagram 2 left and is refused
        // after the last send (the socket's pending error).
        let t = Arc::new(Scripted::new(
            vec![1],
            io::ErrorKind::ConnectionRefused,
            true,
        ));
        *lock(&t.pending) = Some(io::Error::from(io::ErrorKind::ConnectionRefused));
        let tally = pack(&t, 10, &["aaaa", "bbbb", "cccc", "dddd", "eeee"]);
        assert_eq!((tally.accepted, tally.lost), (0, 5));
        assert!(tally.first_error.unwrap().contains("refused"));
    }
}
