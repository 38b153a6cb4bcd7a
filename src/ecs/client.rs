//! The live endpoint over plain HTTP.
//!
//! Each read here is one attempt. Whether and when to try again is decided by the caller
//! from [`FetchError::retry`]: connection errors, HTTP 429 and 5xx are worth another try
//! (the ECS agent rate-limits the endpoint per instance); 404, other 4xx and bodies that
//! are not the expected JSON are not.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, Transport,
};

use super::capture::Recorder;
use super::endpoint::{ContainerMetadata, Endpoint, LiveEndpoint};
use super::{StatsSample, Task};

/// The largest body we read; real `/task/stats` bodies are tens of kilobytes.
const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;
/// ureq's input buffer per connection (response headers, then the body in slices).
const HTTP_INPUT_BUFFER_BYTES: usize = 16 * 1024;
/// ureq's output buffer per connection: the request line and headers.
const HTTP_OUTPUT_BUFFER_BYTES: usize = 8 * 1024;
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

/// The live endpoint over plain HTTP.
pub struct Http {
    base: String,
    agent: ureq::Agent,
    /// `--capture`: every body read is also written here.
    capture: Option<Recorder>,
}

impl Http {
    /// `base` as [`endpoint_url`] gives it. `interrupt`, when given, abandons a request
    /// waiting for its answer as soon as it is set.
    pub fn new(
        base: String,
        capture: Option<&Path>,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Http, String> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // The endpoint is link-local: an HTTP_PROXY meant for the internet must not
            // capture it.
            .proxy(None)
            // ureq zero-fills both buffers of every new connection (128 KiB each by default),
            // a cost paid on each request when the endpoint closes connections. The request
            // is a GET line and a few headers; the answer's headers are a few hundred bytes
            // and the body streams through the input buffer in as many reads as it needs.
            .input_buffer_size(HTTP_INPUT_BUFFER_BYTES)
            .output_buffer_size(HTTP_OUTPUT_BUFFER_BYTES)
            // Below the input buffer, so headers too long for it fail with ureq's clear
            // "response header too large" rather than "no progress".
            .max_response_header_size(HTTP_INPUT_BUFFER_BYTES / 2)
            .build();
        let connector = Interruptible {
            inner: DefaultConnector::new(),
            interrupt: interrupt.unwrap_or_default(),
        };
        let agent = ureq::Agent::with_parts(config, connector, LiteralFirst::default());
        Ok(Http {
            base,
            agent,
            capture: capture.map(Recorder::new).transpose()?,
        })
    }

    /// `GET {base}{path}`; the body is also handed to the capture, if any. Returns what was
    /// read (for messages) and the body.
    fn get(
        &self,
        path: &str,
        timeout: Duration,
        record: fn(&Recorder, &[u8]),
    ) -> Result<(String, Vec<u8>), FetchError> {
        let url = format!("{}{path}", self.base);
        let body = http_get(&self.agent, &url, timeout)?;
        if let Some(capture) = &self.capture {
            record(capture, &body);
        }
        Ok((format!("GET {url}"), body))
    }
}

impl Endpoint for Http {
    fn location(&self) -> String {
        self.base.clone()
    }

    fn fetch_task(&self, timeout: Duration) -> Result<Task, FetchError> {
        let (what, body) = self.get("/task", timeout, Recorder::task)?;
        Task::parse(&body).map_err(|reason| bad_body(&what, reason, &body))
    }

    fn fetch_container(&self, timeout: Duration) -> Result<Option<ContainerMetadata>, FetchError> {
        let (what, body) = self.get("", timeout, Recorder::container)?;
        ContainerMetadata::parse(what, body).map(Some)
    }
}

impl LiveEndpoint for Http {
    fn fetch_stats(&self, timeout: Duration) -> Result<StatsSample, FetchError> {
        let (what, body) = self.get("/task/stats", timeout, Recorder::stats)?;
        StatsSample::parse(&body).map_err(|reason| bad_body(&what, reason, &body))
    }

    fn capture_previous(&self, sample: &StatsSample) {
        if let Some(capture) = &self.capture {
            capture.previous(sample);
        }
    }
}

/// `Some(base URL)` (scheme in lower case, no trailing `/`) when `location` is a URL,
/// `None` when it is not one (a capture directory), `Err` when it is a URL this tool cannot
/// read: another scheme (`https://`: ureq is built without TLS), no host, a port that is
/// not 1-65535 (the URL parser would otherwise quietly fall back to port 80), or a query or
/// fragment (the paths `/task` and `/task/stats` are appended to the URL, which would put
/// them inside it).
pub fn endpoint_url(location: &str) -> Result<Option<String>, String> {
    let Some((scheme, rest)) = location.split_once("://") else {
        return Ok(None);
    };
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    if !is_scheme {
        return Ok(None);
    }
    // The caller names where the URL came from (the flag or the variable actually used).
    let bad = |why: &str| format!("not a usable metadata endpoint URL: {why}");
    match scheme.to_ascii_lowercase().as_str() {
        "http" => {}
        "https" => {
            return Err(bad(
                "no TLS support, use the plain http:// endpoint (the ECS agent serves \
                 http://169.254.170.2)",
            ));
        }
        _ => return Err(bad("only http:// URLs are supported")),
    }
    if let Some(mark) = rest.chars().find(|c| matches!(c, '?' | '#')) {
        return Err(bad(&format!(
            "{mark:?} starts a query or fragment, which ECS never sets and this tool cannot \
             keep; give http://HOST[:PORT]/PATH"
        )));
    }
    let base = format!("http://{}", rest.trim_end_matches('/'));
    let uri: Uri = base
        .parse()
        .map_err(|e| bad(&format!("{e}; give http://HOST[:PORT]/PATH")))?;
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    if authority.host().is_empty() {
        return Err(bad("no host"));
    }
    if authority.as_str().contains('@') {
        return Err(bad("user information is not supported"));
    }
    // The text after the host's last ':' (outside IPv6 brackets) is the port, if any.
    let after_host = authority
        .as_str()
        .rsplit_once(']')
        .map_or(authority.as_str(), |(_, after)| after);
    if let Some((_, port)) = after_host.rsplit_once(':') {
        let valid = port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(bad(&format!("port {port:?} is not 1-65535")));
        }
    }
    Ok(Some(base))
}

/// How often a request waiting for its answer looks at the interrupt flag. (A signal also
/// interrupts the socket read, but ureq resumes it: the flag is what ends the wait.)
const INTERRUPT_POLL: Duration = Duration::from_millis(25);

/// A connector whose transports stop waiting for an answer when `interrupt` is set: the read
/// is sliced into [`INTERRUPT_POLL`] steps within the request's own timeout. Connecting is
/// bounded by the timeout alone (immediate on loopback and on the link-local endpoint).
#[derive(Debug)]
struct Interruptible {
    inner: DefaultConnector,
    interrupt: Arc<AtomicBool>,
}

fn interrupted_error() -> ureq::Error {
    ureq::Error::Io(std::io::Error::new(
        std::io::ErrorKind::Interrupted,
        "abandoned: stopped by a signal",
    ))
}

impl Connector<()> for Interruptible {
    type Out = InterruptibleTransport;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if self.interrupt.load(Ordering::SeqCst) {
            return Err(interrupted_error());
        }
        Ok(self
            .inner
            .connect(details, chained)?
            .map(|inner| InterruptibleTransport {
                inner,
                interrupt: Arc::clone(&self.interrupt),
            }))
    }
}

#[derive(Debug)]
struct InterruptibleTransport {
    inner: Box<dyn Transport>,
    interrupt: Arc<AtomicBool>,
}

impl Transport for InterruptibleTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        if self.interrupt.load(Ordering::SeqCst) {
            return Err(interrupted_error());
        }
        self.inner.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let started = std::time::Instant::now();
        loop {
            if self.interrupt.load(Ordering::SeqCst) {
                return Err(interrupted_error());
            }
            let left = timeout.after.saturating_sub(started.elapsed());
            if left.is_zero() {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            let step = NextTimeout {
                after: left.min(INTERRUPT_POLL).into(),
                reason: timeout.reason,
                per_read: None,
                per_write: None,
            };
            match self.inner.await_input(step) {
                // Only the slice ran out: look at the flag and wait on.
                Err(ureq::Error::Timeout(_)) => continue,
                other => return other,
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
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
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls_are_checked() {
        let ok = |url: &str| endpoint_url(url).unwrap().unwrap();
        assert_eq!(
            ok("http://169.254.170.2/v4/abc/"),
            "http://169.254.170.2/v4/abc"
        );
        assert_eq!(ok("HTTP://127.0.0.1:51678/v4"), "http://127.0.0.1:51678/v4");
        assert_eq!(ok("http://[::1]:8080"), "http://[::1]:8080");
        assert_eq!(ok("http://[::1]"), "http://[::1]");
        assert_eq!(endpoint_url("/tmp/capture").unwrap(), None);
        assert_eq!(endpoint_url("testdata/x").unwrap(), None);
        for (bad, why) in [
            ("http://127.0.0.1:516780", "not 1-65535"),
            ("http://127.0.0.1:0/v4", "not 1-65535"),
            ("http://127.0.0.1:http", "not 1-65535"),
            ("http://[::1]:99999", "not 1-65535"),
            ("https://169.254.170.2/v4", "no TLS support"),
            ("HTTPS://169.254.170.2/v4", "no TLS support"),
            ("ftp://x", "only http://"),
            ("http:///v4", "http://"),
            ("http://user@127.0.0.1:1", "user information"),
            ("http://h/v4?a=b", "'?' starts a query"),
            ("http://h/v4/#top", "'#' starts a query or fragment"),
            ("http://h?x", "'?' starts"),
        ] {
            let err = endpoint_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
