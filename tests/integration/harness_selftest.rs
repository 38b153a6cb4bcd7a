//! Tests of the integration-test harness itself (no dependency on the binary's behaviour).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::panic;
use std::time::{Duration, Instant};

use crate::common::*;

const IO: Duration = Duration::from_secs(10);

/// Minimal raw HTTP client: sends `request` verbatim, returns the whole response.
fn raw_request(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO)).unwrap();
    s.write_all(request).expect("write");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("read");
    out
}

/// GET `path`; returns (status, headers, body-as-received).
fn get(ep: &FakeEndpoint, path: &str) -> (u16, String, Vec<u8>) {
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: selftest\r\nAccept: */*\r\n\r\n"
    );
    split_response(&raw_request(ep.addr(), req.as_bytes()))
}

fn split_response(raw: &[u8]) -> (u16, String, Vec<u8>) {
    let pos = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response has a head");
    let head = String::from_utf8(raw[..pos].to_vec()).unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[pos + 4..].to_vec())
}

fn panic_message(f: impl FnOnce() + panic::UnwindSafe) -> String {
    let err = panic::catch_unwind(f).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

// ---------------------------------------------------------------- fake endpoint

#[test]
fn endpoint_serves_sequenced_bodies_and_counts() {
    let ep = FakeEndpoint::serve(r#"{"TaskARN":"t"}"#, &["s1", "s2"]);
    assert!(ep.url().starts_with("http://127.0.0.1:"));
    assert!(!ep.url().ends_with('/'));

    for _ in 0..2 {
        let (status, _, body) = get(&ep, "/task");
        assert_eq!(
            (status, body.as_slice()),
            (200, br#"{"TaskARN":"t"}"#.as_slice())
        );
    }
    let bodies: Vec<Vec<u8>> = (0..4).map(|_| get(&ep, "/task/stats").2).collect();
    assert_eq!(
        bodies,
        vec![
            b"s1".to_vec(),
            b"s2".to_vec(),
            b"s2".to_vec(),
            b"s2".to_vec()
        ]
    );

    assert_eq!(ep.requests("/task"), 2);
    assert_eq!(ep.requests("/task/stats"), 4);
    assert_eq!(ep.requests("/"), 0);
    assert_eq!(ep.total_requests(), 6);
    assert_eq!(
        ep.request_paths(),
        [
            "/task",
            "/task",
            "/task/stats",
            "/task/stats",
            "/task/stats",
            "/task/stats"
        ]
    );
    let log = ep.request_log();
    assert_eq!(log[0].method, "GET");
    assert!(log[0].head.contains("User-Agent: selftest"));
}

#[test]
fn endpoint_headers_are_well_formed() {
    let ep = FakeEndpoint::serve("{}", &["abc"]);
    let (status, head, body) = get(&ep, "/task/stats");
    assert_eq!(status, 200);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 3"), "{head}");
    assert!(head.contains("Connection: close"), "{head}");
    assert_eq!(body, b"abc");
}

#[test]
fn endpoint_unknown_path_and_root_are_404_until_configured() {
    let ep = FakeEndpoint::serve("{}", &["{}"]);
    assert_eq!(get(&ep, "/nope").0, 404);
    assert_eq!(get(&ep, "/").0, 404);
    assert_eq!(get(&ep, "/task/").0, 404, "matching is exact");
    assert_eq!(ep.requests("/nope"), 1);

    let ep = ep.with_root(r#"{"Name":"web"}"#);
    let (status, _, body) = get(&ep, "/");
    assert_eq!(status, 200);
    assert_eq!(body, br#"{"Name":"web"}"#);
    assert_eq!(ep.requests("/"), 2);
}

#[test]
fn endpoint_status_codes_and_push() {
    let ep = FakeEndpoint::new().route(
        "/task/stats",
        [Response::new(500, "boom"), Response::ok("fine")],
    );
    ep.push("/task", Response::new(503, ""));
    assert_eq!(get(&ep, "/task/stats").0, 500);
    assert_eq!(get(&ep, "/task/stats").0, 200);
    let (status, head, body) = get(&ep, "/task");
    assert_eq!(status, 503);
    assert!(
        head.starts_with("HTTP/1.1 503 Service Unavailable"),
        "{head}"
    );
    assert!(body.is_empty());
    // set_route replaces the queue and restarts the sequence.
    ep.set_route("/task/stats", [Response::ok("again")]);
    assert_eq!(get(&ep, "/task/stats").2, b"again");
}

#[test]
fn endpoint_truncate_sends_half_the_body() {
    let ep = FakeEndpoint::new().route("/task", [Response::ok("0123456789").truncate()]);
    let (status, head, body) = get(&ep, "/task");
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: 10"), "{head}");
    assert_eq!(body, b"01234");
}

#[test]
fn endpoint_tolerates_odd_requests() {
    let ep = FakeEndpoint::serve("T", &["S"]);
    // Head split across several writes, lowercase headers, absolute-form target.
    let mut s = TcpStream::connect(ep.addr()).unwrap();
    s.set_read_timeout(Some(IO)).unwrap();
    s.write_all(b"GET /task/st").unwrap();
    s.flush().unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.write_all(b"ats HTTP/1.1\r\nhost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    s.write_all(b"x-weird:   spaced \r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(split_response(&out).2, b"S");

    let url = format!("GET {}/task HTTP/1.1\r\n\r\n", ep.url());
    assert_eq!(
        split_response(&raw_request(ep.addr(), url.as_bytes())).2,
        b"T"
    );

    // A request with a body (drained, not confused with the next request).
    let req = b"POST /task HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
    assert_eq!(split_response(&raw_request(ep.addr(), req)).2, b"T");

    // Garbage request line -> 400, not recorded.
    let (status, _, _) = split_response(&raw_request(ep.addr(), b"HELLO\r\n\r\n"));
    assert_eq!(status, 400);
    assert_eq!(ep.request_paths(), ["/task/stats", "/task", "/task"]);
}

#[test]
fn endpoint_delay_is_applied() {
    let ep = FakeEndpoint::new().route(
        "/task",
        [Response::ok("slow").delay(Duration::from_millis(200))],
    );
    let start = Instant::now();
    assert_eq!(get(&ep, "/task").2, b"slow");
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[test]
fn endpoint_hang_never_answers_and_drop_is_bounded() {
    let ep = FakeEndpoint::new()
        .route("/task/stats", [Response::hang()])
        .route("/task", [Response::ok("still served")]);
    let mut s = TcpStream::connect(ep.addr()).unwrap();
    s.write_all(b"GET /task/stats HTTP/1.1\r\n\r\n").unwrap();
    // Other connections are still served while one hangs. The server handles connections
    // one after the other, so once /task is answered the hung request has been read and
    // parked. No timing: nothing has arrived now, and the read after the drop proves that
    // nothing ever did.
    assert_eq!(get(&ep, "/task").2, b"still served");
    assert_eq!(ep.requests("/task/stats"), 1);
    s.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 16];
    let err = s
        .read(&mut buf)
        .expect_err("hung request must not be answered");
    assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock, "{err:?}");
    s.set_nonblocking(false).unwrap();

    // Dropping returns (bounded by the server loop, see `FakeEndpoint::drop`); a generous
    // bound so that a loaded machine cannot fail it, only a drop that never returns.
    let (done, dropped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(ep);
        let _ = done.send(());
    });
    dropped
        .recv_timeout(Duration::from_secs(60))
        .expect("dropping a FakeEndpoint with a hung connection returns");
    // After drop the hung connection is closed: EOF or reset, never data (no byte of an
    // answer was ever sent), and no wait (the server shut it down before the drop returned).
    s.set_read_timeout(Some(IO)).unwrap();
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e)
            if e.kind() != std::io::ErrorKind::WouldBlock
                && e.kind() != std::io::ErrorKind::TimedOut => {}
        other => panic!("after drop: {other:?} (data: {:?})", &buf),
    }
}

#[test]
fn endpoint_drop_during_delay_is_bounded() {
    let ep = FakeEndpoint::new().route("/", [Response::ok("x").delay(Duration::from_secs(600))]);
    let addr = ep.addr();
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    // Make sure the server is inside the delay before dropping.
    let deadline = Instant::now() + IO;
    while ep.requests("/") == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ep.requests("/"), 1);
    let start = Instant::now();
    drop(ep);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "drop took {:?}",
        start.elapsed()
    );
}

// ---------------------------------------------------------------- listeners

#[test]
fn udp_listener_receives_datagrams() {
    let l = UdpListener::new();
    assert_eq!(l.addr(), format!("127.0.0.1:{}", l.port()));
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"a:1|g\nb:2|g\n", l.addr()).unwrap();
    sender.send_to(b"c:3|g", l.addr()).unwrap();
    let d = l.datagrams_until_quiet(Duration::from_millis(200), Duration::from_secs(10));
    assert_eq!(d, ["a:1|g\nb:2|g\n", "c:3|g"]);
    assert_eq!(lines(&d), ["a:1|g", "b:2|g", "c:3|g"]);
    // Nothing more: returns after `quiet`, well before max_wait.
    let start = Instant::now();
    assert!(
        l.datagrams_until_quiet(Duration::from_millis(50), Duration::from_secs(10))
            .is_empty()
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(l.recv_timeout(Duration::from_millis(20)), None);
}

#[test]
fn udp_listener_respects_max_wait() {
    let l = UdpListener::new();
    let start = Instant::now();
    let d = l.datagrams_until_quiet(Duration::from_secs(60), Duration::from_millis(100));
    assert!(d.is_empty());
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn unix_dgram_listener_receives_datagrams() {
    let l = UnixDgramListener::new();
    let dir = l.path().parent().unwrap().to_path_buf();
    let sender = UnixDatagram::unbound().unwrap();
    sender.send_to(b"x:1|g\n\ny:2|g", l.path()).unwrap();
    assert_eq!(l.recv_timeout(IO).as_deref(), Some("x:1|g\n\ny:2|g"));
    sender.send_to(b"z:3|g", l.path_str()).unwrap();
    let d = l.datagrams_until_quiet(Duration::from_millis(100), IO);
    assert_eq!(lines(&d), ["z:3|g"]);
    drop(l);
    assert!(!dir.exists(), "temp dir removed on drop");
}

// ---------------------------------------------------------------- cmd

#[test]
fn temp_dir_is_unique_and_removed() {
    let a = TempDir::new();
    let b = TempDir::new();
    assert_ne!(a.path(), b.path());
    let f = a.write("f.json", "{}");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "{}");
    assert_eq!(f, a.join("f.json"));
    let p = a.path().to_path_buf();
    drop(a);
    assert!(!p.exists());
}

#[test]
fn run_program_clears_env_and_captures_output() {
    let r = run_program(
        "/bin/sh",
        &["-c", "env | sort; echo err >&2; exit 3"],
        &[("FOO", "bar baz")],
    );
    assert_eq!(r.status, Some(3));
    assert_eq!(r.signal, None);
    assert!(!r.success());
    let vars: Vec<&str> = r
        .stdout
        .lines()
        .map(|l| l.split('=').next().unwrap())
        .filter(|k| !["PWD", "SHLVL", "_", "OLDPWD"].contains(k)) // set by sh itself
        .collect();
    assert_eq!(vars, ["FOO", "PATH"], "stdout: {}", r.stdout);
    assert!(r.stdout.contains("FOO=bar baz\n"));
    assert_eq!(r.stderr, "err\n");
    r.assert_code(3);
}

#[test]
fn run_program_handles_large_output() {
    // More than a pipe buffer on both streams at once: must not deadlock.
    let r = run_program(
        "/bin/sh",
        &[
            "-c",
            "i=0; while [ $i -lt 3000 ]; do echo 0123456789012345678901234567890123456789; echo e0123456789012345678901234567890123456789 >&2; i=$((i+1)); done",
        ],
        &[],
    );
    r.assert_success();
    assert_eq!(r.stdout.lines().count(), 3000);
    assert_eq!(r.stderr.lines().count(), 3000);
}

#[test]
#[should_panic(expected = "timed out")]
fn wait_with_timeout_kills_and_panics() {
    let child = spawn_program("/bin/sleep", &["30"], &[]);
    wait_with_timeout(child, Duration::from_millis(200));
}

#[test]
fn send_signal_reports_signal() {
    let child = spawn_program("/bin/sleep", &["30"], &[]);
    send_signal(&child, SIGTERM);
    let r = wait_with_timeout(child, Duration::from_secs(20));
    assert_eq!(r.status, None);
    assert_eq!(r.signal, Some(SIGTERM));
}

#[test]
fn bin_path_exists() {
    assert!(bin().exists(), "{}", bin().display());
}

// ---------------------------------------------------------------- dogstatsd

#[test]
fn dogstatsd_accepts_valid_lines() {
    let l = parse_line("ecs_task.mem_usage:123|g|#container_name:web,interface:eth1").unwrap();
    assert_eq!(l.name, "ecs_task.mem_usage");
    assert_eq!(l.value, 123.0);
    assert_eq!(l.raw_value, "123");
    assert_eq!(l.kind, "g");
    assert_eq!(
        l.tags,
        [
            ("container_name".into(), "web".into()),
            ("interface".into(), "eth1".into())
        ]
    );
    assert_eq!(l.container, None);
    assert_eq!(l.timestamp, None);
    assert_eq!(l.tag("interface"), Some("eth1"));
    assert!(l.is_gauge());

    let l = parse_line("a.b_c:-0.5|ms|T1700000000|c:abc123|@0.5|#bare,url:http://x:80").unwrap();
    assert_eq!(l.value, -0.5);
    assert_eq!(l.kind, "ms");
    assert_eq!(l.timestamp, Some(1_700_000_000));
    assert_eq!(l.container.as_deref(), Some("abc123"));
    assert_eq!(l.sample_rate, Some(0.5));
    assert_eq!(
        l.tags,
        [
            ("bare".into(), "".into()),
            ("url".into(), "http://x:80".into())
        ]
    );
    assert!(l.has_tag("bare", ""));

    for ok in [
        "x:1|c",
        "x:1.5e3|h",
        "x:0|s",
        "x:7|d",
        "x:1|g|#a:b:c",
        "x:.5|g",
    ] {
        parse_line(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
}

#[test]
fn dogstatsd_rejects_invalid_lines() {
    for bad in [
        "a:b|g",
        "a:1|g|#x|y",
        "a:NaN|g",
        "a b:1|g",
        "",
        "a:1",
        "a|g",
        ":1|g",
        "a:|g",
        "a:inf|g",
        "a:-inf|g",
        "a:+1|g",
        "a:1|gauge",
        "a:1|G",
        "a:1|g|",
        "a:1|g|#",
        "a:1|g|#a,,b",
        "a:1|g|#a b",
        "a:1|g|#a#b",
        "a:1|g|#:v",
        "a:1|g|#a|#b",
        "a:1|g|c:",
        "a:1|g|c:a_b",
        "a:1|g|c:a.b",
        "a:1|g|c:a:b",
        "a:1|g|c:a,b",
        "a:1|g|T",
        "a:1|g|T-1",
        "a:1|g|T+1",
        "a:1|g|T1.5",
        "a:1|g|@0",
        "a:1|g|@2",
        "a:1|g|@x",
        "a:1|g|x",
        "a:1:2|g",
        "a@b:1|g",
        "a#b:1|g",
        "a,b:1|g",
        "a\tb:1|g",
        "a:1|g\n",
        "a:1|g\nb:2|g",
        "a:1 |g",
        "a:1|g |#x",
    ] {
        assert!(
            parse_line(bad).is_err(),
            "accepted {bad:?}: {:?}",
            parse_line(bad)
        );
    }
    assert!(parse_line("a:NaN|g").unwrap_err().contains("finite"));
}

#[test]
fn dogstatsd_find_and_value() {
    let raw: Vec<String> = [
        "m.cpu:1|g|#container_name:web,task:t",
        "m.cpu:2|g|#container_name:db,task:t",
        "m.net:3|g|#interface:eth0",
    ]
    .map(String::from)
    .to_vec();
    let parsed = parse_all(&raw);
    assert_eq!(find(&parsed, "m.cpu", &[]).len(), 2);
    assert_eq!(find(&parsed, "m.cpu", &[("task", "t")]).len(), 2);
    assert_eq!(value(&parsed, "m.cpu", &[("container_name", "db")]), 2.0);
    assert_eq!(value(&parsed, "m.net", &[]), 3.0);
    assert!(find(&parsed, "m.cp", &[]).is_empty(), "exact names only");

    let msg = panic_message(|| {
        value(&parsed, "m.cpu", &[("task", "t")]);
    });
    assert!(msg.contains("found 2"), "{msg}");
    let msg = panic_message(|| {
        value(&parsed, "m.cpu", &[("container_name", "cache")]);
    });
    assert!(
        msg.contains("m.cpu:1|g|#container_name:web,task:t"),
        "{msg}"
    );
    let msg = panic_message(|| {
        value(&parsed, "m.mem", &[]);
    });
    assert!(msg.contains("all metric names"), "{msg}");
    let msg = panic_message(|| {
        parse_all(&["ok:1|g".to_string(), "bad:x|g".to_string()]);
    });
    assert!(msg.contains("bad:x|g"), "{msg}");
}

// ---------------------------------------------------------------- diff

#[test]
fn diff_equal_passes() {
    assert_lines_eq("a\nb\n", "a\nb", "trailing newline is insignificant");
    assert_lines_eq("", "", "empty");
}

#[test]
fn diff_mismatch_shows_readable_diff() {
    let msg = panic_message(|| assert_lines_eq("a\nb\nc\n", "a\nB\nc\nd\n", "golden output"));
    assert!(msg.contains("golden output"), "{msg}");
    assert!(msg.contains("- b\n"), "{msg}");
    assert!(msg.contains("+ B\n"), "{msg}");
    assert!(msg.contains("+ d\n"), "{msg}");
    assert!(msg.contains("  a\n"), "{msg}");
    let msg = panic_message(|| assert_lines_eq("x\n", "x\r\n", "crlf"));
    assert!(msg.contains("escaped"), "{msg}");
}
