//! Datagram sinks standing in for the DogStatsD agent: UDP on `127.0.0.1:0` and a
//! Unix datagram socket in a temporary directory.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cmd::TempDir;

/// Largest datagram we accept (the UDP maximum).
const MAX_DATAGRAM: usize = 65_536;

/// Receive loop shared by both listeners.
///
/// Collects datagrams until none has arrived for `quiet` (counted from the call, then
/// from the last datagram) or `max_wait` has elapsed since the call, whichever is first.
fn collect(
    mut set_timeout: impl FnMut(Duration) -> io::Result<()>,
    mut recv: impl FnMut(&mut [u8]) -> io::Result<usize>,
    quiet: Duration,
    max_wait: Duration,
) -> Vec<String> {
    let start = Instant::now();
    let deadline = start + max_wait;
    let mut last = start;
    let mut out = Vec::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let now = Instant::now();
        let quiet_end = last + quiet;
        let until = quiet_end.min(deadline);
        if now >= until {
            break;
        }
        // Never zero: a zero read timeout is an error for std sockets.
        let wait = (until - now).max(Duration::from_millis(1));
        set_timeout(wait).expect("set_read_timeout");
        match recv(&mut buf) {
            Ok(n) => {
                out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                last = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            // e.g. ECONNREFUSED surfaced from an earlier send on the same socket: ignore.
            Err(_) => {}
        }
    }
    out
}

/// Waits up to `timeout` for one datagram.
fn recv_one(
    mut set_timeout: impl FnMut(Duration) -> io::Result<()>,
    mut recv: impl FnMut(&mut [u8]) -> io::Result<usize>,
    timeout: Duration,
) -> Option<String> {
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        set_timeout((deadline - now).max(Duration::from_millis(1))).expect("set_read_timeout");
        if let Ok(n) = recv(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

/// Splits datagrams into lines on `'\n'`, dropping empty strings.
pub fn lines(datagrams: &[String]) -> Vec<String> {
    datagrams
        .iter()
        .flat_map(|d| d.split('\n'))
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

// Linux socket option numbers (asm-generic/socket.h).
const SOL_SOCKET: i32 = 1;
const SO_RCVBUF: i32 = 8;

unsafe extern "C" {
    fn setsockopt(fd: i32, level: i32, name: i32, value: *const u32, len: u32) -> i32;
}

/// `setsockopt(SOL_SOCKET, option, bytes)`; std has no call for it.
fn set_socket_buffer(socket: &impl std::os::fd::AsRawFd, option: i32, bytes: usize) {
    let value = u32::try_from(bytes).expect("a buffer size that fits in 32 bits");
    // SAFETY: a valid descriptor, a pointer to a live u32 and its size.
    let rc = unsafe { setsockopt(socket.as_raw_fd(), SOL_SOCKET, option, &value, 4) };
    assert_eq!(rc, 0, "setsockopt: {}", io::Error::last_os_error());
}

/// UDP socket bound to `127.0.0.1:0`.
pub struct UdpListener {
    socket: UdpSocket,
}

impl UdpListener {
    pub fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("UdpListener: bind 127.0.0.1:0");
        UdpListener { socket }
    }

    /// A listener whose kernel receive queue is `bytes` (`SO_RCVBUF`; the kernel doubles it
    /// for its bookkeeping): large, so a burst of long datagrams all arrive before the test
    /// reads them; small, to play an agent that cannot keep up.
    pub fn with_receive_buffer(bytes: usize) -> Self {
        let listener = Self::new();
        set_socket_buffer(&listener.socket, SO_RCVBUF, bytes);
        listener
    }

    pub fn port(&self) -> u16 {
        self.socket_addr().port()
    }

    /// `"127.0.0.1:PORT"`.
    pub fn addr(&self) -> String {
        self.socket_addr().to_string()
    }

    pub fn socket_addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("UdpListener: local_addr")
    }

    /// Collects datagrams until none arrived for `quiet` (measured from this call,
    /// then from the latest datagram) or `max_wait` elapsed.
    pub fn datagrams_until_quiet(&self, quiet: Duration, max_wait: Duration) -> Vec<String> {
        collect(
            |t| self.socket.set_read_timeout(Some(t)),
            |buf| self.socket.recv(buf),
            quiet,
            max_wait,
        )
    }

    /// Waits up to `timeout` for a single datagram.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<String> {
        recv_one(
            |t| self.socket.set_read_timeout(Some(t)),
            |buf| self.socket.recv(buf),
            timeout,
        )
    }
}

impl Default for UdpListener {
    fn default() -> Self {
        Self::new()
    }
}

/// Unix datagram socket bound to `<tempdir>/dsd.sock`; the directory is removed on drop.
pub struct UnixDgramListener {
    // Field order matters: the socket is closed before the directory is removed.
    socket: UnixDatagram,
    path: PathBuf,
    _dir: TempDir,
}

impl UnixDgramListener {
    pub fn new() -> Self {
        let dir = TempDir::new();
        let path = dir.path().join("dsd.sock");
        let socket = UnixDatagram::bind(&path)
            .unwrap_or_else(|e| panic!("UnixDgramListener: bind {}: {e}", path.display()));
        UnixDgramListener {
            socket,
            path,
            _dir: dir,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The socket path as a `String` (for CLI args / env values).
    pub fn path_str(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }

    /// Same semantics as [`UdpListener::datagrams_until_quiet`].
    pub fn datagrams_until_quiet(&self, quiet: Duration, max_wait: Duration) -> Vec<String> {
        collect(
            |t| self.socket.set_read_timeout(Some(t)),
            |buf| self.socket.recv(buf),
            quiet,
            max_wait,
        )
    }

    /// Waits up to `timeout` for a single datagram.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<String> {
        recv_one(
            |t| self.socket.set_read_timeout(Some(t)),
            |buf| self.socket.recv(buf),
            timeout,
        )
    }
}

impl Default for UnixDgramListener {
    fn default() -> Self {
        Self::new()
    }
}
