//! Which metrics a run sends (`--metrics`, `--skip-metrics`): Datadog bills every series as a
//! custom metric, so a user may keep only the ones a dashboard reads. A list names metrics
//! (without the prefix) or families; the `exporter_*` self-telemetry is always sent, so a
//! monitor on `exporter_status` keeps working whatever the lists say.

use super::catalog::{CATALOG, Definition};

/// A group of metrics that one word names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Cpu,
    /// One series per host CPU: 96 per container on a 96-vCPU host.
    Percpu,
    Memory,
    Disk,
    Network,
    /// Ephemeral storage, processes and restarts.
    Task,
    /// The run's own series: never left out.
    Exporter,
}

/// The families a list may name, as written.
pub const FAMILIES: [(&str, Family); 6] = [
    ("cpu", Family::Cpu),
    ("percpu", Family::Percpu),
    ("memory", Family::Memory),
    ("disk", Family::Disk),
    ("network", Family::Network),
    ("task", Family::Task),
];

impl Family {
    /// The family of a catalog metric, from its name (every name starts with its family's
    /// word; a test checks that each one of [`CATALOG`] has a family).
    pub fn of(definition: &Definition) -> Option<Family> {
        let name = definition.name;
        let family = if name.starts_with("percpu_") {
            Family::Percpu
        } else if name.starts_with("cpu_") {
            Family::Cpu
        } else if name.starts_with("mem_") {
            Family::Memory
        } else if name.starts_with("disk_") {
            Family::Disk
        } else if name.starts_with("network_") {
            Family::Network
        } else if name.starts_with("ephemeral_storage_") || name == "pids" || name == "restarts" {
            Family::Task
        } else if name.starts_with("exporter_") {
            Family::Exporter
        } else {
            return None;
        };
        Some(family)
    }
}

/// One item of a list: a metric, or a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Metric(&'static Definition),
    Family(Family),
}

impl Item {
    fn covers(self, definition: &Definition) -> bool {
        match self {
            Item::Metric(d) => std::ptr::eq(d, definition),
            Item::Family(f) => Family::of(definition) == Some(f),
        }
    }
}

/// A comma list of metric names (without the prefix) and families. Blank items are
/// ignored; an unknown one is an error naming it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MetricList(Vec<Item>);

impl MetricList {
    pub fn parse(raw: &str) -> Result<MetricList, String> {
        let mut items = Vec::new();
        let mut unknown = Vec::new();
        for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if let Some((_, family)) = FAMILIES.iter().find(|(name, _)| *name == word) {
                items.push(Item::Family(*family));
            } else if let Some(definition) = CATALOG.iter().find(|d| d.name == word) {
                items.push(Item::Metric(definition));
            } else {
                unknown.push(format!("{word:?}"));
            }
        }
        if !unknown.is_empty() {
            let families: Vec<&str> = FAMILIES.iter().map(|(name, _)| *name).collect();
            return Err(format!(
                "unknown metric or family {}: give metric names without the prefix (as \
                 docs/metrics.md lists them, e.g. mem_usage) or the families {}",
                unknown.join(", "),
                families.join(", ")
            ));
        }
        if items.is_empty() {
            return Err("give at least one metric name or family".into());
        }
        Ok(MetricList(items))
    }

    fn covers(&self, definition: &Definition) -> bool {
        self.0.iter().any(|item| item.covers(definition))
    }

    /// The self-telemetry metrics named, which `--skip-metrics` cannot leave out.
    fn exporter_items(&self) -> Vec<&'static str> {
        self.0
            .iter()
            .filter_map(|item| match item {
                Item::Metric(d) if Family::of(d) == Some(Family::Exporter) => Some(d.name),
                _ => None,
            })
            .collect()
    }
}

/// What a run sends: everything (the default), only `--metrics`, minus `--skip-metrics`, and
/// always the `exporter_*` series.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selection {
    only: Option<MetricList>,
    skip: Option<MetricList>,
}

impl Selection {
    /// `--skip-metrics` naming an `exporter_*` metric is an error: they are always sent.
    pub fn new(only: Option<MetricList>, skip: Option<MetricList>) -> Result<Selection, String> {
        if let Some(named) = skip.as_ref().map(MetricList::exporter_items)
            && !named.is_empty()
        {
            return Err(format!(
                "{} cannot be skipped: the exporter_* self-telemetry is always sent",
                named.join(", ")
            ));
        }
        Ok(Selection { only, skip })
    }

    /// Whether a series of this metric is sent.
    pub fn sends(&self, definition: &Definition) -> bool {
        // Without --metrics and --skip-metrics, every series.
        if self.only.is_none() && self.skip.is_none() {
            return true;
        }
        if Family::of(definition) == Some(Family::Exporter) {
            return true;
        }
        self.only
            .as_ref()
            .is_none_or(|only| only.covers(definition))
            && !self
                .skip
                .as_ref()
                .is_some_and(|skip| skip.covers(definition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::catalog::{
        CPU_USAGE_RATIO, CPU_USAGE_RATIO_MEDIAN, EXPORTER_STATUS, MEM_USAGE, PERCPU_USAGE_RATIO,
        PIDS,
    };

    #[test]
    fn every_metric_has_a_family() {
        for d in CATALOG {
            assert!(Family::of(d).is_some(), "{} has no family", d.name);
        }
        assert_eq!(Family::of(&PERCPU_USAGE_RATIO), Some(Family::Percpu));
        assert_eq!(Family::of(&CPU_USAGE_RATIO), Some(Family::Cpu));
        assert_eq!(Family::of(&PIDS), Some(Family::Task));
    }

    #[test]
    fn lists_name_metrics_and_families() {
        let only = MetricList::parse("memory, cpu_usage_ratio,").unwrap();
        let selection = Selection::new(Some(only), None).unwrap();
        assert!(selection.sends(&MEM_USAGE));
        assert!(selection.sends(&CPU_USAGE_RATIO));
        // A name is exact: its _median is another metric.
        assert!(!selection.sends(&CPU_USAGE_RATIO_MEDIAN));
        assert!(!selection.sends(&PERCPU_USAGE_RATIO));
        assert!(selection.sends(&EXPORTER_STATUS));
        let skip = MetricList::parse("percpu,mem_usage").unwrap();
        let selection = Selection::new(None, Some(skip)).unwrap();
        assert!(!selection.sends(&PERCPU_USAGE_RATIO));
        assert!(!selection.sends(&MEM_USAGE));
        assert!(selection.sends(&CPU_USAGE_RATIO));
        assert!(Selection::default().sends(&PERCPU_USAGE_RATIO));
    }

    #[test]
    fn unknown_names_and_skipped_self_telemetry_are_errors() {
        let err = MetricList::parse("cpu,ecs_task.mem_usage,memroy").unwrap_err();
        assert!(
            err.contains("\"ecs_task.mem_usage\", \"memroy\"") && err.contains("percpu"),
            "{err}"
        );
        assert!(MetricList::parse(" , ").is_err());
        let skip = MetricList::parse("exporter_status").unwrap();
        let err = Selection::new(None, Some(skip)).unwrap_err();
        assert!(err.contains("exporter_status") && err.contains("always sent"));
        let only = MetricList::parse("exporter_status").unwrap();
        assert!(Selection::new(Some(only), None).is_ok());
    }
}
