#!/usr/bin/env bash
# Makes sure a Lua 5.4 interpreter is installed and prints its path on stdout. The integration
# tier runs deploy/argocd-health.lua with it (Argo CD embeds gopher-lua, which speaks Lua 5.1;
# the script keeps to what both accept). Debian's lua5.4 package when missing.
set -euo pipefail

if path=$(command -v lua5.4); then
  echo "$path"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  echo "[ensure-lua] lua5.4 is not installed and this user can neither apt-get nor sudo" >&2
  exit 1
fi

# Two test runs may get here at once; dpkg's own lock would fail the second, so wait on ours.
exec 9>"${TMPDIR:-/tmp}/fledge-ensure-lua.lock"
flock 9
if ! command -v lua5.4 >/dev/null 2>&1; then
  echo "[ensure-lua] installing Debian's lua5.4 package" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends lua5.4 >&2
fi
command -v lua5.4
