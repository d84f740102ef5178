#!/usr/bin/env bash
# Makes sure a Prometheus server binary is installed and prints its path on stdout.
# Order: `prometheus` on PATH, /usr/bin/prometheus, else Debian's `prometheus` package.
# Progress goes to stderr; CI starts from a clean machine, so this runs unattended.
set -euo pipefail

say() { echo "[ensure-prometheus] $*" >&2; }

found() {
  if command -v prometheus >/dev/null 2>&1; then
    command -v prometheus
  elif [ -x /usr/bin/prometheus ]; then
    echo /usr/bin/prometheus
  else
    return 1
  fi
}

if path=$(found); then
  echo "$path"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  say "prometheus is not installed and this user can neither apt-get nor sudo"
  exit 1
fi

# Two test runs may get here at once; dpkg's own lock would fail the second, so wait on ours.
lock=${TMPDIR:-/tmp}/fledge-ensure-prometheus.lock
exec 9>"$lock"
flock 9
if path=$(found); then
  echo "$path"
  exit 0
fi

started=$(date +%s)
say "installing Debian's prometheus package (apt-get update && apt-get install)"
export DEBIAN_FRONTEND=noninteractive
# The package's maintainer scripts would start a system service; there is none to run here, and
# policy-rc.d's 101 ("action forbidden") tells invoke-rc.d to skip it. Only set for this install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  made_policy=1
fi
cleanup() { if [ "$made_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi; }
trap cleanup EXIT
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >&2
path=$(found) || { say "apt-get finished but no prometheus binary was found"; exit 1; }
say "installed $("$path" --version 2>&1 | head -1) in $(($(date +%s) - started))s"
echo "$path"
