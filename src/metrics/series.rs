//! The one path from parsed payloads to series: task metadata + stats samples + options →
//! every series a run sends. The binary ([`crate::run`]), the criterion bench, the property
//! tests and the fuzz target all call [`series`], so they measure and check exactly what is
//! sent.

use super::{Input, Metric, Selection, TagOptions, Tagger, catalog};
use crate::ecs::task::{Container, PAUSE_CONTAINER_NAME};
use crate::ecs::{StatsSample, Task};

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
    let (mut all, measured) = super::compute_measured(&Input {
        task,
        samples,
        included: options.included,
        tagger: &tagger,
        agent_divides_network: options.agent_divides_network,
    });
    let computed = all.len();
    all.retain(|metric| selection.sends(metric.definition));
    let skipped = computed - all.len();
    self_telemetry(&mut all, samples, report, &tagger, (measured, skipped));
    all
}

/// The `exporter_*` series a run sends about itself, after what it measured: its status, the
/// containers measured, the fetch errors, its times (live runs), the series skipped and sent
/// (`measured` and `skipped` are the computation's counts).
fn self_telemetry(
    all: &mut Vec<Metric>,
    samples: &[StatsSample],
    report: &RunReport,
    tagger: &Tagger,
    (measured, skipped): (usize, usize),
) {
    all.push(Metric::exporter_status(
        !report.read_failed && samples.len() >= 2,
        tagger.run(),
    ));
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
}

/// The containers `/task` lists as running (`KnownStatus` RUNNING, ECS internals aside) when
/// the last sample holds stats for none of them (`{}`, or every entry `null`): that run
/// measured nothing it was asked for, and is a failure (`exporter_status:0`, exit 2). Empty
/// otherwise. A task whose containers all stopped is told apart by `/task` itself: it lists
/// none as RUNNING (the agent reports `STOPPED`, and `null` stats for them), so nothing was
/// missed and nothing is returned.
pub fn running_without_stats<'a>(task: &'a Task, samples: &[StatsSample]) -> Vec<&'a str> {
    let Some(last) = samples.last() else {
        return Vec::new();
    };
    let running: Vec<&Container> = task
        .containers()
        .iter()
        .filter(|c| c.known_status.as_deref() == Some("RUNNING"))
        .filter(|c| {
            c.name.as_deref() != Some(PAUSE_CONTAINER_NAME)
                && c.r#type.as_deref().is_none_or(|t| t == "NORMAL")
        })
        .collect();
    let measured = |c: &&Container| {
        c.docker_id
            .as_deref()
            .is_some_and(|id| last.get(id).is_some())
    };
    if running.iter().any(measured) {
        return Vec::new();
    }
    running
        .iter()
        .map(|c| c.name.as_deref().or(c.docker_id.as_deref()).unwrap_or("?"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(containers: &[(&str, &str)]) -> Task {
        let list: Vec<String> = containers
            .iter()
            .map(|(name, status)| {
                format!(r#"{{"DockerId":"id-{name}","Name":"{name}","KnownStatus":"{status}"}}"#)
            })
            .collect();
        Task::parse(format!(r#"{{"Containers":[{}]}}"#, list.join(",")).as_bytes()).unwrap()
    }

    fn stats(body: &str) -> StatsSample {
        StatsSample::parse(body.as_bytes()).unwrap()
    }

    #[test]
    fn stats_for_none_of_the_running_containers_is_told_from_a_stopped_task() {
        let web = r#"{"read":"2024-05-14T10:00:01Z","cpu_stats":{"online_cpus":2}}"#;
        let running = task(&[("web", "RUNNING"), ("log", "RUNNING"), ("old", "STOPPED")]);
        for body in [
            "{}",
            r#"{"id-web":null,"id-log":null}"#,
            r#"{"id-old":WEB}"#,
        ] {
            let sample = stats(&body.replace("WEB", web));
            assert_eq!(
                running_without_stats(&running, &[sample]),
                ["web", "log"],
                "{body}"
            );
        }
        // One running container measured: no failure.
        let one = stats(&format!(r#"{{"id-web":{web},"id-log":null}}"#));
        assert!(running_without_stats(&running, &[one]).is_empty());
        // Every container stopped (or only the pause container left): nothing was missed.
        let stopped = task(&[("web", "STOPPED"), ("log", "STOPPED")]);
        assert!(running_without_stats(&stopped, &[stats(r#"{"id-web":null}"#)]).is_empty());
        let pause = Task::parse(
            br#"{"Containers":[{"DockerId":"p","Name":"~internal~ecs~pause","KnownStatus":"RUNNING","Type":"CNI_PAUSE"}]}"#,
        )
        .unwrap();
        assert!(running_without_stats(&pause, &[stats("{}")]).is_empty());
        assert!(running_without_stats(&running, &[]).is_empty());
    }
}
