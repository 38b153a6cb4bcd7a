//! `--tag-format graphite`: StatsD lines for servers without tags (collectd, statsite,
//! brubeck, Graphite's statsd). The tags that tell one run's series apart become name
//! segments between the prefix and the metric name, in a fixed order; the identity and
//! constant tags, the same on every series of a run, are left out (put them in `--prefix`).

use crate::metrics::{Metric, TagSet};

/// Tags that become name segments, in this order, each when the series has it. `cpu` values
/// (host CPU numbers) are spelled `cpu<N>` so the segment says what it is.
pub const PATH_KEYS: [&str; 4] = ["container_name", "container_id", "interface", "cpu"];

/// The metric name without the prefix: `web.mem_usage`, `_task_.mem_usage`,
/// `web.eth0.network_rx_bytes_total`, `web.cpu0.percpu_usage_ratio`; `exporter_status` (no
/// container) stays as it is.
pub fn name(metric: &Metric) -> String {
    let mut out = path(&metric.tags);
    out.push_str(metric.name());
    out
}

/// The segments a series' tags give its name, each followed by `.` (`web.eth0.`): all that
/// tells two series of one metric apart here.
/// What tells series apart in graphite names: the name segments ([`path`]).
pub fn series_key(tags: &TagSet) -> Vec<String> {
    vec![path(tags)]
}

pub fn path(tags: &TagSet) -> String {
    let mut out = String::new();
    for key in PATH_KEYS {
        if let Some(value) = tags.get(key) {
            if key == "cpu" {
                out.push_str("cpu");
            }
            push_segment(&mut out, value);
            out.push('.');
        }
    }
    out
}

/// A tag value made path-safe: ASCII letters, digits, `_` and `-` are kept, anything else (the
/// `.` separator, `:`, `|`, `@`, `/`, non-ASCII) becomes `_`; an empty value is `_`.
fn push_segment(out: &mut String, value: &str) {
    if value.is_empty() {
        out.push('_');
    }
    out.extend(value.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
            c
        } else {
            '_'
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::catalog::{
        EXPORTER_STATUS, MEM_USAGE, NETWORK_RX_BYTES_TOTAL, PERCPU_USAGE_RATIO,
    };
    use crate::metrics::{Definition, TagKey};

    fn metric(definition: &'static Definition, pairs: &[(&'static str, &str)]) -> Metric {
        let tags: Vec<(TagKey, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.to_string()))
            .collect();
        Metric::int(definition, 1, tags)
    }

    #[test]
    fn series_keys_in_the_documented_order_identity_left_out() {
        let id = [("ecs_cluster_name", "prod"), ("team", "")];
        let with = |extra: &[(&'static str, &'static str)]| {
            extra.iter().chain(&id).copied().collect::<Vec<_>>()
        };
        let cases = [
            (
                metric(&MEM_USAGE, &with(&[("container_name", "web")])),
                "web.mem_usage",
            ),
            (
                metric(&MEM_USAGE, &with(&[("container_name", "_task_")])),
                "_task_.mem_usage",
            ),
            (
                // The order is fixed, whatever the tag order.
                metric(
                    &NETWORK_RX_BYTES_TOTAL,
                    &with(&[("interface", "eth0"), ("container_name", "web")]),
                ),
                "web.eth0.network_rx_bytes_total",
            ),
            (
                metric(
                    &PERCPU_USAGE_RATIO,
                    &with(&[("container_name", "web"), ("cpu", "0")]),
                ),
                "web.cpu0.percpu_usage_ratio",
            ),
            (
                metric(
                    &MEM_USAGE,
                    &with(&[("container_name", "web"), ("container_id", "abc")]),
                ),
                "web.abc.mem_usage",
            ),
            (metric(&EXPORTER_STATUS, &with(&[])), "exporter_status"),
            (
                metric(&MEM_USAGE, &[("container_name", "a.b:c|d@e/f é#g")]),
                "a_b_c_d_e_f___g.mem_usage",
            ),
            (metric(&MEM_USAGE, &[("container_name", "")]), "_.mem_usage"),
        ];
        for (metric, expected) in cases {
            assert_eq!(name(&metric), expected);
        }
    }
}
