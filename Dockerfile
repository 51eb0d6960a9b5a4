# syntax=docker/dockerfile:1
# The loadprobe image: a --locked release build on Debian bookworm, with the dependencies
# compiled in their own cached layer (cargo-chef), then the binary alone on distroless
# `cc` (glibc, libgcc and CA certificates; no shell, no package manager), as user nonroot.
#
#   docker build -t loadprobe .
#   docker run --rm -p 10180:10180 loadprobe        # the demo config; open http://127.0.0.1:10180/
#   docker run --rm -p 10180:10180 -v "$PWD/my.yml:/etc/loadprobe/loadprobe.yml:ro" loadprobe
#
# The builder is bookworm because the runtime is distroless/cc-debian12: same glibc (2.36).
# TLS is rustls, so there is no OpenSSL to ship.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS chef
RUN cargo install --locked cargo-chef@0.1.73
WORKDIR /src

# The recipe: Cargo.toml and Cargo.lock reduced to what decides the dependency build. It
# changes only when the dependencies do, so the `cook` layer below stays cached across
# source edits.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --bin loadprobe --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin loadprobe

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="loadprobe" \
      org.opencontainers.image.description="Prometheus-native continuous synthetic HTTP load exporter" \
      org.opencontainers.image.url="https://github.com/loadprobe/loadprobe" \
      org.opencontainers.image.source="https://github.com/loadprobe/loadprobe" \
      org.opencontainers.image.documentation="https://github.com/loadprobe/loadprobe/blob/main/docs/kubernetes.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="loadprobe" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=builder /src/target/release/loadprobe /loadprobe
# The demo config (built-in demo target, inside the container), so `docker run` shows
# something at once; mount your own file, or a ConfigMap, over /etc/loadprobe.
COPY config/loadprobe.yml /etc/loadprobe/loadprobe.yml
# The base image's nonroot user, numerically, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 10180
# No HEALTHCHECK: there is no shell or client in the image; Kubernetes probes
# /-/healthy and /-/ready (helm/loadprobe).
ENTRYPOINT ["/loadprobe"]
CMD ["--config.file=/etc/loadprobe/loadprobe.yml"]
