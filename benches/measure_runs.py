#!/usr/bin/env python3
"""CPU time and peak RSS of whole runs of a command against a local fake metadata endpoint.

    python3 benches/measure_runs.py [--runs 50] [--capture DIR] [--containers N]
        [--reference CMD] [--callgrind] -- COMMAND [ARGS...]

Serves DIR (default: testdata/parity/ancestor-example) on 127.0.0.1: /task is task.json,
/task/stats alternates stats1.json and stats2.json, / is the container metadata. A UDP socket
on 127.0.0.1 receives the lines. The command gets the environment the ancestor and
ecs-statsd both read: ECS_CONTAINER_METADATA_URI, STATSD_HOST, STATSD_PORT, INTERVAL=0, and a
private HOME/TMPDIR. One warm-up run fills the metadata caches; then each run is measured.

Each measured run is done twice:
- CPU (user + system) and wall time: the command started directly, its rusage from wait4(2)
  at microsecond resolution (GNU time prints only 10 ms steps);
- peak RSS: the command started through GNU time (`/usr/bin/time -f %M`), a small C program,
  because a child forked straight from this Python process carries Python's resident pages
  into its ru_maxrss until it execs.

--reference CMD (e.g. /bin/true) measures CMD the same way, each of its runs right after one of
COMMAND's, and prints the ratio of the CPU medians: a figure that holds across machines and
load, where milliseconds do not.

--callgrind also runs COMMAND once more under `valgrind --tool=callgrind` (metadata cached, as
the other runs) and prints the instructions it executed (callgrind's Ir total, the process from
exec to exit, every thread); with --reference, the reference's too. The callgrind output is
kept in the printed directory for `callgrind_annotate --inclusive=yes FILE`.
Standard library only.
"""

import argparse
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def scale(files, n):
    """The capture with its first container copied n times (new Docker IDs and names), as
    benches/pipeline.rs scales it."""
    task = json.loads(files["task.json"])
    first = task["Containers"][0]
    scaled = {}
    for name in ("stats1.json", "stats2.json"):
        stats = json.loads(files[name])
        scaled[name] = json.dumps({"%s-%d" % (first["DockerId"], i): stats[first["DockerId"]] for i in range(n)}).encode()
    containers = []
    for i in range(n):
        c = dict(first)
        c["DockerId"] = "%s-%d" % (first["DockerId"], i)
        c["Name"] = "web-%d" % i
        containers.append(c)
    task["Containers"] = containers
    scaled["task.json"] = json.dumps(task).encode()
    return scaled


def serve(capture, containers=None):
    files = {name: open(os.path.join(capture, name), "rb").read()
             for name in ("task.json", "stats1.json", "stats2.json")}
    if containers:
        files = scale(files, containers)
    root = json.dumps({"Name": "ecs-statsd", "DockerId": "self"}).encode()
    counter = {"stats": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/task":
                body = files["task.json"]
            elif self.path == "/task/stats":
                counter["stats"] += 1
                body = files["stats1.json" if counter["stats"] % 2 else "stats2.json"]
            elif self.path in ("/", ""):
                body = root
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def sink():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Room for a whole run's datagrams (about 180 KB for 10 containers): the default buffer
    # overflows while this Python thread drains it, and the line count comes out short.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    seen = {"datagrams": 0, "lines": 0}

    def drain():
        while True:
            try:
                data = sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            seen["datagrams"] += 1
            seen["lines"] += len([l for l in data.split(b"\n") if l])

    threading.Thread(target=drain, daemon=True).start()
    return sock, seen


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--capture", default=os.path.join(here, "..", "testdata", "parity", "ancestor-example"))
    parser.add_argument("--containers", type=int, default=None,
                        help="serve the capture scaled to this many containers")
    parser.add_argument("--reference", default=None,
                        help="a command measured the same way, e.g. /bin/true; prints the CPU ratio")
    parser.add_argument("--callgrind", action="store_true",
                        help="also count the instructions of one run under valgrind --tool=callgrind")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to measure after --")

    server = serve(args.capture, args.containers)
    sock, seen = sink()
    home = tempfile.mkdtemp(prefix="measure-runs-")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "TMPDIR": home,
        "ECS_CONTAINER_METADATA_URI": "http://127.0.0.1:%d" % server.server_address[1],
        "STATSD_HOST": "127.0.0.1",
        "STATSD_PORT": str(sock.getsockname()[1]),
        "INTERVAL": "0",
    }

    rss_file = os.path.join(home, "rss")

    def spawn(cmd):
        start = time.monotonic()
        child = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.monotonic() - start
        err = child.stderr.read().decode(errors="replace")
        child.stderr.close()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit("run failed with %d: %s" % (os.waitstatus_to_exitcode(status), err[-500:]))
        return usage, wall

    def one_run(cmd):
        usage, wall = spawn(cmd)
        spawn(["/usr/bin/time", "-f", "%M", "-o", rss_file, "--"] + cmd)
        with open(rss_file) as f:
            rss_kib = int(f.read().split()[-1])
        return usage, rss_kib, wall

    def instructions(cmd, name):
        """Ir of one run of cmd under callgrind: the "summary:" line of its output file."""
        out = os.path.join(home, "callgrind.out.%s" % name)
        spawn(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, "--"] + cmd)
        with open(out) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    return int(line.split()[1]), out
        sys.exit("no summary line in %s" % out)

    reference = args.reference.split() if args.reference else None
    one_run(command)  # warm-up: fills the metadata cache
    time.sleep(0.3)
    seen["datagrams"] = seen["lines"] = 0
    cpu, user, system, rss, wall = [], [], [], [], []
    ref_cpu = []
    for _ in range(args.runs):
        u, r, w = one_run(command)
        cpu.append((u.ru_utime + u.ru_stime) * 1000)
        user.append(u.ru_utime * 1000)
        system.append(u.ru_stime * 1000)
        rss.append(r)
        wall.append(w * 1000)
        if reference:
            usage, _ = spawn(reference)
            ref_cpu.append((usage.ru_utime + usage.ru_stime) * 1000)
    time.sleep(0.3)
    lines_seen = dict(seen)
    counted = []
    if args.callgrind:
        counted.append(("command",) + instructions(command, "command"))
        if reference:
            counted.append(("reference",) + instructions(reference, "reference"))
    server.shutdown()

    def row(name, values, unit):
        return "| %s | %.2f %s | %.2f %s | %.2f %s |" % (
            name, statistics.median(values), unit, min(values), unit, max(values), unit)

    print("command: %s" % " ".join(command))
    print("runs: %d, after one warm-up run (metadata cached)" % args.runs)
    print("| per run | median | min | max |")
    print("|---|---|---|---|")
    print(row("CPU time (user+sys)", cpu, "ms"))
    print(row("user CPU time", user, "ms"))
    print(row("system CPU time", system, "ms"))
    print(row("peak RSS", [r / 1024 for r in rss], "MiB"))
    print(row("wall time", wall, "ms"))
    if reference:
        print(row("reference CPU time (%s)" % " ".join(reference), ref_cpu, "ms"))
        print("CPU ratio (median / reference median): %.2fx" % (
            statistics.median(cpu) / max(statistics.median(ref_cpu), 0.001)))
    if lines_seen["datagrams"]:
        # Each measured run is done twice (CPU, then RSS).
        runs = 2 * args.runs
        print("datagrams per run: %.1f, lines per run: %.1f, lines per datagram: %.1f" % (
            lines_seen["datagrams"] / runs, lines_seen["lines"] / runs,
            lines_seen["lines"] / lines_seen["datagrams"]))
    for name, ir, out in counted:
        print("instructions per run (callgrind Ir, %s): %d (%.2f M), output %s" % (name, ir, ir / 1e6, out))


if __name__ == "__main__":
    main()
