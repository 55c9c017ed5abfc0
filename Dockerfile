# turnbox in a container: build with the Rust toolchain, run on a slim
# Debian as an unprivileged user. Bots come from a volume at /bots.
# See docs/DEPLOYMENT.md (this file was not built on the project's own
# machines: they have no Docker engine).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p turnbox

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/turnbox --create-home turnbox \
 && mkdir /bots && chown turnbox:turnbox /bots
COPY --from=build /src/target/release/turnbox /usr/local/bin/turnbox
USER 10001:10001
WORKDIR /var/lib/turnbox
# Bound to 0.0.0.0, the host refuses to start with no secret at all: give
# it MicrosoftAppId, TURNBOX_API_KEY, TURNBOX_ADMIN_TOKEN or
# TURNBOX_DIRECTLINE_SECRET at `docker run`, or TURNBOX_INSECURE_DEV=true
# for dev mode (README, "Loopback trust").
ENV TURNBOX_BOTS=/bots \
    TURNBOX_DATA=/var/lib/turnbox/data \
    TURNBOX_BIND=0.0.0.0 \
    PORT=3978
EXPOSE 3978
# SIGTERM: stop accepting, finish in-flight turns (TURNBOX_SHUTDOWN_GRACE_MS).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/turnbox", "serve"]
