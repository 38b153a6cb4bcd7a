//! What a run reads, as two traits: [`Endpoint`] (the task and container metadata, which a
//! live endpoint and a capture both answer) and [`LiveEndpoint`] (stats read one at a time,
//! over the interval). Implemented by [`super::client::Http`] (the ECS agent over plain HTTP),
//! [`super::replay::Replay`] (a capture directory, whose samples are read at once) and, in
//! unit tests, an in-memory fake. This file is the leaf of `ecs`: the traits, the error every
//! implementation returns and its helpers; the implementations import it, and only
//! `ecs/mod.rs` names them ([`super::Source`]).

use std::fmt;
use std::time::Duration;

use super::stats::StatsSample;
use super::task::Task;

/// The metadata both a live endpoint and a capture answer. Each read is one attempt:
/// retries are the caller's (see [`super::retry::Fetcher`]).
pub trait Endpoint {
    /// The endpoint URL or capture directory, as given (keys the cache and the state).
    fn location(&self) -> String;

    /// `GET {endpoint}/task` (a capture's `task.json`), bounded by `timeout`.
    fn fetch_task(&self, timeout: Duration) -> Result<Task, FetchError>;

    /// The container metadata at the endpoint root, this process's own container (a
    /// capture's `container.json`; `Ok(None)` when a capture has none).
    fn fetch_container(&self, timeout: Duration) -> Result<Option<ContainerMetadata>, FetchError>;
}

/// An endpoint read live: stats one read at a time.
pub trait LiveEndpoint: Endpoint {
    /// One read of `/task/stats`, bounded by `timeout`.
    fn fetch_stats(&self, timeout: Duration) -> Result<StatsSample, FetchError>;

    /// Record a sample this run did not read (`--since-last-run`'s previous one) in the
    /// `--capture`, if any.
    fn capture_previous(&self, _sample: &StatsSample) {}
}

/// How much of a bad body an error message quotes.
const BODY_EXCERPT_BYTES: usize = 200;

/// Whether a failed read may succeed if tried again.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Retry {
    No,
    /// With the server's `Retry-After`, when it gave one in seconds.
    Yes {
        after: Option<Duration>,
    },
}

/// A failed read of the endpoint or of a capture file: what was read and why it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchError {
    /// The URL (`GET http://...`) or file that failed.
    pub what: String,
    pub reason: String,
    pub retry: Retry,
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.reason)
    }
}

/// The container metadata at the endpoint root: what was read (for messages), the body and
/// its JSON.
#[derive(Debug, Clone)]
pub struct ContainerMetadata {
    pub what: String,
    pub body: Vec<u8>,
    pub value: serde_json::Value,
}

impl ContainerMetadata {
    pub fn parse(what: String, body: Vec<u8>) -> Result<ContainerMetadata, FetchError> {
        match serde_json::from_slice(&body) {
            Ok(value) => Ok(ContainerMetadata { what, body, value }),
            Err(e) => Err(bad_body(&what, format!("invalid JSON: {e}"), &body)),
        }
    }

    /// The name of the container this process runs in.
    pub fn name(&self) -> Result<String, FetchError> {
        match self.value.get("Name").and_then(|n| n.as_str()) {
            Some(name) => Ok(name.to_string()),
            None => Err(bad_body(
                &self.what,
                "no \"Name\" in the container metadata".into(),
                &self.body,
            )),
        }
    }

    /// The task identity the ECS agent puts in every container's Docker labels: cluster,
    /// task ARN, family and revision (see the AWS "Task metadata endpoint version 4"
    /// container response). For when `/task` cannot be read. `None` when there are no labels.
    pub fn identity(&self) -> Option<Task> {
        let label = |name: &str| {
            self.value
                .get("Labels")
                .and_then(|l| l.get(name))
                .and_then(|v| v.as_str())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let task = Task {
            cluster: label("com.amazonaws.ecs.cluster"),
            task_arn: label("com.amazonaws.ecs.task-arn"),
            family: label("com.amazonaws.ecs.task-definition-family"),
            revision: label("com.amazonaws.ecs.task-definition-version"),
            ..Task::default()
        };
        (task != Task::default()).then_some(task)
    }
}

/// An in-memory endpoint for unit tests: canned answers served in order (the last one
/// repeated, as the integration tests' HTTP fake does), every read counted.
/// A body that arrived but is not what we need: never worth another try.
pub(crate) fn bad_body(what: &dyn fmt::Display, reason: String, body: &[u8]) -> FetchError {
    FetchError {
        what: what.to_string(),
        reason: format!("{reason}; body starts: {}", excerpt(body)),
        retry: Retry::No,
    }
}

/// The first bytes of a body, on one line, for error messages.
pub fn excerpt(body: &[u8]) -> String {
    let cut = &body[..body.len().min(BODY_EXCERPT_BYTES)];
    let text = String::from_utf8_lossy(cut);
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if body.len() > BODY_EXCERPT_BYTES {
        format!("{one_line:?}…")
    } else {
        format!("{one_line:?}")
    }
}

#[cfg(test)]
pub mod fake {
    use std::cell::{Cell, RefCell};
    use std::collections::VecDeque;

    use super::*;

    pub type Answer<T> = Result<T, FetchError>;

    #[derive(Default)]
    pub struct Fake {
        pub tasks: RefCell<VecDeque<Answer<Task>>>,
        pub containers: RefCell<VecDeque<Answer<Option<ContainerMetadata>>>>,
        pub stats: RefCell<VecDeque<Answer<StatsSample>>>,
        pub task_reads: Cell<usize>,
        pub container_reads: Cell<usize>,
        pub stats_reads: Cell<usize>,
        pub previous: RefCell<Vec<StatsSample>>,
    }

    /// A failure that is not worth another try (so a test's reads are counted exactly).
    pub fn fails(what: &str) -> FetchError {
        FetchError {
            what: format!("GET fake{what}"),
            reason: "HTTP 404: \"gone\"".into(),
            retry: Retry::No,
        }
    }

    /// The container metadata naming this process's container `name`.
    pub fn named(name: &str) -> Option<ContainerMetadata> {
        let body = format!(r#"{{"Name":"{name}"}}"#).into_bytes();
        Some(ContainerMetadata::parse("GET fake/".into(), body).unwrap())
    }

    fn next<T: Clone>(queue: &RefCell<VecDeque<Answer<T>>>, reads: &Cell<usize>) -> Answer<T> {
        reads.set(reads.get() + 1);
        let mut queue = queue.borrow_mut();
        let answer = if queue.len() > 1 {
            queue.pop_front()
        } else {
            queue.front().cloned()
        };
        answer.unwrap_or_else(|| Err(fails("/unrouted")))
    }

    impl Fake {
        pub fn new(tasks: impl IntoIterator<Item = Answer<Task>>) -> Fake {
            Fake {
                tasks: RefCell::new(tasks.into_iter().collect()),
                containers: RefCell::new([Ok(named("ecs-statsd"))].into()),
                ..Fake::default()
            }
        }

        pub fn container(
            self,
            answers: impl IntoIterator<Item = Answer<Option<ContainerMetadata>>>,
        ) -> Fake {
            *self.containers.borrow_mut() = answers.into_iter().collect();
            self
        }

        pub fn stats(self, answers: impl IntoIterator<Item = Answer<StatsSample>>) -> Fake {
            *self.stats.borrow_mut() = answers.into_iter().collect();
            self
        }
    }

    impl Endpoint for Fake {
        fn location(&self) -> String {
            "http://fake/v4/abc".into()
        }
        fn fetch_task(&self, _: Duration) -> Answer<Task> {
            next(&self.tasks, &self.task_reads)
        }
        fn fetch_container(&self, _: Duration) -> Answer<Option<ContainerMetadata>> {
            next(&self.containers, &self.container_reads)
        }
    }

    impl LiveEndpoint for Fake {
        fn fetch_stats(&self, _: Duration) -> Answer<StatsSample> {
            next(&self.stats, &self.stats_reads)
        }
        fn capture_previous(&self, sample: &StatsSample) {
            self.previous.borrow_mut().push(sample.clone());
        }
    }
}
