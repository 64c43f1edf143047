#!/usr/bin/env bash
# The workshop VM, end to end and for real: builds a small Debian 12 box for vagrant-libvirt (debootstrap, no
# download), runs `vagrant up` with the project's own Vagrantfile and provisioning fed from the offline cache,
# then runs the checker FROM THE HOST through the host -> VM path (lib/vm/remote.ts), and tears everything down.
#
# Usage (root, Debian 12): test/vm/e2e.sh
# Env:
#   E2E_CHECK         the host command that must pass (default: npm run check step-04 -- --solution)
#   E2E_ALPINE        the Alpine tarball fed to the VM (default: ../shared/fixtures/alpine/alpine-minirootfs-*-x86_64.tar.gz)
#   E2E_KEEP_STATE=1  keep the state folder (logs, console) after the run
#   E2E_ENGINE_TESTS=0 skip the engine's test suite inside the VM (cgroup v2; about 4 minutes under emulation)
#   MINICONTAINER_TIMEOUT_SCALE  the checker's time limits, scaled (default 8: software emulation is slow)
#
# Everything networked (libvirtd, dnsmasq, the VM, vagrant, ssh) lives in a network namespace made here: the host's
# links, routes and firewall are never touched. The EXIT trap removes the VM, its volumes, the pool, the daemons
# (by PID), the namespace, the qemu.conf change and the box, also when a stage fails.
set -euo pipefail

repo=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
box_cache=/var/cache/minicontainer-ci
box_name=minicontainer-ci/debian12
prefix=minicontainer-e2e-
ns=minicontainer-e2e-$$
state=$(mktemp -d /var/tmp/minicontainer-e2e.XXXXXX)
qemu_conf=/etc/libvirt/qemu.conf
check_cmd=${E2E_CHECK:-npm run check step-04 -- --solution}

export VAGRANT_HOME=$state/vagrant-home
export VAGRANT_DOTFILE_PATH=$state/dot-vagrant
export VAGRANT_DEFAULT_PROVIDER=libvirt
export VAGRANT_CHECKPOINT_DISABLE=1
export MINICONTAINER_BOX=$box_name
export MINICONTAINER_LIBVIRT_DRIVER=qemu
export MINICONTAINER_LIBVIRT_PREFIX=$prefix
export MINICONTAINER_SERIAL_LOG=$state/console.log
export VAGRANT_CWD=$repo

say() { printf '\n\033[1m== e2e: %s\033[0m\n' "$*" >&2; }
in_ns() { ip netns exec "$ns" "$@"; }
virsh_() { in_ns virsh -q -c qemu:///system "$@"; }

# --- stages, timed -----------------------------------------------------------------------------------------
stage_names=()
stage_secs=()
stage_results=()
stage() { # stage NAME FUNCTION: runs it, records its time and result; a failing stage ends the run
  local name=$1 start rc=0
  shift
  say "$name"
  start=$(date +%s)
  "$@" || rc=$?
  stage_names+=("$name")
  stage_secs+=("$(($(date +%s) - start))")
  stage_results+=("$([ "$rc" = 0 ] && echo ok || echo "FAILED ($rc)")")
  [ "$rc" = 0 ] || { say "stage '$name' failed with status $rc"; exit "$rc"; }
}
summary() {
  local i
  printf '\n%-34s %8s  %s\n' stage seconds result
  for i in "${!stage_names[@]}"; do
    printf '%-34s %8s  %s\n' "${stage_names[$i]}" "${stage_secs[$i]}" "${stage_results[$i]}"
  done
  printf '%-34s %8s\n' total "$(($(date +%s) - run_start))"
}

# --- teardown: everything this run made, in reverse, each step allowed to fail --------------------------------
ns_made=0
pool_made=0
qemu_conf_saved=0
run_libvirt_made=0
teardown() {
  local rc=$? start pid name vol
  trap - EXIT INT TERM
  start=$(date +%s)
  say "teardown"
  if [ "$ns_made" = 1 ] && [ -S /run/libvirt/libvirt-sock ]; then
    if [ -d "$VAGRANT_DOTFILE_PATH" ]; then in_ns vagrant destroy -f >&2 || true; fi
    for name in $(virsh_ list --all --name 2>/dev/null | grep "^$prefix" || true); do
      virsh_ destroy "$name" >/dev/null 2>&1 || true
      virsh_ undefine "$name" --remove-all-storage >/dev/null 2>&1 || true
    done
    # destroy leaves the uploaded box image in the pool
    for vol in $(virsh_ vol-list default 2>/dev/null | awk '{print $1}' | grep -E "^(minicontainer-ci-VAGRANTSLASH-|$prefix)" || true); do
      virsh_ vol-delete --pool default "$vol" >/dev/null 2>&1 || true
    done
    if virsh_ net-info vagrant-libvirt >/dev/null 2>&1; then
      virsh_ net-destroy vagrant-libvirt >/dev/null 2>&1 || true
      virsh_ net-undefine vagrant-libvirt >/dev/null 2>&1 || true
    fi
    if [ "$pool_made" = 1 ]; then
      virsh_ pool-destroy default >/dev/null 2>&1 || true
      virsh_ pool-undefine default >/dev/null 2>&1 || true
    fi
  fi
  if [ "$ns_made" = 1 ]; then
    # Every process in the namespace was started by this run (libvirtd, virtlogd, dnsmasq, qemu): end them by PID.
    for sig in TERM TERM TERM KILL; do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      [ -n "$pids" ] || break
      for pid in $pids; do kill -s "$sig" "$pid" 2>/dev/null || true; done
      sleep 2
    done
    ip netns del "$ns" 2>/dev/null || true
  fi
  if [ "$qemu_conf_saved" = 1 ]; then cp -p "$state/qemu.conf.orig" "$qemu_conf"; fi
  if [ "$run_libvirt_made" = 1 ]; then rm -rf /run/libvirt; fi
  rm -f /run/libvirtd.pid /run/virtlogd.pid
  if [ "${E2E_KEEP_STATE:-}" = 1 ]; then say "state kept in $state"; else rm -rf "$state"; fi
  stage_names+=(teardown)
  stage_secs+=("$(($(date +%s) - start))")
  stage_results+=(ok)
  summary >&2
  if [ "$rc" = 0 ]; then say "PASSED"; else say "FAILED (status $rc)"; fi
  exit "$rc"
}

# --- the stages ------------------------------------------------------------------------------------------------
packages=(vagrant vagrant-libvirt libvirt-daemon-system qemu-system-x86 qemu-utils dnsmasq-base iptables iproute2
  debootstrap e2fsprogs rsync openssh-client)
install_packages() {
  local missing=() p
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ "${#missing[@]}" = 0 ]; then echo "all installed" >&2; return; fi
  echo "installing: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

box_file=
build_box() {
  local hash
  hash=$(sha256sum "$repo/vagrant/ci/build-debian12-box.sh" | cut -c1-16)
  box_file=$box_cache/debian12-libvirt-$hash.box
  if [ -f "$box_file" ]; then echo "cached: $box_file" >&2; return; fi
  mkdir -p "$box_cache"
  find "$box_cache" -maxdepth 1 -name 'debian12-libvirt-*.box' -delete # older builds
  "$repo/vagrant/ci/build-debian12-box.sh" "$box_file"
}

offline_cache() {
  local alpine=${E2E_ALPINE:-}
  if [ -z "$alpine" ]; then
    alpine=$(find "$repo/../shared/fixtures/alpine" -maxdepth 1 -name 'alpine-minirootfs-*-x86_64.tar.gz' 2>/dev/null | sort -V | tail -n1)
  fi
  [ -n "$alpine" ] || { echo "no Alpine tarball (set E2E_ALPINE)" >&2; return 1; }
  "$repo/vagrant/prepare-offline-cache.sh" --arch x64 --alpine "$alpine"
}

start_libvirt() {
  local p
  for p in /run/libvirtd.pid /run/virtlogd.pid; do
    if [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; then
      echo "a libvirt daemon is already running (PID $(cat "$p") in $p): not ours to use or stop" >&2
      return 1
    fi
  done
  cp -p "$qemu_conf" "$state/qemu.conf.orig"
  qemu_conf_saved=1
  # QEMU must read the box's kernel under VAGRANT_HOME and the repository for 9p.
  printf '\n# minicontainer e2e (temporary)\nuser = "root"\ngroup = "root"\n' >>"$qemu_conf"
  [ -d /run/libvirt ] || run_libvirt_made=1
  mkdir -p /run/libvirt
  ip netns add "$ns"
  ns_made=1
  in_ns ip link set lo up
  in_ns virtlogd -d
  in_ns libvirtd -d
  for _ in $(seq 50); do [ -S /run/libvirt/libvirt-sock ] && break; sleep 0.2; done
  virsh_ version >&2
  for name in $(virsh_ list --all --name | grep "^$prefix" || true); do # a crashed earlier run
    virsh_ destroy "$name" >/dev/null 2>&1 || true
    virsh_ undefine "$name" --remove-all-storage >&2
  done
  if ! virsh_ pool-info default >/dev/null 2>&1; then
    virsh_ pool-define-as default dir --target /var/lib/libvirt/images >&2
    pool_made=1
  fi
  virsh_ pool-info default | grep -q running || virsh_ pool-start default >&2
}

vagrant_up() {
  in_ns vagrant box add --name "$box_name" "$box_file" >&2
  in_ns vagrant validate >&2
  in_ns vagrant up --provider=libvirt --no-tty >&2
}

run_doctor() {
  # The doctor from the host: Vagrant, provider, box, VM state, then its own run inside the VM.
  (cd "$repo" && in_ns env MINICONTAINER_FORCE_VM=1 npm run --silent doctor)
}

run_check() {
  # From the host, forced through the VM: hostCanRunContainers() says no, runInVm() runs it inside.
  # Under QEMU's software emulation one engine run takes 3-10 s instead of 0.3-1 s: the checker's time limits
  # are scaled (runInVm passes MINICONTAINER_TIMEOUT_SCALE into the VM).
  (cd "$repo" && in_ns env MINICONTAINER_FORCE_VM=1 MINICONTAINER_TIMEOUT_SCALE="${MINICONTAINER_TIMEOUT_SCALE:-8}" sh -c "$check_cmd")
}

run_engine_tests() {
  # The engine's own test suite inside the VM: the one place here where the kernel offers cgroup v2 (this CI host
  # has its memory controller on v1). The suite's rootfs comes from the offline cache, synced into the VM.
  (cd "$repo" && in_ns env MINICONTAINER_FORCE_VM=1 MINICONTAINER_ALPINE_FIXTURES=/vagrant/cache \
    MINICONTAINER_TIMEOUT_SCALE="${MINICONTAINER_TIMEOUT_SCALE:-8}" \
    sh bin/node test/vm/run-in-vm.ts test test/engine.test.ts)
}

[ "$(id -u)" = 0 ] || { echo "e2e.sh: run as root" >&2; exit 1; }
run_start=$(date +%s)
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
stage "apt packages" install_packages
stage "box (debootstrap, cached)" build_box
stage "offline cache (Node, npm, Alpine)" offline_cache
stage "namespace + libvirtd + pool" start_libvirt
stage "vagrant up + provisioning" vagrant_up
stage "doctor from the host via the VM" run_doctor
stage "check from the host via the VM" run_check
[ "${E2E_ENGINE_TESTS:-1}" = 0 ] || stage "engine tests in the VM (cgroup v2)" run_engine_tests
