#!/bin/sh
# ecs-statsd-entrypoint.sh: your application and ecs-statsd in one container, for a task where
# a second container is not an option.
#
# Where it runs: as the entrypoint of your application's image, under tini -g (tini must be
# PID 1 so the task's SIGTERM reaches every process; see Dockerfile.app):
#
#   ENTRYPOINT ["tini", "-g", "--", "/usr/local/bin/ecs-statsd-entrypoint.sh"]
#   CMD ["your-app", "--its-flags"]
#
# The endpoint URL: ECS sets ECS_CONTAINER_METADATA_URI_V4 in the container, and ecs-statsd
# reads it there. Set APP_CONTAINER_NAME to this container's name in the task definition:
# ecs-statsd leaves out "its own container" by default, which here is the application's.
# Other settings come from ecs-statsd's environment variables (INTERVAL, DD_AGENT_HOST, ...).
#
#   ECS_STATSD_BACKOFF  seconds to wait after a failed run (default 60)
#
# The task stops: tini -g sends SIGTERM to the whole process group. The application stops,
# the current ecs-statsd run takes its last sample at once and sends, and the container exits
# with the application's status. The application exits by itself: the current run is asked
# to finish early, sends, and the container exits with the application's status.
set -u
: "${APP_CONTAINER_NAME:?set APP_CONTAINER_NAME to the name of this container in the task definition}"
backoff=${ECS_STATSD_BACKOFF:-60}

# The metrics loop, in the background.
(
    run=''
    nap=''
    # shellcheck disable=SC2317  # called by the traps below
    finish() {
        if [ -n "$nap" ]; then kill "$nap" 2>/dev/null; fi
        if [ -n "$run" ]; then wait "$run"; fi
        exit 0
    }
    # Task stopping: ecs-statsd got the same SIGTERM from tini -g and is finishing its run;
    # signalling it again would make it exit without sending.
    trap finish TERM
    # The application ended by itself: ask the current run to finish early, once.
    trap 'if [ -n "$run" ]; then kill -TERM "$run" 2>/dev/null; fi; finish' USR1
    while :; do
        ecs-statsd --include "$APP_CONTAINER_NAME" &
        run=$!
        wait "$run"
        status=$?
        run=''
        if [ "$status" -ne 0 ]; then
            echo "ecs-statsd-entrypoint: ecs-statsd exited with status $status; next run in $backoff s" >&2
            sleep "$backoff" &
            nap=$!
            wait "$nap"
            nap=''
        fi
    done
) &
agent=$!

# `wait` returns early when a trapped signal arrives; wait again until the process has ended.
wait_for() {
    while :; do
        wait "$1"
        code=$?
        kill -0 "$1" 2>/dev/null || return "$code"
    done
}

# Without this trap the shell would die at once on SIGTERM, tini (PID 1) would exit, and the
# kernel would kill ecs-statsd before it sends.
stopping=''
trap 'stopping=1' TERM

# In the foreground, so the application keeps its own handling of SIGINT.
"$@"
status=$?
if [ -z "$stopping" ]; then
    kill -USR1 "$agent" 2>/dev/null
fi
wait_for "$agent"
exit "$status"
