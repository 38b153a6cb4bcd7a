//! `FakeEndpoint`: a tiny HTTP/1.1 server imitating the ECS Task Metadata Endpoint (v4).
//!
//! One background thread accepts connections on `127.0.0.1:0` and handles them
//! sequentially; every response carries `Connection: close`. Routes match the
//! request target exactly (`"/"`, `"/task"`, `"/task/stats"`, ...). Each route has
//! a queue of [`Response`]s served in order, the last one repeated forever.
//! Unknown paths (and routes with an empty queue) answer 404.
//!
//! Routes may be (re)configured at any time, also after the server started:
//! configure before running the binary, then inspect [`FakeEndpoint::requests`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Upper bound for a request head (request line + headers).
const MAX_HEAD: usize = 64 * 1024;
/// Upper bound for a request body we are willing to drain.
const MAX_BODY: usize = 1024 * 1024;
/// Read/write timeout on accepted connections, so a stalled client cannot wedge the server.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// Granularity of the shutdown-flag checks during delays.
const TICK: Duration = Duration::from_millis(10);

/// How a response is (mis)delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A complete, well-formed response.
    Normal,
    /// Status line and headers with the `Content-Length` of the full body, but only
    /// the first half of the body; then the connection is closed.
    Truncate,
    /// The request is read and recorded but never answered: the connection stays open
    /// (parked) until the `FakeEndpoint` is dropped. Other connections keep being served.
    Hang,
}

/// One canned response.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
    /// Sleep this long (after reading the request) before answering.
    pub delay: Duration,
    pub fault: Fault,
    /// Extra response headers (`Retry-After`, ...).
    pub headers: Vec<(String, String)>,
}

impl Response {
    /// Response with the given status and body, no delay, no fault.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            fault: Fault::Normal,
            headers: Vec::new(),
        }
    }

    /// `200 OK` with the given body.
    pub fn ok(body: impl Into<Vec<u8>>) -> Self {
        Self::new(200, body)
    }

    /// `404 Not Found` (the same body unknown paths get).
    pub fn not_found() -> Self {
        Self::new(404, &b"404 page not found\n"[..])
    }

    /// A response that is never sent (see [`Fault::Hang`]).
    pub fn hang() -> Self {
        Self::new(200, Vec::new()).fault(Fault::Hang)
    }

    /// Sets the delay before answering.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets the fault kind.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.fault = fault;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `status` with `Retry-After: seconds` (429/503 from a rate-limiting agent).
    pub fn retry_after(status: u16, seconds: u64) -> Self {
        Self::new(status, &b"slow down\n"[..]).header("Retry-After", &seconds.to_string())
    }

    /// Shorthand for `.fault(Fault::Truncate)`.
    pub fn truncate(self) -> Self {
        self.fault(Fault::Truncate)
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// The request target (exactly as used for routing).
    pub path: String,
    /// Raw request head (request line + headers), without the final blank line.
    pub head: String,
}

#[derive(Default)]
struct Route {
    responses: Vec<Response>,
    served: usize,
}

#[derive(Default)]
struct State {
    routes: HashMap<String, Route>,
    log: Vec<Request>,
}

struct Shared {
    state: Mutex<State>,
    shutdown: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State inconsistent; keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }
}

/// A fake task metadata endpoint. Dropping it stops (and joins) the server thread.
pub struct FakeEndpoint {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl FakeEndpoint {
    /// Starts a server with no routes (every path answers 404).
    pub fn new() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("FakeEndpoint: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("FakeEndpoint: local_addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            shutdown: AtomicBool::new(false),
        });
        let thread_shared = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name(format!("fake-endpoint-{}", addr.port()))
            .spawn(move || serve_loop(listener, &thread_shared))
            .expect("FakeEndpoint: spawn server thread");
        FakeEndpoint {
            addr,
            shared,
            thread: Some(thread),
        }
    }

    /// `/task` answers 200 with `task_json` (repeated); `/task/stats` serves the
    /// `stats` bodies in order with 200 (the last one repeated; 404 if `stats` is
    /// empty); `/` answers 404 until configured with [`FakeEndpoint::with_root`].
    pub fn serve(task_json: &str, stats: &[&str]) -> Self {
        Self::new()
            .route("/task", [Response::ok(task_json)])
            .route("/task/stats", stats.iter().map(|s| Response::ok(*s)))
    }

    /// Makes `/` (the container metadata) answer 200 with `json`.
    pub fn with_root(self, json: &str) -> Self {
        self.route("/", [Response::ok(json)])
    }

    /// Builder-style [`FakeEndpoint::set_route`].
    pub fn route(self, path: &str, responses: impl IntoIterator<Item = Response>) -> Self {
        self.set_route(path, responses);
        self
    }

    /// Replaces the response queue of `path` (and restarts its sequence).
    /// An empty queue makes the path answer 404.
    pub fn set_route(&self, path: &str, responses: impl IntoIterator<Item = Response>) {
        let mut state = self.shared.lock();
        state.routes.insert(
            path.to_string(),
            Route {
                responses: responses.into_iter().collect(),
                served: 0,
            },
        );
    }

    /// Appends one response to the queue of `path` (creating the route if needed).
    pub fn push(&self, path: &str, response: Response) {
        let mut state = self.shared.lock();
        state
            .routes
            .entry(path.to_string())
            .or_default()
            .responses
            .push(response);
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Number of requests received for exactly `path` (including unanswered ones).
    pub fn requests(&self, path: &str) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.path == path)
            .count()
    }

    /// Total number of requests received.
    pub fn total_requests(&self) -> usize {
        self.shared.lock().log.len()
    }

    /// Request paths in arrival order.
    pub fn request_paths(&self) -> Vec<String> {
        self.shared
            .lock()
            .log
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    /// All requests in arrival order (method, path, raw head).
    pub fn request_log(&self) -> Vec<Request> {
        self.shared.lock().log.clone()
    }
}

impl Default for FakeEndpoint {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FakeEndpoint {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Unblock accept(); the connection is discarded by the server loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            // The loop only blocks in accept (just unblocked), in delays (checked every
            // TICK) or in socket I/O (bounded by IO_TIMEOUT), so this join is bounded.
            let _ = thread.join();
        }
    }
}

fn serve_loop(listener: TcpListener, shared: &Shared) {
    // Hung connections are kept open here until the server stops.
    let mut parked: Vec<TcpStream> = Vec::new();
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) if shared.stopping() => break,
            Err(_) => {
                // e.g. EMFILE / ECONNABORTED: back off briefly and retry.
                thread::sleep(TICK);
                continue;
            }
        };
        if shared.stopping() {
            break;
        }
        if let Outcome::Park(hung) = handle(stream, shared) {
            parked.push(hung);
        }
    }
    for stream in parked {
        let _ = stream.shutdown(Shutdown::Both);
    }
}

/// What to do with a connection after [`handle`].
enum Outcome {
    /// Answered (or abandoned); the stream has been dropped.
    Done,
    /// Hang: keep the stream open, unanswered, until the server stops.
    Park(TcpStream),
}

/// Handles one connection.
fn handle(mut stream: TcpStream, shared: &Shared) -> Outcome {
    let _ = stream.set_read_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_write_timeout(Some(IO_TIMEOUT));
    let _ = stream.set_nodelay(true);

    let Some((head, leftover)) = read_head(&mut stream) else {
        return Outcome::Done; // EOF / timeout / oversized head: drop silently.
    };
    let Some((method, path)) = parse_request_line(&head) else {
        let _ = write_response(&mut stream, &Response::new(400, &b"bad request\n"[..]));
        return Outcome::Done;
    };
    drain_body(&mut stream, &head, leftover);

    let response = {
        let mut state = shared.lock();
        state.log.push(Request {
            method,
            path: path.clone(),
            head,
        });
        match state.routes.get_mut(&path) {
            Some(route) if !route.responses.is_empty() => {
                let idx = route.served.min(route.responses.len() - 1);
                route.served += 1;
                route.responses[idx].clone()
            }
            _ => Response::not_found(),
        }
    };

    if response.fault == Fault::Hang {
        return Outcome::Park(stream);
    }
    if !sleep_unless_stopping(response.delay, shared) {
        return Outcome::Done;
    }
    let _ = write_response(&mut stream, &response);
    let _ = stream.flush();
    let _ = stream.shutdown(Shutdown::Write);
    Outcome::Done
}

/// Sleeps for `total` in short ticks; returns false if the server is stopping.
fn sleep_unless_stopping(total: Duration, shared: &Shared) -> bool {
    let deadline = Instant::now() + total;
    loop {
        if shared.stopping() {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return true;
        }
        thread::sleep((deadline - now).min(TICK));
    }
}

/// Reads until `\r\n\r\n`. Returns the head (without the blank line) and any bytes
/// read past it.
fn read_head(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(pos) = find_subslice(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).into_owned();
            let leftover = buf[pos + 4..].to_vec();
            return Some((head, leftover));
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match stream.read(&mut chunk) {
            Ok(0) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
    }
}

fn find_subslice(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `GET /task HTTP/1.1` -> ("GET", "/task"). Absolute-form targets
/// (`http://host:port/task`) are reduced to their path.
fn parse_request_line(head: &str) -> Option<(String, String)> {
    let line = head.split("\r\n").next()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    if parts.next().is_some() || !version.starts_with("HTTP/") {
        return None;
    }
    let path = match target.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        },
        None => target,
    };
    Some((method.to_string(), path.to_string()))
}

/// Reads and discards a `Content-Length` body (if any), so closing the socket does
/// not reset the connection because of unread data.
fn drain_body(stream: &mut TcpStream, head: &str, leftover: Vec<u8>) {
    let len = head
        .split("\r\n")
        .skip(1)
        .filter_map(|h| h.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut remaining = len.saturating_sub(leftover.len());
    let mut chunk = [0u8; 4096];
    while remaining > 0 {
        match stream.read(&mut chunk[..remaining.min(4096)]) {
            Ok(0) => break,
            Ok(n) => remaining -= n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

fn write_response(stream: &mut TcpStream, response: &Response) -> io::Result<()> {
    let extra: String = response
        .headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
        response.status,
        reason(response.status),
        response.body.len()
    );
    let body = match response.fault {
        Fault::Truncate => &response.body[..response.body.len() / 2],
        _ => &response.body[..],
    };
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)
}
