//! `GET {endpoint}/task`: the task metadata, modelled with every field optional.
//!
//! Field names mirror the wire (v3/v4 endpoint, see the AWS "Task metadata endpoint version 4"
//! documentation). Unknown fields are ignored; a field of the wrong type is treated as absent.

use super::lenient::{each_alone, parse_object, payload};

/// Name ECS gives the pause container of an `awsvpc` task on EC2.
pub const PAUSE_CONTAINER_NAME: &str = "~internal~ecs~pause";

payload! {
    #[serde(rename_all = "PascalCase")]
    pub struct Task {
        pub cluster: Option<String>,
        #[serde(rename = "TaskARN")]
        pub task_arn: Option<String>,
        pub family: Option<String>,
        pub revision: Option<String>,
        pub known_status: Option<String>,
        pub limits: Option<Limits>,
        pub availability_zone: Option<String>,
        /// The zone's ID (`use1-az1`): v4 payloads of ECS agents 1.102.0 and later only
        /// (amazon-ecs-agent commit 7bfc0d9c, their PR 4848).
        #[serde(rename = "AvailabilityZoneID")]
        pub availability_zone_id: Option<String>,
        pub launch_type: Option<String>,
        pub service_name: Option<String>,
        /// Fargate platform 1.4+: ephemeral storage in MiB.
        pub ephemeral_storage_metrics: Option<EphemeralStorage>,
        /// Each container read on its own: one that cannot be read at all is left out, not the
        /// task.
        pub containers: Option<Vec<Container>> as "each_alone",
    }

    /// `Limits` of a task (CPU in vCPU, Memory in MiB) or of a container (CPU in CPU units,
    /// where 1024 units are one vCPU; Memory in MiB). Either may be fractional on the wire
    /// (`0.25`).
    pub struct Limits {
        #[serde(rename = "CPU")]
        pub cpu: Option<f64>,
        #[serde(rename = "Memory")]
        pub memory: Option<f64>,
    }

    #[serde(rename_all = "PascalCase")]
    pub struct Container {
        pub docker_id: Option<String>,
        pub name: Option<String>,
        pub image: Option<String>,
        pub known_status: Option<String>,
        pub limits: Option<Limits>,
        /// `NORMAL` for task-definition containers; `CNI_PAUSE` and others for ECS internals.
        pub r#type: Option<String>,
        pub networks: Option<Vec<Network>>,
        /// Restarts under the ECS container restart policy (2023+ agents).
        pub restart_count: Option<u64>,
    }

    #[serde(rename_all = "PascalCase")]
    pub struct EphemeralStorage {
        /// MiB in use.
        pub utilized: Option<f64>,
        /// MiB reserved for the task.
        pub reserved: Option<f64>,
    }

    #[serde(rename_all = "PascalCase")]
    pub struct Network {
        pub network_mode: Option<String>,
    }
}

impl Task {
    pub fn containers(&self) -> &[Container] {
        self.containers.as_deref().unwrap_or(&[])
    }

    pub fn container(&self, docker_id: &str) -> Option<&Container> {
        self.containers()
            .iter()
            .find(|c| c.docker_id.as_deref() == Some(docker_id))
    }

    /// True when the task carries values the agent updates while it runs
    /// (`EphemeralStorageMetrics`, a container's `RestartCount`): such a task is read again
    /// every run, never served from the cache. (`KnownStatus` changes too, but feeds no series:
    /// it only decides whether a task is cached.)
    pub fn changes_while_running(&self) -> bool {
        self.ephemeral_storage_metrics.is_some()
            || self.containers().iter().any(|c| c.restart_count.is_some())
    }

    /// The task without the values it updates while it runs (see
    /// [`changes_while_running`](Task::changes_while_running)); the reserved ephemeral
    /// storage is fixed for the task's life and stays.
    pub fn without_changing_values(mut self) -> Task {
        if let Some(storage) = self.ephemeral_storage_metrics.as_mut() {
            storage.utilized = None;
        }
        for container in self.containers.iter_mut().flatten() {
            container.restart_count = None;
        }
        self
    }

    pub fn is_running(&self) -> bool {
        self.known_status.as_deref() == Some("RUNNING")
    }

    /// True when all containers share one network namespace (`awsvpc`, `host`, and every
    /// Fargate task), so each reports the same interface counters: the task's traffic is one
    /// container's, not the sum.
    pub fn shares_network_namespace(&self) -> bool {
        self.has_network_mode("awsvpc") || self.has_network_mode("host") || self.is_fargate()
    }

    /// `LaunchType` is `FARGATE` (absent on v2 and early v3/v4 payloads).
    pub fn is_fargate(&self) -> bool {
        self.launch_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("FARGATE"))
    }

    /// Some container is attached in network mode `mode` (`awsvpc`, `host`, `bridge`).
    pub fn has_network_mode(&self, mode: &str) -> bool {
        self.containers()
            .iter()
            .flat_map(|c| c.networks.as_deref().unwrap_or(&[]))
            .filter_map(|n| n.network_mode.as_deref())
            .any(|m| m.eq_ignore_ascii_case(mode))
    }
}

impl Task {
    /// Parse a `/task` body (or `task.json` of a capture). It must be a JSON object.
    pub fn parse(body: &[u8]) -> Result<Task, String> {
        parse_object(body, "with the task metadata")
    }
}
