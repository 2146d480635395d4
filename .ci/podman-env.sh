# shellcheck shell=bash
# Sourced by .ci/run (and by hand, to run test/containers/ the way CI does): podman configured
# for a CI machine without a Docker engine or systemd, all of it under one folder of its own
# ($PODMAN_ROOT: storage, network definitions, the Docker API socket), nothing system-wide.
#   source .ci/podman-env.sh [ROOT]
# Why each setting: crun fails on this kernel's hybrid cgroups ("cgroups in hybrid mode not
# supported"), hence runc with cgroupfs (no systemd); the default ulimits fail with "setrlimit
# RLIMIT_NOFILE: Operation not permitted"; the journal logger needs systemd, hence the file.

export PODMAN_ROOT="${1:-${PODMAN_ROOT:-/var/tmp/ml-microservice-podman}}"
mkdir -p "$PODMAN_ROOT/cni" "$PODMAN_ROOT/storage" "$PODMAN_ROOT/run" "$PODMAN_ROOT/tmp"

cat >"$PODMAN_ROOT/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$PODMAN_ROOT/events.log"
tmp_dir = "$PODMAN_ROOT/tmp"

[network]
network_backend = "cni"
network_config_dir = "$PODMAN_ROOT/cni"
CONF

cat >"$PODMAN_ROOT/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$PODMAN_ROOT/storage"
runroot = "$PODMAN_ROOT/run"
CONF

export CONTAINERS_CONF="$PODMAN_ROOT/containers.conf"
export CONTAINERS_STORAGE_CONF="$PODMAN_ROOT/storage.conf"
# The Docker-compatible API that docker-compose talks to (test/containers/ starts the service).
export PODMAN_API_SOCKET="$PODMAN_ROOT/podman.sock"
