#!/usr/bin/env bash
# Usage: ensure-debian-package.sh COMMAND PACKAGE
# Makes sure COMMAND is installed and prints its path on stdout: the one on PATH (or in
# /usr/bin), else Debian's PACKAGE, installed unattended. Progress goes to stderr; CI starts from
# a clean machine, so the tests' tools (prometheus, lua5.4) come in through here.
set -euo pipefail

command=$1
package=$2
say() { echo "[ensure $package] $*" >&2; }

found() {
  if command -v "$command" >/dev/null 2>&1; then
    command -v "$command"
  elif [ -x "/usr/bin/$command" ]; then
    echo "/usr/bin/$command"
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
  say "$command is not installed and this user can neither apt-get nor sudo"
  exit 1
fi

# Two test runs may get here at once; dpkg's own lock would fail the second, so wait on ours.
exec 9>"${TMPDIR:-/tmp}/fledge-ensure-debian-package.lock"
flock 9
if path=$(found); then
  echo "$path"
  exit 0
fi

started=$(date +%s)
say "installing Debian's $package package (apt-get update && apt-get install)"
export DEBIAN_FRONTEND=noninteractive
# A package's maintainer scripts may start a system service (prometheus does); there is none to
# run here, and policy-rc.d's 101 ("action forbidden") tells invoke-rc.d to skip it.
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
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "$package" >&2
path=$(found) || { say "apt-get finished but no $command was found"; exit 1; }
say "installed in $(($(date +%s) - started))s"
echo "$path"
