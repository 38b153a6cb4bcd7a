//! The one path from parsed payloads to series: task metadata + stats samples + options →
//! every series a run sends. The binary ([`crate::run`]), the criterion bench, the property
//! tests and the fuzz target all call [`series`], so they measure and check exactly what is
//! sent.

use crate::ecs::task::Container;
use crate::ecs::{StatsSample, Task};
use crate::metrics::{self, Input, Metric, Selection, TagOptions, Tagger, catalog};

/// How series are made: the tags and the filter.
pub struct Options<'a> {
    pub tags: TagOptions,
    /// `--tag` / `DD_TAGS` pairs, already sanitized.
    pub constant_tags: &'a [(String, String)],
    /// The filter's verdict: whether a container's own series are sent. Task totals count
    /// every measured container regardless.
    pub included: &'a dyn Fn(&Container) -> bool,
    /// `--ecs-agent-divides-network`: how the task's network totals are made on EC2 awsvpc.
    pub agent_divides_network: bool,
}

/// What a run says about itself, sent beside what it measured (`exporter_*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunReport {
    /// A read failed part-way (the samples are those read before it).
    pub read_failed: bool,
    /// Failed attempts at the endpoint, retries included.
    pub fetch_errors: u64,
    /// Seconds spent fetching and in the whole run: a live run's wall clock. `None` for a
    /// replay, which must give the same lines every time.
    pub seconds: Option<(f64, f64)>,
}

/// Every series of one run, in the order sent. Containers with stats but absent from the
/// task metadata are not measured (a run re-reads `/task` first).
pub fn series(
    task: &Task,
    samples: &[StatsSample],
    options: &Options,
    report: &RunReport,
) -> Vec<Metric> {
    selected_series(task, samples, options, report, &Selection::default())
}

/// [`series`] with `--metrics` / `--skip-metrics` applied: the series of the metrics left out
/// are counted in `exporter_series_skipped`, and `exporter_series` counts what is sent.
pub fn selected_series(
    task: &Task,
    samples: &[StatsSample],
    options: &Options,
    report: &RunReport,
    selection: &Selection,
) -> Vec<Metric> {
    let tagger = Tagger::new(task, options.tags, options.constant_tags);
    let mut all = metrics::compute(&Input {
        task,
        samples,
        included: options.included,
        tagger: &tagger,
        agent_divides_network: options.agent_divides_network,
    });
    let computed = all.len();
    all.retain(|metric| selection.sends(metric.definition));
    let skipped = computed - all.len();
    all.push(Metric::exporter_status(
        !report.read_failed && samples.len() >= 2,
        tagger.run(),
    ));
    let measured = samples.last().map_or(0, |last| {
        last.with_metadata(task)
            .filter(|(_, _, container)| container.is_some())
            .count()
    });
    all.push(Metric::int(
        &catalog::EXPORTER_CONTAINERS,
        measured as u64,
        tagger.run(),
    ));
    all.push(Metric::int(
        &catalog::EXPORTER_FETCH_ERRORS,
        report.fetch_errors,
        tagger.run(),
    ));
    if let Some((fetch, run)) = report.seconds {
        all.extend(Metric::derived(
            &catalog::EXPORTER_FETCH_SECONDS,
            fetch,
            tagger.run(),
        ));
        all.extend(Metric::derived(
            &catalog::EXPORTER_RUN_SECONDS,
            run,
            tagger.run(),
        ));
    }
    all.push(Metric::int(
        &catalog::EXPORTER_SERIES_SKIPPED,
        skipped as u64,
        tagger.run(),
    ));
    // Itself included.
    let sent = all.len() + 1;
    all.push(Metric::int(
        &catalog::EXPORTER_SERIES,
        sent as u64,
        tagger.run(),
    ));
    all
}
