# ecs-statsd: a static binary in an empty image.
#
#   docker build -t ecs-statsd .
#   docker run --rm ecs-statsd --help
#
# Build stage: on Alpine the host target is musl, so the binary is fully static (no libc at
# run time) on x86_64 and arm64 (Graviton) alike.
FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Cargo.toml names the benchmark target, so its source must be present to load the manifest.
COPY benches ./benches
RUN cargo build --release --locked \
 && cp target/release/ecs-statsd /ecs-statsd

# Final stage: the binary only. The metadata endpoint is plain HTTP, so no CA bundle is
# needed; the cache goes to $TMPDIR (/tmp is created empty and writable).
FROM scratch
COPY --from=build /ecs-statsd /ecs-statsd
COPY --from=build --chmod=1777 /tmp /tmp
# Non-root: the numeric id needs no /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/ecs-statsd"]
