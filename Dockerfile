# syntax=docker/dockerfile:1
# launchguard container image: a static-enough glibc binary on distroless, as a non-root user,
# with the rules, dashboards and example config inside (under /usr/share/launchguard).
#
#   launchguard render --out .      # writes rules/ and dashboards/ from the config first
#   docker build -t launchguard:0.1.0 .
#
# The build stage runs the same command as scripts/test.sh, which CI runs (`cargo build
# --release --locked`); tests/it/deploy_files.rs keeps the two in step.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D -m 0755 target/release/launchguard /out/launchguard \
    && install -d -m 0700 /out/state

# distroless/cc: glibc, CA certificates and tzdata, no shell and no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/launchguard /usr/local/bin/launchguard
COPY rules/ /usr/share/launchguard/rules/
COPY dashboards/ /usr/share/launchguard/dashboards/
COPY deploy/config/launchguard.yaml /etc/launchguard/launchguard.yaml
# The guard's state file (kill switches, overrides) is written here: mount a volume on it.
COPY --from=build --chown=65532:65532 /out/state /var/lib/launchguard
WORKDIR /var/lib/launchguard
USER 65532:65532
EXPOSE 10071
ENTRYPOINT ["/usr/local/bin/launchguard"]
CMD ["--log-format", "json", "serve", "--config", "/etc/launchguard/launchguard.yaml", "--listen", "0.0.0.0:10071"]
