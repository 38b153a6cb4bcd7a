#!/bin/sh
# prometheus-textfile.sh: ecs-statsd metrics for node_exporter's textfile collector.
#
# Where it runs: as the entrypoint of the ecs-statsd sidecar container of a task on an EC2
# container instance whose node_exporter reads a host folder with
# --collector.textfile.directory; the task mounts that folder (see ec2-prometheus-textfile.json).
# The endpoint URL: ECS sets ECS_CONTAINER_METADATA_URI_V4 in the container, and ecs-statsd
# reads it there.
#
#   TEXTFILE_DIR  the mounted collector folder (default /var/lib/node_exporter/textfile)
#
# Each run replaces the file atomically (--output-file: temporary file, fsync, rename), also
# after a failed run, so the collector never reads a half-written file and a failure shows
# as exporter_status 0 instead of the last good run's file forever.
#
# Replicas never collide. Two copies of a task on one host share the family, revision and
# container names, so their series would carry the same labels: one file would overwrite the
# other, or node_exporter would see duplicate series across two files and drop them. So each
# task writes its own file, named after its endpoint ID (unique per task), and every series
# carries that ID as a constant label, ecs_task_endpoint. Not --tag-task-arn: the task ARN
# comes from the endpoint, so a run that cannot reach it on a task's first run writes
# exporter_status 0 with no task label at all, the same series in every replica's file;
# the ID comes from the URL ECS sets, and is there on every run. A task's file is left behind
# when it stops; remove files older than a few intervals from the host if tasks come and go.
set -u

dir=${TEXTFILE_DIR:-/var/lib/node_exporter/textfile}
endpoint=${ECS_CONTAINER_METADATA_URI_V4:?ECS sets ECS_CONTAINER_METADATA_URI_V4 inside a task container}
# http://169.254.170.2/v4/<id>: the ID names this task's file and labels its series.
id=${endpoint##*/}

exec ecs-statsd-loop.sh --format prometheus --tag "ecs_task_endpoint:$id" \
    --output-file "$dir/ecs-statsd-$id.prom" "$@"
