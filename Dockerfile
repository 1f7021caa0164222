# syntax=docker/dockerfile:1
#
# Runnel container image: a multi-stage build producing a small Debian-slim image that runs
# the broker as an unprivileged user, keeps its data in a volume, and reports readiness
# through the HTTP listener's /readyz.
#
#   docker build -t runnel .
#   docker run -d --name runnel -p 9092:9092 -p 9644:9644 -v runnel-data:/var/lib/runnel \
#       -e RUNNEL_ADVERTISED_LISTENER=localhost:9092 runnel
#
# Clients connect to the advertised address, so set RUNNEL_ADVERTISED_LISTENER to the
# host:port they can reach (the default, "localhost:9092", only suits -p 9092:9092 on the
# same machine). Every other setting: RUNNEL_* variables or a mounted --config file
# (see config/runnel.toml).
#
# The HTTP listener (console, /metrics, /healthz, /readyz) is published on 0.0.0.0:9644
# only when the console has a credential: RUNNEL_HTTP_TOKEN or RUNNEL_HTTP_TOKEN_FILE (a
# mounted secret), or RUNNEL_HTTP_USER with RUNNEL_HTTP_PASSWORD(_FILE). Without one it binds
# 127.0.0.1:9644 inside the container (the health check still works; -p 9644 reaches
# nothing). RUNNEL_HTTP_LISTEN set explicitly wins; the broker itself refuses a
# non-loopback address with the console on and no credential. For metrics without a
# console: -e RUNNEL_HTTP_LISTEN=0.0.0.0:9644 -e RUNNEL_CONSOLE_ENABLED=false.
#   docker run ... -p 9644:9644 -e RUNNEL_HTTP_TOKEN_FILE=/run/secrets/console runnel
#
# Note: written without a Docker engine at hand (the build machines have none); it has not
# been built. The build mirrors scripts/setup (libclang for RocksDB's bindgen, clang for its
# C++) and the release profile of Cargo.toml.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build ----------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        clang libclang-dev g++ make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads (.dockerignore keeps target/, compat/, scripts/ out).
COPY Cargo.toml Cargo.lock ./
# The C/C++ compiler choice for RocksDB (clang; see .cargo/config.toml).
COPY .cargo ./.cargo
# Cargo.toml names this example target; the manifest does not load without it.
COPY scripts/slow-readers.d ./scripts/slow-readers.d
COPY vendor ./vendor
COPY src ./src
COPY protocol-tests ./protocol-tests
# Cache mounts keep the registry and RocksDB's C++ objects between builds; the binary is
# copied out because the target directory is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin runnel \
    && install -D -m 0755 target/release/runnel /out/runnel

# ---- runtime --------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
# RocksDB is linked statically; the binary needs glibc and libstdc++/libgcc, which the
# slim image already carries. bash (also present) runs the health check.
RUN groupadd --system --gid 10001 runnel \
    && useradd --system --uid 10001 --gid runnel --home-dir /var/lib/runnel \
        --no-create-home --shell /usr/sbin/nologin runnel \
    && mkdir -p /var/lib/runnel \
    && chown runnel:runnel /var/lib/runnel
COPY --from=build /out/runnel /usr/local/bin/runnel
COPY config/runnel.toml /etc/runnel/runnel.toml.example

# The entrypoint picks the HTTP bind address (see the top of this file).
COPY --chmod=0755 <<'EOF' /usr/local/bin/runnel-entrypoint
#!/bin/sh
if [ -z "${RUNNEL_HTTP_LISTEN+set}" ]; then
    if [ -n "${RUNNEL_HTTP_TOKEN}${RUNNEL_HTTP_TOKEN_FILE}${RUNNEL_HTTP_USER}" ]; then
        export RUNNEL_HTTP_LISTEN=0.0.0.0:9644
    else
        export RUNNEL_HTTP_LISTEN=127.0.0.1:9644
    fi
fi
exec /usr/local/bin/runnel "$@"
EOF
# /readyz over plain HTTP; with RUNNEL_HTTP_TLS=true (no TLS client in the image) only that
# the port accepts connections.
COPY --chmod=0755 <<'EOF' /usr/local/bin/runnel-healthcheck
#!/bin/bash
exec 3<>/dev/tcp/127.0.0.1/9644 || exit 1
[ "${RUNNEL_HTTP_TLS:-false}" = true ] && exit 0
printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3 && head -c 12 <&3 | grep -q ' 200'
EOF

ENV RUNNEL_DATA_DIR=/var/lib/runnel \
    RUNNEL_LISTEN=0.0.0.0:9092
VOLUME ["/var/lib/runnel"]
EXPOSE 9092 9644
USER runnel:runnel
WORKDIR /var/lib/runnel

# /readyz answers 200 once logs are recovered, the store is open and the Kafka listener is
# bound (503 before). No curl in the image: a bash /dev/tcp request is enough. Recovery of a
# large data directory can take a while, hence the generous start period.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["/usr/local/bin/runnel-healthcheck"]

# The broker handles SIGTERM itself (drain connections, flush logs, close the store).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/runnel-entrypoint"]
