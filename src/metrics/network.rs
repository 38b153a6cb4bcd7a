//! Network: cumulative interface counters of the last sample, tagged by interface, and the
//! byte rates over the interval.
//!
//! Task totals: in `bridge` mode each container has its own namespace and the totals sum
//! across containers. In `awsvpc`/`host` mode (and on Fargate) every container shares the
//! task's network namespace, so each interface is counted once: one container's reading (the
//! largest, i.e. the latest). The ancestor always summed, reporting N times the task's
//! traffic.
//!
//! `awsvpc` on the ECS agent (EC2 Linux and Windows, ECS Managed Instances): Docker reports
//! no counters for containers joined to the pause container's namespace, so the agent reads
//! the task ENI itself (netlink in amazon-ecs-agent `agent/stats/task_linux.go`,
//! `GetMIBIfEntryFromLUID` in `task_windows.go`), and `engine.go` `ContainerDockerStats` puts
//! that reading in every container's `networks`, the pause container's included. What the
//! reading is depends on the agent (checked at amazon-ecs-agent commit 8dfceca6, 2026-06-30):
//! - Linux agents before 1.100.0 divided each counter by `NumberContainers`, which
//!   `engine.go` `addToStatsTaskMapUnsafe` sets to `len(task.Containers) - 1`: every
//!   container of the task but the pause container, stopped and non-essential ones included.
//!   Commit 4ca8d9d338370bbc7c4f6ae70eb8d7cd5b461f76 ("Fix undercounting of EC2 awsvpc network
//!   stats", their issue 4618), first in tag v1.100.0, removed the division: since then every
//!   container reports the whole ENI, counted once as on Fargate. That is the default here.
//! - Windows agents still divide (`task_windows.go` `parseNetworkStatsPerContainerFromIfRow`,
//!   at that HEAD).
//!
//! So with `--ecs-agent-divides-network` (a Linux agent before 1.100.0), and always on
//! Windows, the task total is one share times the containers of `/task` other than the pause
//! container, whatever their status ([`TaskTotal::Shares`]). `AvailabilityZoneID` in `/task`
//! (amazon-ecs-agent commit 7bfc0d9c, "support AZ ID in TMDS", first in v1.102.0) proves a
//! Linux agent that no longer divides: it overrides the setting, with a warning. Its absence
//! proves nothing (a Fargate-style payload, or an older agent).
//!
//! Fargate runs its own agent, whose containers each read the whole ENI (the bundled Fargate
//! captures differ between containers by the traffic between their reads): once per
//! interface. Without a `LaunchType` (v2 and early v3/v4 payloads) the platform is unknown
//! and each interface is counted once. Interface names are Windows adapter names
//! ("Ethernet 3") or endpoint GUIDs there; they stay one `interface` tag value, sanitized
//! like every tag.

use std::collections::BTreeMap;

use super::catalog::{
    NETWORK_RX_BYTES_PER_SEC, NETWORK_RX_BYTES_TOTAL, NETWORK_RX_DROPPED_TOTAL,
    NETWORK_RX_ERRORS_TOTAL, NETWORK_RX_PACKETS_TOTAL, NETWORK_TX_BYTES_PER_SEC,
    NETWORK_TX_BYTES_TOTAL, NETWORK_TX_DROPPED_TOTAL, NETWORK_TX_ERRORS_TOTAL,
    NETWORK_TX_PACKETS_TOTAL,
};
use super::{Definition, Measured, Metric, TagSet, Tagger};
use crate::ecs::Task;
use crate::ecs::stats::NetworkStats;
use crate::ecs::task::{Container, PAUSE_CONTAINER_NAME};

/// How the task's network totals are made from the containers' counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskTotal {
    /// Each container has its own namespace (`bridge`): the sum over containers.
    Sum,
    /// Every container reports the whole shared interface: each interface once.
    OncePerInterface,
    /// `awsvpc` on an ECS agent that divides the task ENI's counters among the containers
    /// (Windows; Linux before 1.100.0): one share (read once per interface) times this many
    /// containers, the non-pause containers listed in `/task`.
    Shares { containers: u64 },
}

impl TaskTotal {
    /// The rule for `task` (see the module comment). `windows`: the stats are a Windows
    /// container's; `agent_divides`: `--ecs-agent-divides-network`.
    pub fn of(task: &Task, windows: bool, agent_divides: bool) -> TaskTotal {
        let ecs_agent_awsvpc =
            task.launch_type.is_some() && !task.is_fargate() && task.has_network_mode("awsvpc");
        let divides =
            ecs_agent_awsvpc && (windows || (agent_divides && !current_agent_overrides(task)));
        if divides {
            let containers = task.containers().iter().filter(|c| !is_pause(c)).count();
            TaskTotal::Shares {
                containers: containers.max(1) as u64,
            }
        } else if task.shares_network_namespace() {
            TaskTotal::OncePerInterface
        } else {
            TaskTotal::Sum
        }
    }
}

/// `AvailabilityZoneID` in `/task`: the agent is 1.102.0 or later, whose Linux containers
/// report the whole ENI, whatever `--ecs-agent-divides-network` says (warned once: the one
/// computation of a run decides it once).
fn current_agent_overrides(task: &Task) -> bool {
    let Some(zone_id) = task.availability_zone_id.as_deref() else {
        return false;
    };
    log::warn!(
        "--ecs-agent-divides-network ignored: /task carries AvailabilityZoneID {zone_id:?}, so \
         the ECS agent is 1.102.0 or later and each container reports the whole task ENI"
    );
    true
}

fn is_pause(container: &Container) -> bool {
    container.name.as_deref() == Some(PAUSE_CONTAINER_NAME)
        || container.r#type.as_deref() == Some("CNI_PAUSE")
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
    // Each container's tags of each interface, made once for the series of every counter.
    let interface_tags: Vec<Vec<TagSet>> = (measured.iter())
        .map(|m| {
            let interfaces = m.cur.networks.iter().flat_map(|n| n.keys());
            interfaces.map(|i| m.tags_with("interface", i)).collect()
        })
        .collect();
    for (counter, rate_series, field) in NETWORK {
        let mut total = Total::<u64>::new(task_total);
        let mut task_rate = Total::<f64>::new(task_total);
        for (m, interface_tags) in measured.iter().zip(&interface_tags) {
            let Some(networks) = m.cur.networks.as_ref() else {
                continue;
            };
            for ((interface, counters), tags) in networks.iter().zip(interface_tags) {
                let Some(value) = field(counters) else {
                    continue;
                };
                total.add(interface, value);
                if m.included {
                    out.push(Metric::int(counter, value, tags.clone()));
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
                task_rate.add(interface, rate);
                if m.included {
                    out.extend(Metric::derived(rate_series, rate, tags.clone()));
                }
            }
        }
        if let Some(total) = total.finish() {
            out.push(Metric::int(counter, total, tagger.task()));
        }
        if let (Some(rate_series), Some(rate)) = (rate_series, task_rate.finish()) {
            out.extend(Metric::derived(rate_series, rate, tagger.task()));
        }
    }
}

/// A task total under a [`TaskTotal`] rule: summed over the containers' readings, or read
/// once per interface (the largest reading: a shared namespace, or the ENI every container
/// reports) and multiplied by the number of shares.
struct Total<'a, T> {
    once_per_interface: bool,
    multiplier: u64,
    summed: Option<T>,
    per_interface: BTreeMap<&'a str, T>,
}

impl<'a, T: Amount> Total<'a, T> {
    fn new(rule: TaskTotal) -> Self {
        // The share rule reads each interface once, like a shared namespace, then multiplies.
        let (once_per_interface, multiplier) = match rule {
            TaskTotal::Sum => (false, 1),
            TaskTotal::OncePerInterface => (true, 1),
            TaskTotal::Shares { containers } => (true, containers),
        };
        Total {
            once_per_interface,
            multiplier,
            summed: None,
            per_interface: BTreeMap::new(),
        }
    }

    fn add(&mut self, interface: &'a str, value: T) {
        if self.once_per_interface {
            let seen = self.per_interface.entry(interface).or_insert(T::ZERO);
            *seen = seen.larger(value);
        } else {
            self.summed = Some(self.summed.unwrap_or(T::ZERO).plus(value));
        }
    }

    fn finish(self) -> Option<T> {
        if self.once_per_interface {
            let share = self.per_interface.into_values().reduce(T::plus)?;
            Some(share.times(self.multiplier))
        } else {
            self.summed
        }
    }
}

/// A counter (saturating `u64`) or a rate (`f64`).
trait Amount: Copy {
    const ZERO: Self;
    fn plus(self, other: Self) -> Self;
    fn larger(self, other: Self) -> Self;
    fn times(self, n: u64) -> Self;
}

impl Amount for u64 {
    const ZERO: u64 = 0;
    fn plus(self, other: u64) -> u64 {
        self.saturating_add(other)
    }
    fn larger(self, other: u64) -> u64 {
        self.max(other)
    }
    fn times(self, n: u64) -> u64 {
        self.saturating_mul(n)
    }
}

impl Amount for f64 {
    const ZERO: f64 = 0.0;
    fn plus(self, other: f64) -> f64 {
        self + other
    }
    fn larger(self, other: f64) -> f64 {
        self.max(other)
    }
    fn times(self, n: u64) -> f64 {
        self * n as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(launch_type: &str, extra: &str) -> Task {
        let body = format!(
            r#"{{"LaunchType": "{launch_type}"{extra}, "Containers": [
                {{"Name": "~internal~ecs~pause", "Type": "CNI_PAUSE", "Networks": [{{"NetworkMode": "awsvpc"}}]}},
                {{"Name": "app", "Type": "NORMAL", "KnownStatus": "RUNNING", "Networks": [{{"NetworkMode": "awsvpc"}}]}},
                {{"Name": "init", "Type": "NORMAL", "KnownStatus": "STOPPED", "Networks": [{{"NetworkMode": "awsvpc"}}]}}]}}"#
        );
        Task::parse(body.as_bytes()).unwrap()
    }

    /// The ECS agent's divisor is every container but the pause one, stopped ones included;
    /// Windows always divides; the zone ID of a current agent overrides the setting on Linux.
    #[test]
    fn the_task_total_rule_follows_the_platform_and_the_agent() {
        let shares = TaskTotal::Shares { containers: 2 };
        let ec2 = task("EC2", "");
        assert_eq!(
            TaskTotal::of(&ec2, false, false),
            TaskTotal::OncePerInterface
        );
        assert_eq!(TaskTotal::of(&ec2, false, true), shares);
        assert_eq!(TaskTotal::of(&ec2, true, false), shares);
        let current = task("EC2", r#", "AvailabilityZoneID": "use1-az1""#);
        assert_eq!(
            TaskTotal::of(&current, false, true),
            TaskTotal::OncePerInterface
        );
        assert_eq!(TaskTotal::of(&current, true, true), shares);
        let managed = task("MANAGED_INSTANCES", "");
        assert_eq!(
            TaskTotal::of(&managed, false, false),
            TaskTotal::OncePerInterface
        );
        let fargate = task("FARGATE", "");
        assert_eq!(
            TaskTotal::of(&fargate, true, true),
            TaskTotal::OncePerInterface
        );
        let bridge = Task::parse(
            br#"{"LaunchType": "EC2", "Containers": [{"Networks": [{"NetworkMode": "bridge"}]}]}"#,
        )
        .unwrap();
        assert_eq!(TaskTotal::of(&bridge, false, true), TaskTotal::Sum);
    }
}
