//! Where the metrics go, one file per format behind one small trait, chosen by
//! [`Format`]: DogStatsD through cadence (UDP, Unix socket, or stdout
//! for `--dry-run`), Prometheus text, or CloudWatch EMF on stdout.

pub mod emf;
pub mod file;
pub mod graphite;
mod line_limit;
mod options;
mod origin;
pub mod prometheus;
mod statsd;
mod stdout;

use std::io::{self, Write};
use std::sync::Arc;

use crate::deadline::Deadline;
use crate::metrics::Metric;
pub use line_limit::{AGENT_BUFFER_SIZE, MAX_LINE as MAX_DOGSTATSD_LINE};
pub use options::{
    Destination, Format, MAX_METRIC_NAME_CHARS, MAX_PACKET_SIZE, MIN_PACKET_SIZE, Options,
    TagFormat, UDP_MAX_DATAGRAM, UNIX_MAX_DATAGRAM, check_namespace, check_prefix,
    longest_metric_name,
};
pub use statsd::{Sender, lines as statsd_lines, send_to as statsd_send_to};

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

trait Export {
    /// `wait`: how long the whole export may wait for room in a full socket buffer.
    fn export(&self, batch: &Batch, wait: std::time::Duration) -> SendReport;
}

/// Where the text a run prints goes: stdout, or memory until [`Exporter::commit`] writes it
/// to `--output-file`.
#[derive(Clone, Default)]
pub enum Printed {
    #[default]
    Stdout,
    File {
        /// Its folder held open from the start (see [`file::open`]).
        target: Arc<file::Target>,
        collected: file::Collected,
    },
}

impl Printed {
    fn writer(&self) -> Box<dyn Write + Send> {
        match self {
            // fd 1 itself: a bad descriptor is an error (see `console::stdout_writer`).
            Printed::Stdout => crate::console::stdout_writer(),
            Printed::File { collected, .. } => Box::new(collected.clone()),
        }
    }
}

pub struct Exporter {
    format: Box<dyn Export>,
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
        let format: Box<dyn Export> = match &options.format {
            Format::Statsd => Box::new(Sender::new(options, &printed)?),
            Format::Prometheus => Box::new(Text {
                kind: TextKind::Prometheus {
                    prefix: options.prefix.clone(),
                },
                printed: printed.clone(),
            }),
            Format::Emf { namespace } => Box::new(Text {
                kind: TextKind::Emf {
                    namespace: namespace.clone(),
                },
                printed: printed.clone(),
            }),
        };
        Ok(Exporter { format, printed })
    }

    /// Send `batch`, waiting for room in a full socket buffer at most the one
    /// [`statsd::SEND_WAIT`] of a run, or what is left of the run's stop deadline.
    pub fn export(&self, batch: &Batch, deadline: &Deadline) -> SendReport {
        self.format
            .export(batch, deadline.for_send(statsd::SEND_WAIT))
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

/// The formats rendered as a whole document on stdout (or into `--output-file`).
struct Text {
    kind: TextKind,
    printed: Printed,
}

enum TextKind {
    Prometheus { prefix: String },
    Emf { namespace: String },
}

impl Export for Text {
    fn export(&self, batch: &Batch, _wait: std::time::Duration) -> SendReport {
        let text = match &self.kind {
            TextKind::Prometheus { prefix } => prometheus::render(batch.metrics, prefix),
            TextKind::Emf { namespace } => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                let timestamp = batch.timestamp_ms.unwrap_or(now).max(0) as u64;
                emf::render(batch.metrics, namespace, timestamp)
            }
        };
        let mut report = SendReport {
            sent: batch.metrics.len(),
            ..SendReport::default()
        };
        let mut out = self.printed.writer();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => {}
            // A reader that went away (`| head`) is not an error, but the lines did not all
            // arrive.
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
}
