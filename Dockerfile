# syntax=docker/dockerfile:1
# One image runs every telemesh subcommand: docker run telemesh <command>.

# --- build: the binary (cgo for SQLite) and the Grafana backend plugin ---
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath \
      -ldflags "-s -w -X github.com/telemesh/telemesh/internal/version.Version=${VERSION}" \
      -o /out/telemesh ./cmd/telemesh \
 && make plugin PLUGIN_DIST=/out/grafana-plugin

# --- runtime: small, non-root ---
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/telemesh --shell /usr/sbin/nologin telemesh \
 && mkdir -p /var/lib/telemesh /secrets /certs /usr/share/telemesh \
 && chown telemesh:telemesh /var/lib/telemesh /secrets /certs
COPY --from=build /out/telemesh /usr/local/bin/telemesh
COPY --from=build /out/grafana-plugin /usr/share/telemesh/grafana-plugin
USER telemesh
WORKDIR /var/lib/telemesh
ENV TELEMESH_LOG_FORMAT=json TELEMESH_DATA_DIR=/var/lib/telemesh
EXPOSE 8080 8081 5000
VOLUME ["/var/lib/telemesh"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["telemesh", "healthcheck", "--http", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["telemesh"]
CMD ["up", "--ws-listen", "0.0.0.0:8080", "--rs-listen", "0.0.0.0:8081", "--bridge-listen", "0.0.0.0:5000"]
