//! The ECS Task Metadata Endpoint: wire types, the HTTP client and capture replay.

pub mod capture;
pub mod client;
pub mod endpoint;
pub mod lenient;
pub mod replay;
pub mod retry;
pub mod stats;
pub mod task;
pub mod timestamp;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use client::{Http, endpoint_url};
pub use endpoint::{ContainerMetadata, Endpoint, FetchError, LiveEndpoint};
use replay::Replay;
pub use stats::{ContainerStats, StatsSample};
pub use task::Task;

/// Where one run reads from: the live endpoint, or a capture replayed.
pub enum Source {
    Live(Http),
    Replay(Replay),
}

impl Source {
    /// An `http://` URL is the live endpoint; anything else must be a capture directory holding
    /// `task.json` and one or more `stats*.json`. `interrupt`, when given, abandons a request
    /// waiting for its answer as soon as it is set (see
    /// [`crate::signals::Shutdown::interrupt_flag`]).
    pub fn new(
        location: &str,
        capture: Option<&Path>,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Source, String> {
        if let Some(base) = endpoint_url(location)? {
            return Http::new(base, capture, interrupt).map(Source::Live);
        }
        let replay = Replay::open(Path::new(location))?;
        if capture.is_some() {
            log::warn!("--capture ignored: a replay reads a capture already");
        }
        Ok(Source::Replay(replay))
    }

    /// The metadata reads, whichever the source.
    pub fn endpoint(&self) -> &dyn Endpoint {
        match self {
            Source::Live(http) => http,
            Source::Replay(replay) => replay,
        }
    }
}
