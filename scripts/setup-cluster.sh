#!/usr/bin/env bash
# Install what the cluster routes and their tests need, idempotently (only what is missing):
#   Debian: slurmctld slurmd slurm-client munge   (a one-node Slurm cluster, scripts/slurm-local.sh)
#   .venv-mongo: SecantusDB, a MongoDB wire-protocol server (scripts/mongo-local.sh)
#   .venv: jobflow-remote (the second cluster route); FireWorks comes with the package itself.
# Called by scripts/setup.sh; safe to run again. Without root (and no sudo) the Debian step is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1; fi
}

need=()
command -v slurmctld >/dev/null 2>&1 || need+=(slurmctld)
command -v slurmd >/dev/null 2>&1 || need+=(slurmd)
command -v sbatch >/dev/null 2>&1 || need+=(slurm-client)
command -v munged >/dev/null 2>&1 || need+=(munge)
if [ "${#need[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "setup-cluster: installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq || echo "setup-cluster: apt-get update failed (no root?); Slurm tests will skip"
    as_root apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
      || echo "setup-cluster: could not install ${need[*]}; Slurm tests will skip"
  else
    echo "setup-cluster: no apt-get; install Slurm and munge yourself or the Slurm tests skip"
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv-mongo/bin/secantusd-py ]; then
  echo "setup-cluster: creating .venv-mongo with SecantusDB (MongoDB wire server for tests)"
  "$PY" -m venv .venv-mongo
  .venv-mongo/bin/pip install -q --disable-pip-version-check --pre "SecantusDB"
fi

if [ -x .venv/bin/pip ] && ! .venv/bin/python -c "import jobflow_remote" 2>/dev/null; then
  echo "setup-cluster: installing jobflow-remote into .venv"
  .venv/bin/pip install -q --disable-pip-version-check "jobflow-remote"
fi
