//! Network: cumulative interface counters of the last sample, tagged by interface, and the
//! byte rates over the interval.
//!
//! Task totals: in `awsvpc`/`host` mode (and on Fargate) every container shares the task's
//! network namespace and reports the same ENI counters, so each interface is counted once
//! (the largest reading, i.e. the latest). In `bridge` mode each container has its own
//! namespace and the totals sum across containers. The ancestor always summed, reporting N
//! times the task's traffic.
//!
//! Exception: on EC2 Windows in `awsvpc` mode the ECS agent reads the task ENI's counters
//! (`Get-NetAdapterStatistics`) and gives every container that counter divided by the number
//! of containers (amazon-ecs-agent `agent/stats/task_windows.go`,
//! `getNetworkAdaptorStatistics`; `engine.go` then replaces each container's `networks` with
//! the task's). Each container reports its share, so the task total is their sum.
//! Interface names are Windows adapter names ("Ethernet 3") or endpoint GUIDs there; they
//! stay one `interface` tag value, sanitized like every tag.

use std::collections::BTreeMap;

use super::{Measured, Metric, Tagger, Value, sanitize_tag_value};
use crate::ecs::Task;
use crate::ecs::stats::NetworkStats;

/// Whether each interface of the task is counted once (the same counters in every container)
/// rather than summed over containers. See the module comment for the EC2 Windows case.
pub fn counted_once(task: &Task, measured: &[Measured]) -> bool {
    let windows_share = !task.is_fargate()
        && task.has_network_mode("awsvpc")
        && measured.iter().any(|m| m.cur.is_windows());
    task.shares_network_namespace() && !windows_share
}

type NetworkField = fn(&NetworkStats) -> Option<u64>;

/// (cumulative name, rate name, field).
const NETWORK: [(&str, Option<&str>, NetworkField); 8] = [
    (
        "network_rx_bytes_total",
        Some("network_rx_bytes_per_sec"),
        |n| n.rx_bytes,
    ),
    ("network_rx_packets_total", None, |n| n.rx_packets),
    ("network_rx_errors_total", None, |n| n.rx_errors),
    ("network_rx_dropped_total", None, |n| n.rx_dropped),
    (
        "network_tx_bytes_total",
        Some("network_tx_bytes_per_sec"),
        |n| n.tx_bytes,
    ),
    ("network_tx_packets_total", None, |n| n.tx_packets),
    ("network_tx_errors_total", None, |n| n.tx_errors),
    ("network_tx_dropped_total", None, |n| n.tx_dropped),
];

pub fn metrics(
    measured: &[Measured],
    shared_namespace: bool,
    tagger: &Tagger,
    out: &mut Vec<Metric>,
) {
    for (name, rate_name, field) in NETWORK {
        let mut total: Option<u64> = None;
        let mut shared_total: BTreeMap<&str, u64> = BTreeMap::new();
        let mut rates: BTreeMap<&str, f64> = BTreeMap::new();
        let mut summed_rate: Option<f64> = None;
        for m in measured {
            let Some(networks) = m.cur.networks.as_ref() else {
                continue;
            };
            for (interface, counters) in networks {
                let Some(value) = field(counters) else {
                    continue;
                };
                if shared_namespace {
                    let seen = shared_total.entry(interface).or_insert(0);
                    *seen = (*seen).max(value);
                } else {
                    total = Some(total.unwrap_or(0).saturating_add(value));
                }
                let interface_tag = || sanitize_tag_value(interface);
                if m.included {
                    out.push(Metric::new(
                        name,
                        Value::Int(value),
                        m.tags_with("interface", interface_tag()),
                    ));
                }
                let Some(rate_name) = rate_name else { continue };
                let previous = m
                    .prev
                    .and_then(|p| p.networks.as_ref()?.get(interface))
                    .and_then(field);
                // A counter that went backwards (restart) drops the rate.
                let Some(rate) = previous
                    .and_then(|p| value.checked_sub(p))
                    .zip(m.elapsed)
                    .map(|(d, s)| d as f64 / s)
                else {
                    continue;
                };
                if shared_namespace {
                    let seen = rates.entry(interface).or_insert(0.0);
                    *seen = seen.max(rate);
                } else {
                    *summed_rate.get_or_insert(0.0) += rate;
                }
                if m.included {
                    out.extend(Metric::derived(
                        rate_name,
                        rate,
                        m.tags_with("interface", interface_tag()),
                    ));
                }
            }
        }
        let total = if shared_namespace {
            shared_total.values().copied().reduce(u64::saturating_add)
        } else {
            total
        };
        if let Some(total) = total {
            out.push(Metric::new(name, Value::Int(total), tagger.task()));
        }
        let task_rate = if shared_namespace {
            rates.values().copied().reduce(|a, b| a + b)
        } else {
            summed_rate
        };
        if let (Some(rate_name), Some(rate)) = (rate_name, task_rate) {
            out.extend(Metric::derived(rate_name, rate, tagger.task()));
        }
    }
}
