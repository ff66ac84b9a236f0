#!/bin/sh
# Turns a Debian 12 root (debian:bookworm-slim) into the processor's runtime
# image, minus the processor itself: the packages functions need at run time
# and the unprivileged user everything runs as. The Dockerfile's runtime
# stage runs it, and scripts/container-rootfs.sh runs it in a chroot of a
# debootstrapped root, so the test runs what the image holds.
#
#   python3          the Python runtime's workers (shell handlers use bash,
#                    which every Debian root has)
#   ca-certificates  the system trust store, for TLS to MQTT and Kafka brokers
#   tini             PID 1: forwards SIGTERM to the processor and reaps the
#                    orphans a shell handler's children can leave behind,
#                    which the processor does not (it waits for its own
#                    children only)
set -eu

readonly packages="python3 ca-certificates tini"
readonly uid=10001

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086  # a word list on purpose
apt-get install -y -q --no-install-recommends $packages
apt-get clean
rm -rf /var/lib/apt/lists/*

# A fixed uid above the system range, so that volume ownership and
# Kubernetes' runAsUser can name it.
groupadd --gid "$uid" edgefn
useradd --uid "$uid" --gid edgefn --home-dir /nonexistent --no-create-home \
  --shell /usr/sbin/nologin edgefn
# /function (the function.yaml and its handler files) stays root's: the
# processor only reads it. What functions write goes to /var/lib/edgefn
# (mount a volume there to keep it) or /tmp.
mkdir -p /function /var/lib/edgefn
chown edgefn:edgefn /var/lib/edgefn
