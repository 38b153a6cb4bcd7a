//! The ECS Task Metadata Endpoint: wire types, the HTTP client and capture replay.

pub mod capture;
pub mod client;
pub mod endpoint;
pub mod lenient;
pub mod replay;
pub mod stats;
pub mod task;
pub mod timestamp;

pub use client::FetchError;
pub use endpoint::{ContainerMetadata, Endpoint, LiveEndpoint, Source};
pub use stats::{ContainerStats, StatsSample};
pub use task::Task;
