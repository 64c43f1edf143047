#!/usr/bin/env bash
# Fills the repository's cache/ folder so that `vagrant up` makes the workshop VM without internet
# (offline classes: run it once on a connected machine, copy the repository with cache/ to a USB stick; CI).
#
# Usage: vagrant/prepare-offline-cache.sh [--arch x64|arm64|all] [--alpine FILE]... [--boxes DIR]
#   --arch     the VMs' CPU: x64 (Intel/AMD laptops, default), arm64 (Apple Silicon), all
#   --alpine   an Alpine minirootfs tarball to copy in (alpine-minirootfs-<version>-<x86_64|aarch64>.tar.gz);
#              without it a named box's VM downloads the rootfs at provisioning time
#   --boxes    a folder with the workshop box files (`npm run vm:box` writes them into dist/box/): the newest
#              version's .box files are copied in, and the Vagrantfile takes the box from cache/ with no network
# Puts: minicontainer-workshop-<version>-<provider>-<arch>.box (with --boxes),
#       node-linux-<arch>-<version>.tgz and npm-<version>.tgz (pinned in provision.sh, verified there),
#       the Alpine tarballs, npm/ (an npm cache with every package of package-lock.json for linux-<arch>).
set -euo pipefail

root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
cache=$root/cache
say() { printf 'prepare-offline-cache: %s\n' "$*" >&2; }
pinned() { sed -n "s/^$1=//p" "$root/vagrant/provision.sh"; }

archs=(x64)
alpine=()
boxes=
while [ $# -gt 0 ]; do
  case "$1" in
    --arch)
      case "${2:-}" in
        x64 | arm64) archs=("$2") ;;
        all) archs=(x64 arm64) ;;
        *) say "--arch wants x64, arm64 or all"; exit 2 ;;
      esac
      shift 2 ;;
    --alpine) alpine+=("${2:?--alpine wants a file}"); shift 2 ;;
    --boxes) boxes=${2:?--boxes wants the folder with the .box files}; shift 2 ;;
    *) say "unknown argument $1 (usage: prepare-offline-cache.sh [--arch x64|arm64|all] [--alpine FILE]... [--boxes DIR])"; exit 2 ;;
  esac
done

node_version=$(pinned NODE_VERSION)
npm_version=$(pinned NPM_VERSION)
mkdir -p "$cache"

pack() { # pack PACKAGE VERSION: the registry's tarball of PACKAGE@VERSION into cache/
  if [ -f "$cache/$1-$2.tgz" ]; then say "$1-$2.tgz: present"; return; fi
  say "$1-$2.tgz: fetching"
  (cd "$cache" && npm pack --silent "$1@$2" >/dev/null)
}
for arch in "${archs[@]}"; do pack "node-linux-$arch" "$node_version"; done
pack npm "$npm_version"

if [ -n "$boxes" ]; then
  newest=$(find "$boxes" -maxdepth 1 -name 'minicontainer-workshop-*.box' 2>/dev/null | sed 's|.*/minicontainer-workshop-\([0-9.]*\)-.*|\1|' | sort -V | tail -n1 || true)
  [ -n "$newest" ] || { say "--boxes $boxes: no minicontainer-workshop-*.box there (build them with: sudo npm run vm:box)"; exit 2; }
  find "$cache" -maxdepth 1 -name 'minicontainer-workshop-*.box' ! -name "minicontainer-workshop-$newest-*" -delete
  for file in "$boxes"/minicontainer-workshop-"$newest"-*.box; do
    if [ -f "$cache/$(basename "$file")" ] && cmp -s "$file" "$cache/$(basename "$file")"; then say "$(basename "$file"): present"; continue; fi
    cp "$file" "$cache/"
    say "$(basename "$file"): copied"
  done
fi

for file in "${alpine[@]}"; do
  cp "$file" "$cache/"
  say "$(basename "$file"): copied"
done

lock_hash=$(sha256sum "$root/package-lock.json" | cut -d' ' -f1)
for arch in "${archs[@]}"; do
  stamp=$cache/npm/.minicontainer-linux-$arch
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then say "npm cache for linux-$arch: up to date"; continue; fi
  say "npm cache for linux-$arch: filling from package-lock.json"
  tmp=$(mktemp -d)
  cp "$root/package.json" "$root/package-lock.json" "$tmp/"
  # (install --no-save, not ci: the same locked versions, and it tolerates a lockfile lacking an optional
  # package that the registry does not serve)
  (cd "$tmp" && npm install --no-save --silent --ignore-scripts --no-audit --no-fund --os linux --cpu "$arch" --cache "$cache/npm")
  rm -rf "$tmp"
  echo "$lock_hash" >"$stamp"
done
say "done: $(du -sh "$cache" | cut -f1) in $cache"
