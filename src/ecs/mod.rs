//! The ECS Task Metadata Endpoint: wire types, the HTTP client and capture replay.

pub mod capture;
pub mod client;
pub mod lenient;
pub mod stats;
pub mod task;
pub mod timestamp;

pub use client::{FetchError, Source};
pub use stats::{ContainerStats, StatsSample};
pub use task::Task;
