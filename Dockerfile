# syntax=docker/dockerfile:1
#
# One static binary, `smartmaint`, in a distroless image running as a
# non-root user. The subcommand is the container's command:
#   docker build -t smartmaint:dev .
#   docker run --rm smartmaint:dev migrate | api | worker
# docker-compose.yml and deploy/k8s use this image; see docs/DEPLOYMENT.md.

# GO_VERSION follows the go directive of go.mod (a test keeps them equal).
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# Modules first, so that source edits do not refetch them.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The embedded Temporal server makes a cold build take several minutes.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags='-s -w' -o /out/smartmaint ./cmd/smartmaint

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/smartmaint /usr/local/bin/smartmaint
# 65532 is distroless's "nonroot".
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/smartmaint"]
CMD ["api"]
