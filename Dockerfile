# ecs-statsd: a static binary in an empty image.
#
#   docker build -t ecs-statsd .
#   docker run --rm ecs-statsd --help
#
# Works with the classic builder and with BuildKit: no BuildKit-only syntax (no RUN --mount,
# no COPY --chmod, no syntax directive).
#
# Build stage: on Alpine the host target is musl, so the binary is fully static (no libc at
# run time) on x86_64 and arm64 (Graviton) alike. Pinned: Rust 1.91.1 (Cargo.toml's
# rust-version is 1.88) on Alpine 3.20.
FROM rust:1.91.1-alpine3.20 AS build
RUN apk add --no-cache musl-dev
WORKDIR /src

# 1. The dependencies, in a layer of their own: built against placeholder sources, so this
#    layer is rebuilt only when Cargo.toml or Cargo.lock change, not on every source edit.
#    (Cargo.toml names the benchmark target, so a placeholder for it is needed too.)
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && echo 'fn main() {}' > benches/pipeline.rs \
 && cargo build --release --locked \
 && rm -rf src benches

# 2. The sources. COPY keeps the files' own modification times, which may be older than the
#    placeholder build: touch the crate roots so cargo rebuilds this crate.
#    build.rs records the commit for --version; the context has no .git, so pass it:
#    docker build --build-arg ECS_STATSD_COMMIT="$(git rev-parse HEAD)" -t ecs-statsd .
COPY build.rs ./
COPY src ./src
COPY benches ./benches
ARG ECS_STATSD_COMMIT=
RUN touch src/lib.rs src/main.rs \
 && cargo build --release --locked \
 && mkdir -p /rootfs/tmp \
 && chmod 1777 /rootfs/tmp \
 && cp target/release/ecs-statsd /rootfs/ecs-statsd

# Final stage: the binary, and an empty world-writable /tmp for the metadata cache
# ($TMPDIR/ecs-statsd-<uid>/). The metadata endpoint is plain HTTP, so no CA bundle.
FROM scratch
ARG VERSION=0.1.0
ARG SOURCE=NOASSERTION
LABEL org.opencontainers.image.title="ecs-statsd" \
      org.opencontainers.image.description="Amazon ECS task and container metrics as DogStatsD gauges" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=build /rootfs/ /
# Non-root: the numeric id needs no /etc/passwd.
USER 65532:65532
ENTRYPOINT ["/ecs-statsd"]
