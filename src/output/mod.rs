//! Where the metrics go, one file per format behind one small trait, chosen by
//! [`Format`](crate::config::Format): DogStatsD through cadence (UDP, Unix socket, or stdout
//! for `--dry-run`), Prometheus text, or CloudWatch EMF on stdout.

pub mod emf;
pub mod graphite;
pub mod prometheus;
mod statsd;
mod stdout;

use std::io::{self, Write};

use crate::config::{Config, Format};
use crate::metrics::Metric;
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
}

impl SendReport {
    fn fail(&mut self, error: String) {
        self.failed += 1;
        self.first_error.get_or_insert(error);
    }
}

trait Export {
    fn export(&self, batch: &Batch) -> SendReport;
}

pub struct Exporter(Box<dyn Export>);

impl Exporter {
    /// Set up the output. For DogStatsD the destination is checked here, before any
    /// sampling, so a wrong host or socket fails fast.
    pub fn new(config: &Config) -> Result<Exporter, String> {
        Ok(Exporter(match &config.format {
            Format::Statsd => Box::new(Sender::new(config)?),
            Format::Prometheus => Box::new(Text::Prometheus {
                prefix: config.prefix.clone(),
            }),
            Format::Emf { namespace } => Box::new(Text::Emf {
                namespace: namespace.clone(),
            }),
        }))
    }

    pub fn export(&self, batch: &Batch) -> SendReport {
        self.0.export(batch)
    }
}

/// The formats rendered as a whole document on stdout.
enum Text {
    Prometheus { prefix: String },
    Emf { namespace: String },
}

impl Export for Text {
    fn export(&self, batch: &Batch) -> SendReport {
        let text = match self {
            Text::Prometheus { prefix } => prometheus::render(batch.metrics, prefix),
            Text::Emf { namespace } => {
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
        let mut out = crate::console::stdout_writer();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            // A reader that went away (`| head`) is not an error.
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                report.sent = 0;
                report.fail(format!("writing to stdout: {e}"));
            }
            _ => {}
        }
        report
    }
}
