//! DogStatsD through cadence: all line formatting is cadence's; this file packs the lines into
//! datagrams (or stdout writes for `--dry-run`), adds the optional container (`|c:`) and
//! timestamp (`|T`) fields, and counts the lines the kernel accepted.
//!
//! The packing is ours, not cadence's buffered sinks: those keep a failed buffer for the next
//! flush and report a line as sent as soon as it is buffered, so a dead destination looked
//! mostly healthy. Here a line counts as sent only once the datagram (or write) holding it
//! was accepted.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cadence::{Gauged, Metric as _, MetricBuilder, MetricSink, StatsdClient};

use super::line_limit::{self, Dropped};
use super::transport::{Packer, SEND_WAIT, Stdout, Tally, Udp, Unix, lock, resolve};
use super::{Batch, Destination, Options, Printed, SendReport, TagFormat, graphite, origin};
use crate::metrics::{Metric, Value};

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

impl Sender {
    /// Send every metric, then flush the last datagram, waiting at most `wait` in all for
    /// room in a full socket.
    pub(super) fn export(&self, batch: &Batch, wait: Duration) -> SendReport {
        if let Some(tally) = &self.tally {
            *lock(tally) = Tally {
                wait_until: Some(Instant::now() + wait),
                wait,
                ..Tally::default()
            };
        }
        let timestamp = batch
            .timestamp_ms
            .filter(|_| self.timestamps)
            .map(|ms| (ms.max(0) / 1000) as u64);
        let mut export = ExportState::default();
        for metric in batch.metrics {
            self.send_line(metric, timestamp, &mut export);
        }
        export.refused.warn();
        if let Some(warning) = export.dropped.warning() {
            log::warn!("{warning}");
        }
        self.flush(export.report, export.oversized)
    }
}

/// What one export has seen so far, line by line.
#[derive(Default)]
struct ExportState {
    report: SendReport,
    /// Lines longer than a datagram: how many, and the longest.
    oversized: (usize, usize),
    refused: origin::Refused,
    dropped: Dropped,
    tag_text: TagText,
}

impl Sender {
    /// Format one metric's line through cadence and hand it to the sink.
    fn send_line(&self, metric: &Metric, timestamp: Option<u64>, export: &mut ExportState) {
        let graphite = self.tag_format == TagFormat::Graphite;
        let path;
        let name = if graphite {
            path = graphite::name(metric);
            path.as_str()
        } else {
            metric.name()
        };
        // Always finite (see `Finite`): every value can be written as a gauge.
        let mut builder: MetricBuilder<_> = match metric.value {
            Value::Int(v) => self.client.gauge_with_tags(name, v),
            Value::Float(v) => self.client.gauge_with_tags(name, v.get()),
        };
        // Only an ID both Datadog parsers read whole (see `origin`).
        let container_id = (metric.tags.docker_id())
            .filter(|_| self.origin_detection)
            .and_then(|id| export.refused.check(id));
        // No tags at all in graphite names (they are in the path). Never a DogStatsD line
        // over the agent's buffer: the last user tags give way.
        if !graphite {
            let left_out = self.tags_to_leave_out(name, metric, container_id, timestamp);
            export.dropped.add(metric, &left_out);
            let (shared, own) = export.tag_text.for_line(metric, &left_out);
            if let Some(shared) = shared {
                builder = builder.with_tag_value(shared);
            }
            // cadence joins its tags with `,`, as `push_tag` does.
            builder = match own {
                Some((key, "")) => builder.with_tag_value(key),
                Some((key, value)) => builder.with_tag(key, value),
                None => builder,
            };
        }
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
                if self.max_packet_size.is_some_and(|max| line.len() + 1 > max) {
                    let (count, longest) = export.oversized;
                    export.oversized = (count + 1, longest.max(line.len() + 1));
                }
                export.report.sent += 1;
            }
            Err(e) => export.report.fail(e.to_string()),
        }
    }
}

impl Sender {
    /// The indexes of the user tags a line must leave out to fit the agent's buffer.
    fn tags_to_leave_out(
        &self,
        name: &str,
        metric: &Metric,
        container_id: Option<&str>,
        timestamp: Option<u64>,
    ) -> Vec<usize> {
        let len = |skip: &dyn Fn(usize) -> bool| {
            line_limit::line_len(&self.prefix, name, metric, container_id, timestamp, skip)
        };
        line_limit::user_tags_to_drop(&len, metric, &self.user_tag_keys)
    }

    /// Flush the last datagram and count what the transport accepted (cadence handed every
    /// line over); warn once about lines longer than a datagram (how many, the longest).
    fn flush(&self, mut report: SendReport, oversized: (usize, usize)) -> SendReport {
        if let Err(e) = self.client.flush() {
            report.fail(e.to_string());
        }
        if let Some(tally) = &self.tally {
            let tally = std::mem::take(&mut *lock(tally));
            report.sent = tally.accepted;
            report.failed += tally.lost;
            report.unread = tally.unread;
            if let Some(error) = tally.first_error {
                report.first_error.get_or_insert(error);
            }
        }
        if let (Some(max), (count @ 1.., longest)) = (self.max_packet_size, oversized) {
            log::warn!(
                "{count} line(s) do not fit the {max}-byte packet size with their newline (the \
                 longest {longest} bytes) and were each sent alone in a larger datagram; raise \
                 --max-packet-size or shorten the prefix and tags if the server drops them"
            );
        }
        report
    }
}

/// The tags of a line as cadence is handed them: the shared set (a container's, the task's)
/// as one text, joined once for the first line carrying it, then the line's own tag (`cpu`,
/// `interface`) as a tag of its own, so no line's tags are copied before cadence writes them.
#[derive(Default)]
struct TagText {
    joined_sets: Vec<(*const (), String)>,
    line: String,
}

/// A line's tag text for cadence: the shared set's text, and the line's own tag.
type LineTags<'a> = (Option<&'a str>, Option<(&'a str, &'a str)>);

impl TagText {
    /// The tags of `metric`'s line, without the tags at `left_out`.
    fn for_line<'a>(&'a mut self, metric: &'a Metric, left_out: &[usize]) -> LineTags<'a> {
        let (shared, own) = metric.tags.parts();
        if !left_out.is_empty() {
            // A line cut to fit the agent's buffer: its own text, without the tags left out.
            self.line.clear();
            let kept = (metric.tags.iter().enumerate())
                .filter(|(i, _)| !left_out.contains(i))
                .map(|(_, tag)| tag);
            let mut count = 0;
            for (key, value) in kept {
                push_tag(&mut self.line, count > 0, key, value);
                count += 1;
            }
            return ((count > 0).then_some(self.line.as_str()), None);
        }
        let own = own.map(|(key, value)| (key.as_ref(), value.as_str()));
        if shared.is_empty() {
            return (None, own);
        }
        // A sorted list searched by address: a run has one set per container and one for
        // the task, and this lookup is made for every line (SipHash cost more).
        let set = Arc::as_ptr(shared).cast::<()>();
        let at = match self.joined_sets.binary_search_by_key(&set, |(p, _)| *p) {
            Ok(at) => at,
            Err(at) => {
                let mut text = String::new();
                for (i, (key, value)) in shared.iter().enumerate() {
                    push_tag(&mut text, i > 0, key, value);
                }
                self.joined_sets.insert(at, (set, text));
                at
            }
        };
        let joined = &self.joined_sets[at].1;
        (Some(joined.as_str()), own)
    }
}

/// One DogStatsD tag after the others: `key:value`, or a bare `key` for an empty value
/// (`DD_TAGS=team-a`), as cadence's `with_tag` and `with_tag_value` write them.
fn push_tag(out: &mut String, comma: bool, key: &str, value: &str) {
    if comma {
        out.push(',');
    }
    out.push_str(key);
    if !value.is_empty() {
        out.push(':');
        out.push_str(value);
    }
}

/// Send `metrics` through cadence to any sink, as a run does (for benchmarks: cadence's
/// `NopMetricSink` measures the formatting alone).
pub fn send_to<S>(metrics: &[crate::metrics::Metric], prefix: &str, sink: S) -> SendReport
where
    S: MetricSink + Sync + Send + std::panic::RefUnwindSafe + 'static,
{
    let sender = Sender::from_parts(StatsdClient::from_sink(prefix, sink));
    sender.export(
        &Batch {
            metrics,
            timestamp_ms: None,
        },
        SEND_WAIT,
    )
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    use crate::ecs::Task;
    use crate::ecs::task::Container;
    use crate::metrics::catalog::{CPU_USAGE_RATIO, MEM_USAGE};
    use crate::metrics::{Metric, TagOptions, Tagger};
    use crate::output::transport::Transport;
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
        let report = sender.export(&batch(&metrics()), SEND_WAIT);
        assert_eq!((report.sent, report.failed), (0, 2));
        assert!(report.first_error.unwrap().contains("refused"));
    }

    #[test]
    fn formats_through_cadence_with_the_series_own_origin() {
        let (rx, sink) = SpyMetricSink::new();
        let mut sender = Sender::from_parts(StatsdClient::from_sink("ecs_task", sink));
        let report = sender.export(&batch(&metrics()), SEND_WAIT);
        assert_eq!((report.sent, report.failed), (2, 0));
        sender.origin_detection = true;
        sender.timestamps = true;
        sender.export(&batch(&metrics()), SEND_WAIT);
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

    /// The tags joined once per shared set are the bytes cadence writes tag by tag: shared
    /// sets interleaved, a series' own tag, bare tags, no tags, graphite (no tags at all).
    #[test]
    fn joined_tags_are_what_cadence_writes_tag_by_tag() {
        let web = web_tags();
        let other = crate::metrics::TagSet::from(vec![
            ("team".into(), String::new()),
            ("env".into(), "prod".into()),
        ]);
        let metrics = vec![
            Metric::int(&MEM_USAGE, 1, web.clone()),
            Metric::int(&MEM_USAGE, 2, other.clone()),
            Metric::int(&MEM_USAGE, 3, web.with("cpu", "1".into())),
            Metric::int(&MEM_USAGE, 4, other.with("interface", "eth0".into())),
            Metric::int(&MEM_USAGE, 5, web.clone()),
            Metric::int(&MEM_USAGE, 6, Vec::new()),
            Metric::int(
                &MEM_USAGE,
                7,
                crate::metrics::TagSet::default().with("cpu", "0".into()),
            ),
        ];
        let (rx, sink) = SpyMetricSink::new();
        let mut sender = Sender::from_parts(StatsdClient::from_sink("ecs_task", sink));
        sender.export(&batch(&metrics), SEND_WAIT);
        let (want_rx, want_sink) = SpyMetricSink::new();
        let cadence = StatsdClient::from_sink("ecs_task", want_sink);
        for metric in &metrics {
            let Value::Int(v) = metric.value else {
                unreachable!()
            };
            let builder = cadence.gauge_with_tags(metric.name(), v);
            let builder = metric.tags.iter().fold(builder, |b, (key, value)| {
                if value.is_empty() {
                    b.with_tag_value(key)
                } else {
                    b.with_tag(key, value)
                }
            });
            builder.try_send().unwrap();
        }
        macro_rules! lines {
            ($rx:expr) => {
                $rx.try_iter()
                    .map(|b| String::from_utf8(b).unwrap())
                    .collect::<Vec<String>>()
            };
        }
        let got = lines!(rx);
        assert_eq!(got, lines!(want_rx));
        assert_eq!(
            got[3],
            "ecs_task.mem_usage:4|g|#team,env:prod,interface:eth0"
        );
        assert_eq!(got[5], "ecs_task.mem_usage:6|g");
        sender.tag_format = TagFormat::Graphite;
        sender.export(&batch(&metrics), SEND_WAIT);
        assert!(lines!(rx).iter().all(|l| !l.contains("|#")));
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

    /// A socket whose buffer stays full: a send given time to wait "waits" it in vain
    /// (`TimedOut`), one that may not wait fails at once (`WouldBlock`). Records the wait
    /// each send was given.
    #[derive(Default)]
    struct Full {
        wait: Mutex<Option<Duration>>,
        sends: Mutex<Vec<Duration>>,
    }

    impl Transport for Arc<Full> {
        fn send(&self, _: &[u8]) -> io::Result<()> {
            let wait = lock(&self.wait).unwrap_or(SEND_WAIT);
            lock(&self.sends).push(wait);
            Err(io::Error::from(if wait.is_zero() {
                io::ErrorKind::WouldBlock
            } else {
                io::ErrorKind::TimedOut
            }))
        }
        fn wait_for_room(&self, wait: Duration) -> io::Result<()> {
            *lock(&self.wait) = Some(wait);
            Ok(())
        }
    }

    fn pack_full(wait: Duration, datagrams: usize) -> (Tally, Vec<Duration>) {
        let transport = Arc::new(Full::default());
        let tally = Arc::new(Mutex::new(Tally {
            wait_until: Some(Instant::now() + wait),
            wait,
            ..Tally::default()
        }));
        let packer = Packer::new(Arc::clone(&transport), 10, &tally);
        for _ in 0..datagrams {
            packer.emit("aaaaaaaa").unwrap();
        }
        packer.flush().unwrap();
        let sends = lock(&transport.sends).clone();
        (std::mem::take(&mut *lock(&tally)), sends)
    }

    /// The one-wait rule, for every socket transport (UDP as the Unix socket): the first
    /// datagram that waits in vain makes every later one fail at once, each counted lost;
    /// and no datagram is ever given more than what is left of the export's wait (none once
    /// it is spent, as after a stop deadline).
    #[test]
    fn a_full_socket_is_waited_for_once_then_the_rest_is_dropped_and_counted() {
        let (tally, sends) = pack_full(SEND_WAIT, 1000);
        assert_eq!((tally.accepted, tally.lost), (0, 1000));
        assert!(tally.stalled);
        let waited: Vec<&Duration> = sends.iter().filter(|w| !w.is_zero()).collect();
        assert_eq!(waited.len(), 1, "one wait in the whole send");
        assert!(*waited[0] <= SEND_WAIT);
        assert_eq!(sends.len(), 1000, "every datagram tried once");

        let (tally, sends) = pack_full(Duration::ZERO, 5);
        assert_eq!((tally.accepted, tally.lost), (0, 5));
        assert!(
            sends.iter().all(Duration::is_zero),
            "no wait left: {sends:?}"
        );
    }

    /// A pipe whose reader has gone (`reader_may_leave`), or a socket answering EPIPE.
    struct Gone(bool);

    impl Transport for Gone {
        fn send(&self, _: &[u8]) -> io::Result<()> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn reader_may_leave(&self) -> bool {
            self.0
        }
    }

    /// A reader that went away is no error but no delivery either: the lines count unread
    /// (exit 0, the `--since-last-run` state kept); on a socket EPIPE is a loss.
    #[test]
    fn a_reader_that_went_away_leaves_the_lines_unread_not_lost() {
        for (pipe, unread, lost) in [(true, 3, 0), (false, 0, 3)] {
            let tally = Arc::new(Mutex::new(Tally::default()));
            let packer = Packer::new(Gone(pipe), 6, &tally);
            for line in ["aaaa", "bbbb", "cccc"] {
                packer.emit(line).unwrap();
            }
            packer.flush().unwrap();
            let tally = lock(&tally);
            assert_eq!(
                (tally.accepted, tally.unread, tally.lost),
                (0, unread, lost)
            );
        }
        let report = SendReport {
            sent: 3,
            unread: 1,
            ..SendReport::default()
        };
        assert!(!report.delivered());
        assert!(
            SendReport {
                sent: 3,
                ..SendReport::default()
            }
            .delivered()
        );
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
        // Datagrams: "aaaa\nbbbb\n" (10 bytes), "cccc\n", then each oversized line alone, with
        // its newline, and the line after them in a datagram of its own.
        let t = Arc::new(Scripted::new(vec![1], io::ErrorKind::Other, false));
        let tally = pack(
            &t,
            10,
            &[
                "aaaa",
                "bbbb",
                "cccc",
                "dddddddddddd",
                "eeeeeeeeeeee",
                "ffff",
            ],
        );
        let sent: Vec<Vec<u8>> = lock(&t.sent).clone();
        assert_eq!(
            sent,
            [
                &b"aaaa\nbbbb\n"[..],
                b"cccc\n",
                b"dddddddddddd\n",
                b"eeeeeeeeeeee\n",
                b"ffff\n"
            ]
            .map(<[u8]>::to_vec)
        );
        assert!(sent.iter().all(|d| d.ends_with(b"\n")), "{sent:?}");
        assert_eq!((tally.accepted, tally.lost), (5, 1));
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
