//! Where samples come from: the live endpoint over plain HTTP, or a capture directory (replay).
//!
//! Each read here is one attempt. Whether and when to try again is decided by the caller
//! from [`FetchError::retry`]: connection errors, HTTP 429 and 5xx are worth another try
//! (the ECS agent rate-limits the endpoint per instance); 404, other 4xx and bodies that
//! are not the expected JSON are not.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::capture::Recorder;
use super::{StatsSample, Task};

/// The largest body we read; real `/task/stats` bodies are tens of kilobytes.
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
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

pub enum Source {
    Http {
        base: String,
        agent: ureq::Agent,
        /// `--capture`: every body read is also written here.
        capture: Option<Recorder>,
    },
    Replay {
        dir: PathBuf,
        stats_files: Vec<PathBuf>,
    },
}

impl Source {
    /// An `http://` URL is the live endpoint; anything else must be a capture directory holding
    /// `task.json` and one or more `stats*.json`.
    pub fn new(location: &str, capture: Option<&Path>) -> Result<Source, String> {
        if location.starts_with("http://") || location.starts_with("https://") {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                // The endpoint is link-local: an HTTP_PROXY meant for the internet must not
                // capture it.
                .proxy(None)
                .build();
            let agent =
                ureq::Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default());
            return Ok(Source::Http {
                base: location.trim_end_matches('/').to_string(),
                agent,
                capture: capture.map(Recorder::new).transpose()?,
            });
        }
        let dir = PathBuf::from(location);
        if !dir.is_dir() {
            return Err(format!(
                "--metadata-url {location:?} is neither an http:// URL nor a capture directory; \
                 give the endpoint URL or a directory holding task.json and stats*.json"
            ));
        }
        let task_json = dir.join("task.json");
        if !task_json.is_file() {
            return Err(format!(
                "capture directory {} has no task.json ({} is missing); a replay needs \
                 task.json and at least one stats*.json",
                dir.display(),
                task_json.display()
            ));
        }
        if capture.is_some() {
            log::warn!("--capture ignored: a replay reads a capture already");
        }
        let stats_files = stats_files(&dir)?;
        Ok(Source::Replay { dir, stats_files })
    }

    pub fn is_replay(&self) -> bool {
        matches!(self, Source::Replay { .. })
    }

    /// The endpoint URL or capture directory, as given (used to key the cache).
    pub fn location(&self) -> String {
        match self {
            Source::Http { base, .. } => base.clone(),
            Source::Replay { dir, .. } => dir.display().to_string(),
        }
    }

    /// `GET {endpoint}/task` (or `task.json`), bounded by `timeout`.
    pub fn fetch_task(&self, timeout: Duration) -> Result<Task, FetchError> {
        match self {
            Source::Http { .. } => {
                let (what, body) = self.get("/task", timeout, Recorder::task)?;
                Task::parse(&body).map_err(|reason| bad_body(&what, reason, &body))
            }
            Source::Replay { dir, .. } => {
                let path = dir.join("task.json");
                let body = read_file(&path)?;
                Task::parse(&body).map_err(|reason| bad_body(&path.display(), reason, &body))
            }
        }
    }

    /// The name of the container this process runs in, from the container metadata at the
    /// endpoint root (a capture's `container.json`). `Ok(None)` when a replay has none.
    pub fn fetch_own_container_name(
        &self,
        timeout: Duration,
    ) -> Result<Option<String>, FetchError> {
        let Some((what, body, value)) = self.fetch_root(timeout)? else {
            return Ok(None);
        };
        match value.get("Name").and_then(|n| n.as_str()) {
            Some(name) => Ok(Some(name.to_string())),
            None => Err(bad_body(
                &what,
                "no \"Name\" in the container metadata".into(),
                &body,
            )),
        }
    }

    /// The task identity the ECS agent puts in every container's Docker labels, read from the
    /// container metadata at the endpoint root: cluster, task ARN, family and revision (see
    /// the AWS "Task metadata endpoint version 4" container response). For when `/task`
    /// cannot be read. `Ok(None)` when a replay has no `container.json` or there are no labels.
    pub fn fetch_root_identity(&self, timeout: Duration) -> Result<Option<Task>, FetchError> {
        let Some((_, _, value)) = self.fetch_root(timeout)? else {
            return Ok(None);
        };
        let label = |name: &str| {
            value
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
        Ok((task != Task::default()).then_some(task))
    }

    /// The container metadata at the endpoint root (a capture's `container.json`, `None`
    /// when a replay has none): what was read, the body, and its JSON.
    fn fetch_root(
        &self,
        timeout: Duration,
    ) -> Result<Option<(String, Vec<u8>, serde_json::Value)>, FetchError> {
        let (what, body) = match self {
            Source::Http { .. } => self.get("", timeout, Recorder::container)?,
            Source::Replay { dir, .. } => {
                let path = dir.join("container.json");
                if !path.exists() {
                    return Ok(None);
                }
                (path.display().to_string(), read_file(&path)?)
            }
        };
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| bad_body(&what, format!("invalid JSON: {e}"), &body))?;
        Ok(Some((what, body, value)))
    }

    /// `GET {base}{path}`; the body is also handed to the capture, if any. Returns what was
    /// read (for messages) and the body.
    fn get(
        &self,
        path: &str,
        timeout: Duration,
        record: fn(&Recorder, &[u8]),
    ) -> Result<(String, Vec<u8>), FetchError> {
        let Source::Http {
            base,
            agent,
            capture,
        } = self
        else {
            return Err(FetchError {
                what: path.to_string(),
                reason: "a replay has no HTTP endpoint".into(),
                retry: Retry::No,
            });
        };
        let url = format!("{base}{path}");
        let body = http_get(agent, &url, timeout)?;
        if let Some(capture) = capture {
            record(capture, &body);
        }
        Ok((format!("GET {url}"), body))
    }

    /// Record a sample this run did not read (`--since-last-run`'s previous one).
    pub fn capture_previous(&self, sample: &StatsSample) {
        if let Source::Http {
            capture: Some(capture),
            ..
        } = self
        {
            capture.previous(sample);
        }
    }

    /// One live read of `/task/stats`, bounded by `timeout`. (A replay has no live reads:
    /// see [`Source::replay`].)
    pub fn fetch_stats(&self, timeout: Duration) -> Result<StatsSample, FetchError> {
        match self {
            Source::Http { .. } => {
                let (what, body) = self.get("/task/stats", timeout, Recorder::stats)?;
                StatsSample::parse(&body).map_err(|reason| bad_body(&what, reason, &body))
            }
            Source::Replay { .. } => self.replay().map(|mut all| all.pop().unwrap_or_default()),
        }
    }

    /// Every sample of a capture, in file-name order. A single file gives two samples: its
    /// `precpu_stats` (docker's previous read) and itself.
    pub fn replay(&self) -> Result<Vec<StatsSample>, FetchError> {
        let Source::Replay { stats_files, .. } = self else {
            return Ok(Vec::new());
        };
        let mut samples = Vec::with_capacity(stats_files.len() + 1);
        for path in stats_files {
            let body = read_file(path)?;
            let sample = StatsSample::parse(&body)
                .map_err(|reason| bad_body(&path.display(), reason, &body))?;
            samples.push(sample);
        }
        if samples.len() == 1 {
            samples.insert(0, samples[0].precpu_sample());
        }
        Ok(samples)
    }
}

/// The endpoint is an IP literal (169.254.170.2, or 127.0.0.1 in tests): use it as is.
/// ureq's default resolver starts a thread per request to bound a lookup by the timeout,
/// even for a literal; only real host names go to it.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(authority) = uri.authority() {
            let host = authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            if let Ok(ip) = host.parse::<IpAddr>() {
                let https = uri.scheme_str() == Some("https");
                let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
                let mut addresses = self.empty();
                addresses.push(SocketAddr::new(ip, port));
                return Ok(addresses);
            }
        }
        self.0.resolve(uri, config, timeout)
    }
}

fn stats_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list capture directory {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("stats") && name.ends_with(".json")
        })
        .collect();
    if files.is_empty() {
        return Err(format!(
            "capture directory {} holds no stats*.json file; a replay needs task.json and \
             at least one stats*.json",
            dir.display()
        ));
    }
    files.sort();
    Ok(files)
}

fn http_get(agent: &ureq::Agent, url: &str, timeout: Duration) -> Result<Vec<u8>, FetchError> {
    let fail = |reason: String, retry: Retry| FetchError {
        what: format!("GET {url}"),
        reason,
        retry,
    };
    let transient = Retry::Yes { after: None };
    let mut response = agent
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|e| fail(e.to_string(), transient))?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_BODY_BYTES)
        .read_to_vec()
        .map_err(|e| fail(format!("reading the body: {e}"), transient))?;
    match status {
        200 => Ok(body),
        429 | 500..=599 => Err(fail(
            format!("HTTP {status}: {}", excerpt(&body)),
            Retry::Yes { after: retry_after },
        )),
        _ => Err(fail(
            format!("HTTP {status}: {}", excerpt(&body)),
            Retry::No,
        )),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, FetchError> {
    std::fs::read(path).map_err(|e| FetchError {
        what: path.display().to_string(),
        reason: e.to_string(),
        retry: Retry::No,
    })
}

/// A body that arrived but is not what we need: never worth another try.
fn bad_body(what: &dyn fmt::Display, reason: String, body: &[u8]) -> FetchError {
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
