# safekeep-controller for those who build with Docker. `make image` builds
# the same image with no container engine (hack/image): keep the two in
# step (internal/ociimage's TestDockerfile checks the flags).
#   docker build --build-arg VERSION=v0.1.0 --build-arg COMMIT=$(git rev-parse HEAD) -t safekeep-controller:v0.1.0 .
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETARCH
ARG VERSION=v0.0.0-dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Static (no libc), time zones inside (no /usr/share/zoneinfo in the
# image); CA roots come from golang.org/x/crypto/x509roots/fallback.
RUN CGO_ENABLED=0 GOOS=linux GOARCH=$TARGETARCH go build -trimpath -tags timetzdata \
    -ldflags "-s -w -buildid= -X github.com/safekeep-dev/safekeep/internal/version.Version=${VERSION} -X github.com/safekeep-dev/safekeep/internal/version.Commit=${COMMIT}" \
    -o /out/safekeep-controller ./cmd/safekeep-controller

FROM scratch
ARG VERSION=v0.0.0-dev
LABEL org.opencontainers.image.title=safekeep-controller \
      org.opencontainers.image.version=${VERSION} \
      org.opencontainers.image.source=https://github.com/safekeep-dev/safekeep
COPY --from=build /out/safekeep-controller /usr/local/bin/safekeep-controller
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/safekeep-controller"]
