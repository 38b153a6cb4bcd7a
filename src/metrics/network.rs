//! Network: cumulative interface counters of the last sample, tagged by interface, and the
//! byte rates over the interval.
//!
//! Task totals: in `awsvpc`/`host` mode (and on Fargate) every container shares the task's
//! network namespace and reports the same ENI counters, so each interface is counted once
//! (the largest reading, i.e. the latest). In `bridge` mode each container has its own
//! namespace and the totals sum across containers. The ancestor always summed, reporting N
//! times the task's traffic.
//!
//! Exception: on EC2 (Linux and Windows, and any other launch type the ECS agent runs on) in
//! `awsvpc` mode, Docker reports no counters for containers joined to the pause container's
//! namespace, so the ECS agent reads the task ENI's counters itself (netlink in
//! amazon-ecs-agent `agent/stats/task_linux.go`, `Get-NetAdapterStatistics` in
//! `task_windows.go`) and gives every container that counter divided by the number of
//! containers (`linkStatsToDockerStats`, `getNetworkAdaptorStatistics`); `engine.go`
//! (`ContainerDockerStats`) then replaces each container's `networks` with that share. The
//! divisor is the task's container count less the pause container (`addToStatsTaskMapUnsafe`),
//! and the pause container is handed the same share, so the task total is the sum over the
//! containers other than the pause container. Fargate runs its own agent, whose containers
//! each read the whole ENI (the bundled Fargate captures differ between containers by the
//! traffic between their reads): once per interface. Without a `LaunchType` (v2 and early
//! v3/v4 payloads) the platform is unknown and each interface is counted once, as before.
//! Interface names are Windows adapter names ("Ethernet 3") or endpoint GUIDs there; they
//! stay one `interface` tag value, sanitized like every tag.

use std::collections::BTreeMap;

use super::catalog::{
    NETWORK_RX_BYTES_PER_SEC, NETWORK_RX_BYTES_TOTAL, NETWORK_RX_DROPPED_TOTAL,
    NETWORK_RX_ERRORS_TOTAL, NETWORK_RX_PACKETS_TOTAL, NETWORK_TX_BYTES_PER_SEC,
    NETWORK_TX_BYTES_TOTAL, NETWORK_TX_DROPPED_TOTAL, NETWORK_TX_ERRORS_TOTAL,
    NETWORK_TX_PACKETS_TOTAL,
};
use super::{Definition, Measured, Metric, Tagger};
use crate::ecs::Task;
use crate::ecs::stats::NetworkStats;
use crate::ecs::task::PAUSE_CONTAINER_NAME;

/// How the task's network totals are made from the containers' counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskTotal {
    /// Each container has its own namespace (`bridge`): the sum over containers.
    Sum,
    /// Every container reports the whole shared interface: each interface once.
    OncePerInterface,
    /// `awsvpc` outside Fargate: each container reports the ECS agent's share of the task
    /// ENI; the sum without the pause container.
    SumOfShares,
}

impl TaskTotal {
    pub fn of(task: &Task) -> TaskTotal {
        let agent_shares =
            task.launch_type.is_some() && !task.is_fargate() && task.has_network_mode("awsvpc");
        if agent_shares {
            TaskTotal::SumOfShares
        } else if task.shares_network_namespace() {
            TaskTotal::OncePerInterface
        } else {
            TaskTotal::Sum
        }
    }
}

fn is_pause(m: &Measured) -> bool {
    m.container.name.as_deref() == Some(PAUSE_CONTAINER_NAME)
        || m.container.r#type.as_deref() == Some("CNI_PAUSE")
}

type NetworkField = fn(&NetworkStats) -> Option<u64>;

/// (cumulative series, rate series, field).
const NETWORK: [(&Definition, Option<&Definition>, NetworkField); 8] = [
    (
        &NETWORK_RX_BYTES_TOTAL,
        Some(&NETWORK_RX_BYTES_PER_SEC),
        |n| n.rx_bytes,
    ),
    (&NETWORK_RX_PACKETS_TOTAL, None, |n| n.rx_packets),
    (&NETWORK_RX_ERRORS_TOTAL, None, |n| n.rx_errors),
    (&NETWORK_RX_DROPPED_TOTAL, None, |n| n.rx_dropped),
    (
        &NETWORK_TX_BYTES_TOTAL,
        Some(&NETWORK_TX_BYTES_PER_SEC),
        |n| n.tx_bytes,
    ),
    (&NETWORK_TX_PACKETS_TOTAL, None, |n| n.tx_packets),
    (&NETWORK_TX_ERRORS_TOTAL, None, |n| n.tx_errors),
    (&NETWORK_TX_DROPPED_TOTAL, None, |n| n.tx_dropped),
];

pub fn metrics(
    measured: &[Measured],
    task_total: TaskTotal,
    tagger: &Tagger,
    out: &mut Vec<Metric>,
) {
    let shared_namespace = task_total == TaskTotal::OncePerInterface;
    for (counter, rate_series, field) in NETWORK {
        let mut total: Option<u64> = None;
        let mut shared_total: BTreeMap<&str, u64> = BTreeMap::new();
        let mut rates: BTreeMap<&str, f64> = BTreeMap::new();
        let mut summed_rate: Option<f64> = None;
        for m in measured {
            let Some(networks) = m.cur.networks.as_ref() else {
                continue;
            };
            let in_total = !(task_total == TaskTotal::SumOfShares && is_pause(m));
            for (interface, counters) in networks {
                let Some(value) = field(counters) else {
                    continue;
                };
                if shared_namespace {
                    let seen = shared_total.entry(interface).or_insert(0);
                    *seen = (*seen).max(value);
                } else if in_total {
                    total = Some(total.unwrap_or(0).saturating_add(value));
                }
                if m.included {
                    let tags = m.tags_with("interface", interface);
                    out.push(Metric::int(counter, value, tags));
                }
                let Some(rate_series) = rate_series else {
                    continue;
                };
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
                } else if in_total {
                    *summed_rate.get_or_insert(0.0) += rate;
                }
                if m.included {
                    let tags = m.tags_with("interface", interface);
                    out.extend(Metric::derived(rate_series, rate, tags));
                }
            }
        }
        let total = if shared_namespace {
            shared_total.values().copied().reduce(u64::saturating_add)
        } else {
            total
        };
        if let Some(total) = total {
            out.push(Metric::int(counter, total, tagger.task()));
        }
        let task_rate = if shared_namespace {
            rates.values().copied().reduce(|a, b| a + b)
        } else {
            summed_rate
        };
        if let (Some(rate_series), Some(rate)) = (rate_series, task_rate) {
            out.extend(Metric::derived(rate_series, rate, tagger.task()));
        }
    }
}
