# A static gatehouse on distroless, as a non-root user.
#   docker build -t gatehouse .
#   docker run -p 8080:8080 -v gatehouse-state:/var/lib/gatehouse \
#     -v $PWD/gatehouse.yaml:/etc/gatehouse/gatehouse.yaml:ro gatehouse
# The config's listeners must bind 0.0.0.0 (not 127.0.0.1) to be reached
# from outside the container; state_dir and accounts belong under
# /var/lib/gatehouse. Reload with: docker kill --signal=HUP CONTAINER
# Static build: user names for file_authorization come from /etc/passwd
# only (no NSS: winbind or SSSD users are not found).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# .git is not sent (.dockerignore): pass the commit, e.g.
#   docker build --build-arg VERSION=$(git describe --tags --always) --build-arg COMMIT=$(git rev-parse HEAD) .
ARG VERSION=dev
ARG COMMIT=
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/gatehouse ./cmd/gatehouse \
 && mkdir -p /out/state && /out/gatehouse version \
 && /out/gatehouse help --man-dir /out/man/man1

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gatehouse /usr/local/bin/gatehouse
COPY --from=build --chown=65532:65532 /out/state /var/lib/gatehouse
# man pages (gatehouse help --man-dir) and the reference, for docker cp or a derived image
COPY --from=build /out/man /usr/local/share/man
COPY --from=build /src/docs/CONFIG.md /usr/share/doc/gatehouse/CONFIG.md
WORKDIR /var/lib/gatehouse
USER 65532:65532
EXPOSE 8080 8443 9090
# -v of a config over this file; the embedded default serves on 127.0.0.1
ENTRYPOINT ["/usr/local/bin/gatehouse", "serve"]
CMD ["--config", "/etc/gatehouse/gatehouse.yaml"]
