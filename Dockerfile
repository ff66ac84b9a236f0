# The processor in a container: a Debian 12 build, then a slim runtime image
# holding the installed processor, python3 and a non-root user.
#
#   docker build -t edgefn .
#   docker run --rm -p 8080:8080 -p 127.0.0.1:8082:8082 \
#     -e EDGEFN_MANAGEMENT_TOKEN="$(openssl rand -hex 32)" \
#     -v "$PWD/examples/hello-python:/function:ro" edgefn
#
# The management server listens on 0.0.0.0:8082 so that other containers,
# Docker's port mapping and Kubernetes probes reach it; off loopback the
# processor refuses to start without a bearer token for /status and /metrics
# (EDGEFN_MANAGEMENT_TOKEN, or --management-token-file). /live and /ready
# stay open. docs/deploying.md has the rest; scripts/container-rootfs.sh
# builds the runtime stage's root with debootstrap and runs it, since no
# container engine runs where this is developed.

FROM debian:bookworm AS build
WORKDIR /src
# The packages first: this layer is reused while only the sources change.
COPY scripts/install.sh scripts/install.sh
RUN scripts/install.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# The processor alone, and the install tree minus what running needs not:
# the C header (for building native handlers).
RUN EDGEFN_JOBS="$(nproc)" EDGEFN_TARGETS=processor scripts/build.sh -DEDGEFN_BUILD_TESTS=OFF \
 && cmake --install build --prefix /staging/usr/local --strip \
 && rm -rf /staging/usr/local/include

FROM debian:bookworm-slim
COPY config/container/runtime-setup.sh /tmp/runtime-setup.sh
RUN /tmp/runtime-setup.sh && rm /tmp/runtime-setup.sh
COPY --from=build /staging/ /
VOLUME /function
WORKDIR /function
USER 10001:10001
# 8080: the function's http trigger (its url must be ":8080", all
# interfaces, not 127.0.0.1); 8082: the management server.
EXPOSE 8080 8082
# The processor drains on SIGTERM (--drain-timeout, 30s): give `docker stop`
# more than that (docker stop -t 45, compose stop_grace_period).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/processor", "health", "--management-address", "127.0.0.1:8082"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/processor"]
CMD ["--config", "/function/function.yaml", "--management-address", "0.0.0.0:8082", "--log-format", "json"]
