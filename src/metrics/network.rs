//! Network: cumulative interface counters of the second sample, tagged by interface.
//!
//! Task totals: in `awsvpc`/`host` mode (and on Fargate) every container shares the task's
//! network namespace and reports the same ENI counters, so each interface is counted once
//! (the largest reading, i.e. the latest). In `bridge` mode each container has its own
//! namespace and the totals sum across containers. The ancestor always summed, reporting N
//! times the task's traffic.

use std::collections::BTreeMap;

use super::{Measured, Metric, Value, add, sanitize_tag_value, task_tags};
use crate::ecs::stats::NetworkStats;

type NetworkField = fn(&NetworkStats) -> Option<u64>;

const NETWORK: [(&str, NetworkField); 8] = [
    ("network_rx_bytes_total", |n| n.rx_bytes),
    ("network_rx_packets_total", |n| n.rx_packets),
    ("network_rx_errors_total", |n| n.rx_errors),
    ("network_rx_dropped_total", |n| n.rx_dropped),
    ("network_tx_bytes_total", |n| n.tx_bytes),
    ("network_tx_packets_total", |n| n.tx_packets),
    ("network_tx_errors_total", |n| n.tx_errors),
    ("network_tx_dropped_total", |n| n.tx_dropped),
];

pub fn metrics(measured: &[Measured], shared_namespace: bool, out: &mut Vec<Metric>) {
    for (name, field) in NETWORK {
        // Shared namespace: interface → largest reading. Bridge: running sum.
        let mut per_interface: BTreeMap<&str, u64> = BTreeMap::new();
        let mut summed = None;
        for m in measured {
            let Some(networks) = m.cur.networks.as_ref() else {
                continue;
            };
            for (interface, counters) in networks {
                let Some(value) = field(counters) else {
                    continue;
                };
                if shared_namespace {
                    let seen = per_interface.entry(interface).or_insert(0);
                    *seen = (*seen).max(value);
                } else {
                    add(&mut summed, value);
                }
                if m.included {
                    let mut tags = m.tags();
                    tags.push(("interface", sanitize_tag_value(interface)));
                    out.push(Metric::new(name, Value::Int(value), tags));
                }
            }
        }
        let total = if shared_namespace {
            per_interface.values().copied().reduce(u64::saturating_add)
        } else {
            summed
        };
        if let Some(total) = total {
            out.push(Metric::new(name, Value::Int(total), task_tags()));
        }
    }
}
