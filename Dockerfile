# syntax=docker/dockerfile:1
# The Inquest image: one binary (`inquest serve`, `inquest worker`, `inquest migrate`,
# `inquest doctor`) on a slim Debian with a non-root user. Build from the repository
# root: `docker build -t inquest .`

# Build stage: the release binary, with the registry and target folders in BuildKit
# caches so a rebuild after a source change does not fetch or compile the dependencies again.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p inquest \
    && install -D -m 0755 target/release/inquest /out/inquest

# Runtime stage: the binary, CA certificates (TLS to LLM endpoints and managed
# stores) and curl for the healthcheck, nothing else.
FROM debian:bookworm-slim AS runtime
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="inquest" \
      org.opencontainers.image.description="Incident investigation engine: alert intake, correlation and ranked root-cause hypotheses" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian's security updates replace exact versions, so packages are not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 inquest \
    && useradd --system --uid 10001 --gid inquest --home-dir /var/lib/inquest --shell /usr/sbin/nologin inquest \
    && install -d -o inquest -g inquest -m 0750 /var/lib/inquest
COPY --from=build /out/inquest /usr/local/bin/inquest
ENV INQUEST_DATA_DIR=/var/lib/inquest \
    HOME=/var/lib/inquest \
    INQUEST_LOG=info
WORKDIR /var/lib/inquest
VOLUME ["/var/lib/inquest"]
# Numeric ids, so Kubernetes can check runAsNonRoot without resolving the name.
USER 10001:10001
EXPOSE 8080
# Liveness only: readiness (/health/ready) depends on the stores and belongs to the orchestrator.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["inquest"]
CMD ["serve", "--bind", "0.0.0.0:8080"]
