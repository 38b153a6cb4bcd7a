//! Where the metrics go, one file per format, chosen once by
//! [`Format`]: DogStatsD through cadence (UDP, Unix socket, or stdout
//! for `--dry-run`), Prometheus text, or CloudWatch EMF on stdout.

pub mod emf;
pub mod graphite;
mod line_limit;
mod options;
mod origin;
pub mod prometheus;
mod statsd;
mod transport;

pub use transport::Printed;
use transport::file;

use std::io::{self, Write};
use std::sync::Arc;

use crate::deadline::Deadline;
use crate::metrics::Metric;
use crate::metrics::tags::SeriesKeyFn;
pub use line_limit::{AGENT_BUFFER_SIZE, MAX_LINE as MAX_DOGSTATSD_LINE};
pub use options::{
    Destination, Format, MAX_METRIC_NAME_CHARS, MAX_PACKET_SIZE, MIN_PACKET_SIZE, Options,
    TagFormat, UDP_MAX_DATAGRAM, UNIX_MAX_DATAGRAM, check_namespace, check_prefix,
    longest_metric_name,
};
pub use statsd::{Sender, lines as statsd_lines, send_to as statsd_send_to};

/// What tells series apart at this output's receiver, for the tagger's collision check:
/// graphite names (`--tag-format graphite`), EMF dimension values (`--format emf`), else the
/// whole tag set (`None`).
pub fn series_key(format: &Format, tag_format: TagFormat) -> Option<SeriesKeyFn> {
    if tag_format == TagFormat::Graphite {
        Some(graphite::series_key)
    } else if matches!(format, Format::Emf { .. }) {
        Some(emf::series_key)
    } else {
        None
    }
}

/// One run's metrics and what the outputs may add to them.
pub struct Batch<'a> {
    pub metrics: &'a [Metric],
    /// Unix milliseconds of the last sample (`--timestamps`, EMF `Timestamp`).
    pub timestamp_ms: Option<i64>,
}

/// What happened to one batch.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SendReport {
    pub sent: usize,
    pub failed: usize,
    /// The first error, to report once.
    pub first_error: Option<String>,
    /// Lines that did not reach their reader without it being an error: a pipe whose reader
    /// went away (`| head`). A plain run still exits 0, but the batch was not delivered.
    pub unread: usize,
}

impl SendReport {
    fn fail(&mut self, error: String) {
        self.failed += 1;
        self.first_error.get_or_insert(error);
    }

    /// Every byte of the batch reached its destination: nothing failed and nothing went
    /// unread. The one rule, for every output, of what "delivered" means; the
    /// `--since-last-run` state advances only on it.
    pub fn delivered(&self) -> bool {
        self.failed == 0 && self.unread == 0
    }
}

/// The format a run writes, chosen once from [`Format`]: DogStatsD lines through cadence (to
/// a socket, or printed), or a text document printed whole.
enum Writer {
    Statsd(Sender),
    Prometheus { prefix: String },
    Emf { namespace: String },
}

pub struct Exporter {
    writer: Writer,
    printed: Printed,
}

impl Exporter {
    /// Set up the output. For DogStatsD the destination is checked here, before any
    /// sampling, so a wrong host or socket fails fast; so is an `--output-file` that must
    /// not be replaced.
    pub fn new(options: &Options) -> Result<Exporter, String> {
        let printed = match &options.output_file {
            None => Printed::Stdout,
            Some(path) => Printed::File {
                target: Arc::new(file::open(path)?),
                collected: file::Collected::default(),
            },
        };
        let writer = match &options.format {
            Format::Statsd => Writer::Statsd(Sender::new(options, &printed)?),
            Format::Prometheus => Writer::Prometheus {
                prefix: options.prefix.clone(),
            },
            Format::Emf { namespace } => Writer::Emf {
                namespace: namespace.clone(),
            },
        };
        Ok(Exporter { writer, printed })
    }

    /// Send or print one batch; a socket's wait for room is bounded by the run's deadline.
    pub fn export(&self, batch: &Batch, deadline: &Deadline) -> SendReport {
        let text = match &self.writer {
            Writer::Statsd(sender) => {
                return sender.export(batch, deadline.for_send(transport::SEND_WAIT));
            }
            Writer::Prometheus { prefix } => prometheus::render(batch.metrics, prefix),
            Writer::Emf { namespace } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let timestamp = batch.timestamp_ms.unwrap_or(now).max(0) as u64;
                emf::render(batch.metrics, namespace, timestamp)
            }
        };
        self.print(batch, &text)
    }

    /// A text document, written whole: a reader that went away leaves every line unread.
    fn print(&self, batch: &Batch, text: &str) -> SendReport {
        let mut report = SendReport {
            sent: batch.metrics.len(),
            ..SendReport::default()
        };
        let mut out = self.printed.writer();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                report.sent = 0;
                report.unread = batch.metrics.len();
            }
            Err(e) => {
                report.sent = 0;
                report.fail(format!("writing the output: {e}"));
            }
        }
        report
    }

    /// With `--output-file`, replace the file with what the run printed (atomically);
    /// otherwise nothing to do.
    pub fn commit(&self) -> Result<(), String> {
        match &self.printed {
            Printed::Stdout => Ok(()),
            Printed::File { target, collected } => target.replace(&collected.take()),
        }
    }
}
