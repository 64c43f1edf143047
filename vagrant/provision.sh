#!/usr/bin/env bash
# Provisions the workshop VM (run by Vagrant as root; safe to run again: every step checks before it acts).
#
#   provision.sh          everything: swap off, Node 24 (verified), the npm packages, the Alpine rootfs, a check
#   provision.sh mounts   only what each boot needs (run by Vagrant at every `vagrant up`): swap off and
#                         node_modules on the VM's own disk
#   provision.sh bake     what the workshop box bakes in (vagrant/box/build.sh runs it in the box's root at build
#                         time): Node, the npm packages (into /opt/minicontainer/node_modules), the Alpine rootfs
#
# On the workshop box everything is baked in, and the repository is not synced into the VM at `vagrant up` (no
# shared-folder driver: the laptop's `npm run` commands carry it over ssh, lib/vm/remote.ts): with no repository at
# $REPO yet, provisioning checks what the box brought and leaves the rest to that first command.
#
# Files come from the repository's cache/ folder when present (offline classes, CI; fill it with
# vagrant/prepare-offline-cache.sh), else from the network:
#   cache/node-linux-<x64|arm64>-<NODE_VERSION>.tgz   Node (the npm registry's node-linux-* package)
#   cache/npm-<NPM_VERSION>.tgz                        npm
#   cache/alpine-minirootfs-*-<x86_64|aarch64>.tar.gz  the rootfs, given to `npm run rootfs -- --from`
#   cache/npm/                                         an npm cache holding every package of package-lock.json
# Env: MINICONTAINER_REPO (the synced repository, default /vagrant), MINICONTAINER_CACHE (default $REPO/cache),
#      MINICONTAINER_HOME (the rootfs home, default /var/lib/minicontainer).
set -euo pipefail

# Node 24 LTS, pinned; the sha512 are the npm registry's `dist.integrity` of these exact tarballs.
NODE_VERSION=24.21.0
NODE_SHA512_x64='3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q=='
NODE_SHA512_arm64='FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g=='
NPM_VERSION=11.19.1
NPM_SHA512='ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g=='
REGISTRY=${npm_config_registry:-https://registry.npmjs.org}
REGISTRY=${REGISTRY%/}

REPO=${MINICONTAINER_REPO:-/vagrant}
CACHE=${MINICONTAINER_CACHE:-$REPO/cache}
VM_DISK=/opt/minicontainer # on the VM's own disk, never on the shared folder
NODE_DIR=$VM_DISK/node-v$NODE_VERSION

say() { printf '==> minicontainer: %s\n' "$*"; }
die() { printf '==> minicontainer: ERROR: %s\n' "$*" >&2; exit 1; }

node_arch() {
  case "$(uname -m)" in
    x86_64) echo x64 ;;
    aarch64 | arm64) echo arm64 ;;
    *) die "unsupported CPU $(uname -m): the workshop VM needs x86_64 or arm64" ;;
  esac
}

swap_off() {
  if [ "$(wc -l </proc/swaps)" -gt 1 ]; then
    say "turning swap off (memory limits must OOM-kill, not swap)"
    swapoff -a
  fi
  # Keep it off after a reboot: no swap lines in fstab, no swap units.
  if grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab; then
    sed -Ei 's/^([^#].*[[:space:]]swap[[:space:]].*)$/# disabled by minicontainer: \1/' /etc/fstab
  fi
  if command -v systemctl >/dev/null && [ "$(systemctl is-enabled swap.target 2>/dev/null || true)" != masked ]; then
    systemctl mask swap.target >/dev/null 2>&1 || true
  fi
}

# sudo looks the hostname up; without DNS (offline, CI) that waits for a timeout on every call.
hostname_resolves() {
  local name
  name=$(hostname)
  if ! grep -Eq "^[^#]*[[:space:]]$name([[:space:]]|\$)" /etc/hosts; then
    printf '127.0.1.1 %s\n' "$name" >>/etc/hosts
  fi
}

# node_modules lives on the VM's disk, bind-mounted over the shared folder's node_modules: shared folders
# break symlinks, permissions and native modules, and the host's node_modules is for the host's platform.
node_modules_on_vm_disk() {
  if [ ! -f "$REPO/package.json" ]; then
    [ "${MINICONTAINER_SYNCED_FOLDER:-1}" = 0 ] ||
      die "the repository is not at $REPO (is the synced folder mounted? try: vagrant reload)"
    # No synced folder: the laptop's first `npm run` command carries the repository here, as the ssh user.
    install -d -m 755 "$REPO"
    if id vagrant >/dev/null 2>&1; then chown vagrant: "$REPO"; fi
  fi
  mkdir -p "$VM_DISK/node_modules" "$REPO/node_modules"
  if ! mountpoint -q "$REPO/node_modules"; then
    mount --bind "$VM_DISK/node_modules" "$REPO/node_modules"
  fi
}

# The repository is here (synced folder, or carried over already).
have_repo() { [ -f "$REPO/package.json" ]; }

# fetch NAME FILE URL SHA512_BASE64 DEST: DEST = cache/FILE if present, else downloaded; verified either way.
fetch_verified() {
  local name=$1 file=$2 url=$3 integrity=$4 dest=$5 expected actual
  if [ -f "$CACHE/$file" ]; then
    say "$name: from the local cache ($CACHE/$file)"
    cp "$CACHE/$file" "$dest"
  else
    say "$name: downloading $url"
    curl -fsSL --retry 3 -o "$dest" "$url" || die "could not download $url (offline? put $file into the repository's cache/ folder)"
  fi
  expected=$(printf '%s' "$integrity" | base64 -d | od -An -v -tx1 | tr -d ' \n')
  actual=$(sha512sum "$dest" | cut -d' ' -f1)
  [ "$expected" = "$actual" ] || die "$name: checksum mismatch for $file (expected sha512 $expected, got $actual): a corrupt or tampered download; delete it and retry"
}

install_node() {
  local arch integrity tmp
  if [ "$(node --version 2>/dev/null || true)" = "v$NODE_VERSION" ] && [ "$(npm --version 2>/dev/null || true)" = "$NPM_VERSION" ]; then
    say "Node v$NODE_VERSION and npm $NPM_VERSION: already installed"
    return
  fi
  arch=$(node_arch)
  case "$arch" in
    x64) integrity=$NODE_SHA512_x64 ;;
    arm64) integrity=$NODE_SHA512_arm64 ;;
  esac
  tmp=$(mktemp -d)
  fetch_verified "Node v$NODE_VERSION" "node-linux-$arch-$NODE_VERSION.tgz" \
    "$REGISTRY/node-linux-$arch/-/node-linux-$arch-$NODE_VERSION.tgz" "$integrity" "$tmp/node.tgz"
  fetch_verified "npm $NPM_VERSION" "npm-$NPM_VERSION.tgz" "$REGISTRY/npm/-/npm-$NPM_VERSION.tgz" "$NPM_SHA512" "$tmp/npm.tgz"
  mkdir -p "$tmp/node" "$tmp/npm" "$NODE_DIR/bin" "$NODE_DIR/lib/node_modules"
  tar -xzf "$tmp/node.tgz" -C "$tmp/node"
  tar -xzf "$tmp/npm.tgz" -C "$tmp/npm"
  install -m 755 "$tmp/node/package/bin/node" "$NODE_DIR/bin/node"
  rm -rf "$NODE_DIR/lib/node_modules/npm"
  mv "$tmp/npm/package" "$NODE_DIR/lib/node_modules/npm"
  chmod 755 "$NODE_DIR/lib/node_modules/npm/bin/npm-cli.js" "$NODE_DIR/lib/node_modules/npm/bin/npx-cli.js"
  rm -rf "$tmp"
  # /usr/local/bin is on sudo's secure_path: `sudo npm run check ...` finds this Node, not a distro one.
  ln -sfn "$NODE_DIR/bin/node" /usr/local/bin/node
  ln -sfn "$NODE_DIR/lib/node_modules/npm/bin/npm-cli.js" /usr/local/bin/npm
  ln -sfn "$NODE_DIR/lib/node_modules/npm/bin/npx-cli.js" /usr/local/bin/npx
  hash -r
  say "installed Node $(node --version) and npm $(npm --version)"
}

# The sha256 of the package-lock.json that node_modules was installed from: a carried-over lockfile has the laptop's
# modification time, so "newer than node_modules" does not mean "changed" (lib/vm/remote.ts compares this).
LOCK_SUM_FILE=.minicontainer-package-lock.sha256

install_packages() {
  local stamp=$REPO/node_modules/.package-lock.json
  if ! have_repo; then
    if [ -f "$VM_DISK/node_modules/$LOCK_SUM_FILE" ]; then say "npm packages: baked into the box"
    else say "npm packages: installed at the first command (the repository is not here yet)"; fi
    return
  fi
  if [ -f "$stamp" ] && [ ! "$REPO/package-lock.json" -nt "$stamp" ]; then
    say "npm packages: up to date"
    return
  fi
  local args=(--no-audit --no-fund --loglevel=error)
  if [ -d "$CACHE/npm" ]; then
    say "npm packages: installing offline from $CACHE/npm"
    # A copy on the VM's disk: npm writes into its cache even when offline.
    rm -rf "$VM_DISK/npm-cache"
    cp -R "$CACHE/npm" "$VM_DISK/npm-cache"
    args+=(--offline --cache "$VM_DISK/npm-cache")
  else
    say "npm packages: installing from the registry"
  fi
  # `npm ci` refuses a lockfile that lacks an optional package the registry does not have (e.g. a mirror);
  # `npm install --no-save` installs the same locked versions and leaves the lockfile alone.
  if ! (cd "$REPO" && npm ci "${args[@]}" >"$VM_DISK/npm-ci.log" 2>&1); then
    say "npm ci failed: $(grep -m1 'Missing' "$VM_DISK/npm-ci.log" || grep -m1 'npm error' "$VM_DISK/npm-ci.log" || tail -n1 "$VM_DISK/npm-ci.log")"
    say "installing the locked versions with npm install --no-save instead"
    (cd "$REPO" && npm install --no-save "${args[@]}")
  fi
  rm -rf "$VM_DISK/npm-cache"
  sha256sum "$REPO/package-lock.json" | cut -d' ' -f1 >"$REPO/node_modules/$LOCK_SUM_FILE"
}

# The project's installer verifies the tarball against its pinned sums and does nothing when it is installed.
install_rootfs() {
  local tarball
  if ! have_repo; then
    if [ -f /var/lib/minicontainer/rootfs/current/.minicontainer-rootfs.json ]; then say "Alpine rootfs: baked into the box"
    else say "Alpine rootfs: not in this box; after your first npm command on the laptop (it carries the repository over): vagrant provision"; fi
    return
  fi
  tarball=$(find "$CACHE" -maxdepth 1 -name "alpine-minirootfs-*-$(uname -m).tar.gz" 2>/dev/null | sort -V | tail -n1 || true)
  if [ -n "$tarball" ]; then
    say "Alpine rootfs: from $tarball"
    (cd "$REPO" && npm run --silent rootfs -- --from "$tarball")
  else
    say "Alpine rootfs: the installer's default (its cache folders, else a download)"
    (cd "$REPO" && npm run --silent rootfs)
  fi
}

# A 16 MiB memory cgroup without swap; `tail /dev/zero` grows until the kernel's OOM killer ends it.
oom_test() {
  local cg=/sys/fs/cgroup/minicontainer-provision-oom status oom
  rmdir "$cg" 2>/dev/null || true
  grep -qw memory /sys/fs/cgroup/cgroup.subtree_control || echo +memory >/sys/fs/cgroup/cgroup.subtree_control
  mkdir "$cg"
  echo 16M >"$cg/memory.max"
  if [ -f "$cg/memory.swap.max" ]; then echo 0 >"$cg/memory.swap.max"; fi
  set +e
  # (in a subshell that waits, so that bash's "Killed" notice goes to /dev/null)
  (timeout -s KILL 120 sh -c "echo \$\$ >'$cg/cgroup.procs' && exec tail /dev/zero"; exit $?) 2>/dev/null
  status=$?
  set -e
  oom=$(awk '$1 == "oom_kill" { print $2 }' "$cg/memory.events")
  rmdir "$cg"
  [ "$status" = 137 ] && [ "${oom:-0}" -ge 1 ]
}

verify() {
  local failed=0
  check() { # check DESCRIPTION COMMAND...
    local what=$1
    shift
    if "$@"; then say "ok   $what"; else say "FAIL $what"; failed=1; fi
  }
  is_node() { [ "$(node --version 2>/dev/null || true)" = "v$NODE_VERSION" ]; }
  cgroup2_memory() { [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && grep -qw memory /sys/fs/cgroup/cgroup.controllers; }
  no_swap() { [ "$(wc -l </proc/swaps)" -le 1 ]; }
  check "Node v$NODE_VERSION" is_node
  check "cgroup v2 with the memory controller" cgroup2_memory
  check "no swap" no_swap
  check "a memory limit is enforced (OOM kill in a 16 MiB cgroup)" oom_test
  [ "$failed" = 0 ] || die "the VM is not ready (see FAIL above)"
  say "the workshop VM is ready: vagrant ssh, cd $REPO, sudo npm run check step-01 (or from the host: npm run check step-01)"
}

[ "$(id -u)" = 0 ] || die "run as root (Vagrant does)"
export PATH=/usr/local/bin:$PATH
case "${1:-all}" in
  mounts)
    hostname_resolves
    swap_off
    node_modules_on_vm_disk
    ;;
  bake)
    install_node
    node_modules_on_vm_disk
    install_packages
    [ "${MINICONTAINER_BAKE_ROOTFS:-1}" = 0 ] || install_rootfs
    ;;
  all)
    hostname_resolves
    swap_off
    node_modules_on_vm_disk
    install_node
    install_packages
    install_rootfs
    verify
    ;;
  *) die "usage: provision.sh [mounts|bake]" ;;
esac
