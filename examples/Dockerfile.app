# Your application's image with ecs-statsd in the same container, under tini -g
# (app-with-tini.json). Build the ecs-statsd image first (from the repository root):
#
#   docker build -t ecs-statsd .
#   docker build -t my-registry/my-app-with-ecs-statsd:1.0 \
#       --build-arg APP_IMAGE=my-app:1.0 -f examples/Dockerfile.app examples
#
# APP_IMAGE is Alpine-based here (apk); on Debian or Ubuntu install tini with apt-get.
ARG ECS_STATSD_IMAGE=ecs-statsd
ARG APP_IMAGE=alpine:3.20.3
FROM ${ECS_STATSD_IMAGE} AS ecs-statsd

FROM ${APP_IMAGE}
RUN apk add --no-cache tini
COPY --from=ecs-statsd /ecs-statsd /usr/local/bin/ecs-statsd
COPY ecs-statsd-entrypoint.sh /usr/local/bin/
# tini must be PID 1: -g sends the task's SIGTERM to the whole process group, ecs-statsd
# included, and tini reaps what the application leaves behind.
ENTRYPOINT ["tini", "-g", "--", "/usr/local/bin/ecs-statsd-entrypoint.sh"]
# Your application's command; the task definition's "command" overrides it.
CMD ["my-app"]
