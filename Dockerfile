# The image the helm chart runs (helm/collections-dialer, `image.repository`): ledgerd,
# dialerd and dialerctl on PATH, nothing else. Build from the repository root:
#
#   docker build -t ghcr.io/open-collections/dialer:0.1.0 .
#
# CI has no container engine; it lints this file (hadolint) and checks it against the chart
# (scripts/check-chart): the user matches the chart's runAsUser, the binaries the chart
# starts are the ones copied, the packages built are the workspace's.

# ---- build: the release binaries (protox compiles the protos: no protoc needed) ----------
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and target dir between builds on one builder; the
# binaries are copied out of the cached target dir, which the final stage cannot see.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ledger -p dialer -p dialerctl \
    && mkdir -p /out \
    && cp target/release/ledgerd target/release/dialerd target/release/dialerctl /out/

# ---- run: Debian slim, a non-root user, CA roots for TLS to managed databases -------------
FROM debian:bookworm-slim
# Time-zone rules are compiled into the binaries (jiff's bundled tzdb): no tzdata needed.
# The chart's migration Job fallback (an empty `migrations.command`) needs /bin/sh, grep,
# sleep and kill: Debian's base has them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --gid 10001 dialer \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin dialer
COPY --from=build /out/ledgerd /out/dialerd /out/dialerctl /usr/local/bin/
# The services write only to their database, /tmp and mounted volumes (the chart mounts an
# emptyDir on /tmp and sets a read-only root filesystem).
WORKDIR /tmp
USER 10001:10001
# The chart's default ports: ledgerd gRPC 50061 and metrics 9461, dialerd gRPC 50071 and
# metrics/wallboard 9471; every listen address is configuration.
EXPOSE 50061 9461 50071 9471
CMD ["dialerd", "--help"]
