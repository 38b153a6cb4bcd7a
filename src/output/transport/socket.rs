//! The agent's sockets: UDP through a connected socket, and a Unix datagram socket.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{SEND_WAIT, Transport};

/// UDP through a connected socket: the kernel then turns an ICMP "port unreachable" (no
/// agent listening) into ECONNREFUSED on a later send, or into the socket's pending error
/// (`SO_ERROR`) after the last one. An unconnected socket never reports it.
pub(in crate::output) struct Udp(UdpSocket);

impl Udp {
    pub(in crate::output) fn connect(addr: SocketAddr) -> Result<Udp, String> {
        let bind: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        UdpSocket::bind(bind)
            .and_then(|s| s.set_write_timeout(Some(SEND_WAIT)).map(|()| s))
            .and_then(|s| s.connect(addr).map(|()| s))
            .map(Udp)
            .map_err(|e| format!("cannot open a UDP socket for {addr}: {e}"))
    }
}

impl Transport for Udp {
    fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.0.send(datagram).map(drop)
    }

    fn wait_for_room(&self, wait: Duration) -> io::Result<()> {
        if wait.is_zero() {
            return self.0.set_nonblocking(true);
        }
        self.0.set_nonblocking(false)?;
        self.0.set_write_timeout(Some(wait))
    }

    fn refusal_is_late(&self) -> bool {
        true
    }

    fn take_error(&self) -> Option<io::Error> {
        self.0.take_error().ok().flatten()
    }
}

/// A Unix datagram socket sending to the agent's path. A reader that stopped draining it
/// is the Packer's one-wait rule, as for UDP.
pub(in crate::output) struct Unix {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Unix {
    pub(in crate::output) fn new(path: &Path) -> Result<Unix, String> {
        Ok(Unix {
            socket: connect_unix(path)?,
            path: path.to_path_buf(),
        })
    }
}

impl Transport for Unix {
    fn send(&self, datagram: &[u8]) -> io::Result<()> {
        self.socket.send_to(datagram, &self.path).map(drop)
    }

    fn wait_for_room(&self, wait: Duration) -> io::Result<()> {
        if wait.is_zero() {
            return self.socket.set_nonblocking(true);
        }
        self.socket.set_nonblocking(false)?;
        self.socket.set_write_timeout(Some(wait))
    }
}

pub(in crate::output) fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve StatsD host {host:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("StatsD host {host:?} resolved to no address"))
}

/// An unbound datagram socket, checked against `path` now: a missing socket or one with no
/// listener fails before any sampling, with the fix in the message.
pub(in crate::output) fn connect_unix(path: &Path) -> Result<UnixDatagram, String> {
    let socket = UnixDatagram::unbound().map_err(|e| format!("cannot open a Unix socket: {e}"))?;
    socket.connect(path).map_err(|e| {
        format!(
            "cannot send to DogStatsD socket {}: {e}; check the path, that the agent's socket \
             volume is mounted, and the agent's DD_DOGSTATSD_SOCKET setting",
            path.display()
        )
    })?;
    // cadence sends with `send_to(path)`, which an unconnected socket needs. A full receive
    // queue (a slow agent) blocks a send: wait briefly, then count the datagram as dropped
    // rather than hang the run.
    UnixDatagram::unbound()
        .and_then(|s| s.set_write_timeout(Some(SEND_WAIT)).map(|()| s))
        .map_err(|e| format!("cannot open a Unix socket: {e}"))
}
