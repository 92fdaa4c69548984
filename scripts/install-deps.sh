#!/usr/bin/env bash
# Installs the Debian packages launchguard's tests and local run need (idempotent). The tests
# start their own servers on loopback, so the packages' own services are kept from starting.
#   scripts/install-deps.sh            everything the test suite needs
#   scripts/install-deps.sh --run      only what `scripts/run-local.sh` needs
set -euo pipefail

packages=(postgresql-15 postgresql-15-cron)
if [[ "${1:-}" != "--run" ]]; then
  packages+=(prometheus prometheus-alertmanager prometheus-pushgateway redis-server wrk)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

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
exit 0
