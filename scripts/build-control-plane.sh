#!/usr/bin/env bash
# Builds the control-plane binaries the test harness runs (etcd, kube-apiserver,
# kube-controller-manager, and kubectl for the tests of what a person sees) from their Go
# modules and caches them, so no prebuilt binary has to be downloaded. Called by test/harness/binaries.ts; usable by hand too:
#
#   scripts/build-control-plane.sh kubernetes v1.37.2   -> $CACHE/kubernetes-v1.37.2/
#   scripts/build-control-plane.sh etcd v3.6.16         -> $CACHE/etcd-v3.6.16/
#
# CACHE defaults to ~/.cache/fledge. Concurrent callers are serialised by flock, the build
# goes to a temp dir that is renamed into place, so a reader never sees half a cache entry.
set -euo pipefail

name=${1:?usage: build-control-plane.sh kubernetes|etcd VERSION}
version=${2:?usage: build-control-plane.sh kubernetes|etcd VERSION}
cache=${FLEDGE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/fledge}
final="$cache/$name-$version"

case "$name" in
kubernetes) binaries=(kube-apiserver kube-controller-manager kubectl) ;;
etcd) binaries=(etcd) ;;
*)
  echo "unknown component: $name" >&2
  exit 2
  ;;
esac

complete() {
  local b
  for b in "${binaries[@]}"; do [[ -x "$final/$b" ]] || return 1; done
}

log() { echo "[build-control-plane] $name $version: $*" >&2; }

mkdir -p "$cache"
complete && exit 0

exec 9>"$cache/.$name-$version.lock"
if ! flock -n 9; then
  log "another process is building it; waiting"
  flock 9
fi
complete && exit 0

work=$(mktemp -d "$cache/.$name-$version.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/mod" "$work/out"
cd "$work/mod"

# Staging modules are replaced by ./staging paths in k8s.io/kubernetes's own go.mod, which a
# dependent module ignores; each maps to the published v0.MINOR.PATCH of the same release.
staging_version() { echo "v0.${version#v1.}"; }

case "$name" in
kubernetes)
  module=k8s.io/kubernetes
  packages=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl)
  log "fetching $module go.mod"
  gomod=$(go mod download -json "$module@$version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
  [[ -f "$gomod" ]] || {
    log "could not download $module@$version"
    exit 1
  }
  mapfile -t staged < <(sed -n 's#^[[:space:]]*\(k8s\.io/[^[:space:]]*\) => \./staging/.*#\1#p' "$gomod" | sort -u)
  replaces=()
  for m in "${staged[@]}"; do replaces+=("$m => $m $(staging_version)"); done
  log "${#staged[@]} staging modules mapped to $(staging_version)"
  major=${version#v}
  major=${major%%.*}
  minor=${version#v*.}
  minor=${minor%%.*}
  ldflags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  ;;
etcd)
  module=go.etcd.io/etcd/server/v3
  packages=(go.etcd.io/etcd/server/v3)
  replaces=()
  for m in go.etcd.io/etcd/api/v3 go.etcd.io/etcd/client/pkg/v3 go.etcd.io/etcd/client/v3 go.etcd.io/etcd/pkg/v3; do
    replaces+=("$m => $m $version")
  done
  ldflags="-X go.etcd.io/etcd/api/v3/version.GitSHA=$version"
  ;;
esac

{
  echo "module fledge.dev/control-plane-build"
  echo
  echo "go 1.26"
  echo
  echo "require $module $version"
  echo
  for r in "${replaces[@]}"; do echo "replace $r"; done
} >go.mod
{
  echo "//go:build tools"
  echo
  echo "package tools"
  echo
  echo "import ("
  for p in "${packages[@]}"; do echo "	_ \"$p\""; done
  echo ")"
} >tools.go

log "resolving dependencies"
go mod tidy -e 2>&1 | sed "s/^/[go mod tidy] /" >&2
for p in "${packages[@]}"; do
  b=${p##*/}
  [[ "$name" == etcd ]] && b=etcd
  log "compiling $b (minutes on a cold Go build cache)"
  start=$SECONDS
  go build -trimpath -ldflags "$ldflags" -o "$work/out/$b" "$p"
  log "compiled $b in $((SECONDS - start))s"
done

rm -rf "$final"
mv "$work/out" "$final"
log "cached in $final"
