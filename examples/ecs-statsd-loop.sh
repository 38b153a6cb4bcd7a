#!/bin/sh
# ecs-statsd-loop.sh: run ecs-statsd again and again, for the life of an ECS task.
#
# Where it runs: as the entrypoint (PID 1) of the ecs-statsd sidecar container of a task
# (Dockerfile.sidecar installs it; the task definitions in this folder start it).
# The endpoint URL: ECS sets ECS_CONTAINER_METADATA_URI_V4 in every container of the task,
# inside the container, and ecs-statsd reads it there. Nothing to configure.
#
#   ecs-statsd-loop.sh [ecs-statsd flags...]
#
#   ECS_STATSD_BACKOFF  seconds to wait after a failed run (default 60), so a broken
#                       configuration (a wrong port, an agent not up yet) never spins
#   ECS_STATSD_PAUSE    seconds to wait after every good run (default 0: a run already takes
#                       --interval; with --since-last-run a run is instant, so set it)
#
# When the task stops (ECS sends SIGTERM to every container's PID 1, this script), the
# current run is cut short: it takes its last sample at once, sends, and the loop exits 0.
# A PID 1 without a handler would ignore SIGTERM and be killed 30 s later, losing that run.
set -u

backoff=${ECS_STATSD_BACKOFF:-60}
pause=${ECS_STATSD_PAUSE:-0}
run=''
nap=''

stop() {
    if [ -n "$nap" ]; then kill "$nap" 2>/dev/null; fi
    if [ -n "$run" ]; then
        # One SIGTERM only: a second one makes ecs-statsd exit at once without sending.
        kill -TERM "$run" 2>/dev/null
        wait "$run"
    fi
    exit 0
}
trap stop TERM INT

# A sleep that a signal interrupts at once (the shell runs a trap only after a foreground
# command ends, but interrupts `wait`).
pause_for() {
    sleep "$1" &
    nap=$!
    wait "$nap"
    nap=''
}

while :; do
    ecs-statsd "$@" &
    run=$!
    wait "$run"
    status=$?
    run=''
    if [ "$status" -ne 0 ]; then
        echo "ecs-statsd-loop: ecs-statsd exited with status $status; next run in $backoff s" >&2
        pause_for "$backoff"
    elif [ "$pause" != 0 ]; then
        pause_for "$pause"
    fi
done
