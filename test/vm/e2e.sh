#!/usr/bin/env bash
# The workshop VM, end to end and for real, the way a learner gets it: builds the workshop box with its recipe
# (vagrant/box/build.sh, cached by the recipe's hash), boots its VirtualBox image under QEMU on VirtualBox-like
# hardware, then `vagrant up` with the project's Vagrantfile and its defaults, the box found through a catalog whose
# URLs are file:// (the catalog path a learner's `vagrant up` takes), with NO synced folder: every command from the
# host carries the repository into the VM itself (lib/vm/remote.ts). Then the doctor and the checker FROM THE HOST
# through the VM, a TODO done on the host turning a failing check green in the VM, the engine's tests inside the VM
# (cgroup v2), and everything torn down.
#
# Usage (root, Debian 12): test/vm/e2e.sh
# Env:
#   E2E_CHECK         the host command that must pass (default: the last step's solution, every check of every step)
#   E2E_ALPINE        the Alpine tarball baked into the box (default: cache/, else ../shared/fixtures/alpine/)
#   E2E_KEEP_STATE=1  keep the state folder (logs, console) after the run
#   E2E_ENGINE_TESTS=0 skip the engine's test suite inside the VM (cgroup v2; about 16 minutes under emulation for 9 steps)
#   E2E_VBOX_BOOT=0   skip booting the VirtualBox image under QEMU (about 2 minutes)
#   MINICONTAINER_TIMEOUT_SCALE  the checker's time limits, scaled (default 8: software emulation is slow)
#
# Everything networked (libvirtd, dnsmasq, the VMs, vagrant, ssh) lives in a network namespace made here: the host's
# links, routes and firewall are never touched, and are compared before and after. The EXIT trap removes the VM,
# its volumes, the pool, the daemons (by PID), the namespace, the qemu.conf change and the box, also when a stage
# fails.
set -euo pipefail

repo=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
ci_cache=/var/cache/minicontainer-ci
prefix=minicontainer-e2e-
ns=minicontainer-e2e-$$
state=$(mktemp -d /var/tmp/minicontainer-e2e.XXXXXX)
qemu_conf=/etc/libvirt/qemu.conf
last_step=$(basename "$(find "$repo/steps" -mindepth 1 -maxdepth 1 -type d -name '[0-9][0-9]-*' | sort | tail -n1)")
check_cmd=${E2E_CHECK:-npm run check $last_step -- --solution}

export VAGRANT_HOME=$state/vagrant-home
export VAGRANT_DOTFILE_PATH=$state/dot-vagrant
export VAGRANT_DEFAULT_PROVIDER=libvirt
export VAGRANT_CHECKPOINT_DISABLE=1
# The Vagrantfile's defaults (the workshop box, no synced folder), its catalog being the one this run writes.
unset MINICONTAINER_BOX MINICONTAINER_BOX_URL MINICONTAINER_SYNC_TYPE
export MINICONTAINER_BOX_CATALOG=$state/catalog.json
# Every carry-over says how long it took, also when nothing had changed (what it adds to a check round).
export MINICONTAINER_CARRY_REPORT=1
export MINICONTAINER_LIBVIRT_DRIVER=qemu
export MINICONTAINER_LIBVIRT_PREFIX=$prefix
export MINICONTAINER_SERIAL_LOG=$state/console.log
export VAGRANT_CWD=$repo

say() { printf '\n\033[1m== e2e: %s\033[0m\n' "$*" >&2; }
in_ns() { ip netns exec "$ns" "$@"; }
host_lock() { flock /tmp/minicontainer-host.lock "$@"; } # a network namespace is a mount: other root tests look
host_net() { # the host's links, routes, firewall, forwarding, namespaces (but ours): must be the same after the run
  ip -o link | sed 's/ qlen [0-9]*//'; ip route; ip -6 route; ip netns | grep -v "^$ns" || true
  iptables-save 2>/dev/null | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//'; cat /proc/sys/net/ipv4/ip_forward
}
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
  set +e # every step of the teardown is tried, whatever the one before did
  start=$(date +%s)
  say "teardown"
  if [ "$ns_made" = 1 ] && [ -S /run/libvirt/libvirt-sock ]; then
    if [ -d "$VAGRANT_DOTFILE_PATH" ]; then in_ns vagrant destroy -f >&2 || true; fi
    for name in $(virsh_ list --all --name 2>/dev/null | grep "^$prefix" || true); do
      virsh_ destroy "$name" >/dev/null 2>&1 || true
      virsh_ undefine "$name" --remove-all-storage >/dev/null 2>&1 || true
    done
    # destroy leaves the uploaded box image in the pool
    for vol in $(virsh_ vol-list default 2>/dev/null | awk '{print $1}' |
      grep -E "^(minicontainer-VAGRANTSLASH-workshop|$prefix)" || true); do
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
    host_lock ip netns del "$ns" 2>/dev/null || true
  fi
  # (a plain copy, not -p: the restored starter is a fresh edit on the host, newer than the VM's copy)
  if [ -d "$state/steps-backup" ]; then cp "$state/steps-backup/"* "$repo/steps/04-network/"; fi
  if [ "$qemu_conf_saved" = 1 ]; then cp -p "$state/qemu.conf.orig" "$qemu_conf"; fi
  if [ "$run_libvirt_made" = 1 ]; then rm -rf /run/libvirt; fi
  rm -f /run/libvirtd.pid /run/virtlogd.pid
  if [ -f "$state/host-net.before" ]; then
    host_net >"$state/host-net.after"
    if ! diff -u "$state/host-net.before" "$state/host-net.after" >&2; then
      say "the host's network changed during the run (diff above)"
      [ "$rc" != 0 ] || rc=1
    else
      echo "the host's links, routes, firewall and forwarding are as before" >&2
    fi
  fi
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
  debootstrap e2fsprogs rsync openssh-client git)
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

alpine=
box_dir=
build_box() {
  # The Alpine tarball baked in: given, or the project's cache/, or this CI machine's fixtures (never required by
  # the project itself: a learner's build takes it from cache/ or --alpine).
  alpine=${E2E_ALPINE:-}
  [ -n "$alpine" ] || alpine=$(find "$repo/cache" "$repo/../shared/fixtures/alpine" -maxdepth 1 -name 'alpine-minirootfs-*-x86_64.tar.gz' 2>/dev/null | sort -V | tail -n1 || true)
  [ -n "$alpine" ] || { echo "no Alpine tarball (set E2E_ALPINE)" >&2; return 1; }
  local hash
  hash=$("$repo/vagrant/box/build.sh" --alpine "$alpine" --print-hash)
  box_dir=$ci_cache/box-$hash
  mkdir -p "$ci_cache"
  # Other recipes' boxes (older commits, other branches on a shared machine) go when unused for two days; so does
  # the Debian 12 box earlier versions of this test built.
  find "$ci_cache" -maxdepth 1 \( -name 'box-*' ! -name "box-$hash" -o -name 'debian12-libvirt-*.box' \) -mtime +2 -exec rm -rf {} +
  [ ! -d "$box_dir" ] || touch "$box_dir" # in use
  # Built once per recipe (cached), then the catalog a learner's `vagrant up` would read, with file:// URLs.
  "$repo/vagrant/box/build.sh" --alpine "$alpine" --out "$box_dir" --deb-cache "$ci_cache/debs" \
    --catalog "file://$box_dir" --catalog-file "$MINICONTAINER_BOX_CATALOG"
  ls -l "$box_dir" >&2
  cat "$MINICONTAINER_BOX_CATALOG" >&2
}

start_libvirt() {
  local p name stale
  for p in /run/libvirtd.pid /run/virtlogd.pid; do
    if [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; then
      echo "a libvirt daemon is already running (PID $(cat "$p") in $p): not ours to use or stop" >&2
      return 1
    fi
  done
  # A crashed earlier run (its PID gone) may have left its namespace: nothing runs in it, so it goes.
  for stale in $(ip netns list | awk '{print $1}' | grep "^$prefix" || true); do
    kill -0 "${stale#"$prefix"}" 2>/dev/null && continue
    [ -z "$(ip netns pids "$stale" 2>/dev/null)" ] || continue
    echo "removing the namespace of a crashed earlier run: $stale" >&2
    host_lock ip netns del "$stale" || true
  done
  # A run killed before its teardown may have left its lines: they go first, so what is saved is the host's own.
  sed -i '/^# minicontainer e2e (temporary)$/,/^group = "root"$/d' "$qemu_conf"
  cp -p "$qemu_conf" "$state/qemu.conf.orig"
  qemu_conf_saved=1
  # QEMU must read the box's kernel under VAGRANT_HOME and the repository for 9p.
  printf '\n# minicontainer e2e (temporary)\nuser = "root"\ngroup = "root"\n' >>"$qemu_conf"
  [ -d /run/libvirt ] || run_libvirt_made=1
  mkdir -p /run/libvirt
  host_net >"$state/host-net.before"
  host_lock ip netns add "$ns"
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
  # libvirtd restores a pool a crashed run left active (its status under /run/libvirt) while it starts: wait for
  # that rather than race it.
  for _ in $(seq 20); do
    virsh_ pool-info default | grep -Eq '^State: +running' && return 0
    virsh_ pool-start default >&2 2>"$state/pool-start.err" && return 0
    sleep 0.5
  done
  cat "$state/pool-start.err" >&2
  return 1
}

boot_virtualbox_image() {
  in_ns env MINICONTAINER_IN_NETNS=1 "$repo/test/vm/boot-virtualbox-image.sh" "$box_dir"/minicontainer-workshop-*-virtualbox-amd64.box
}

vagrant_up() {
  # No `vagrant box add`: the Vagrantfile names the workshop box and its catalog; Vagrant resolves, downloads
  # (file://), verifies the sha256 and adds it, as on a learner's laptop.
  in_ns vagrant validate >&2
  in_ns vagrant up --provider=libvirt --no-tty >&2
  in_ns vagrant box list >&2
}

run_doctor() {
  # The doctor from the host: Vagrant, provider, box, VM state, then its own run inside the VM (the first command:
  # it carries the whole repository into the VM).
  (cd "$repo" && in_ns env MINICONTAINER_FORCE_VM=1 npm run --silent doctor)
}

run_check() {
  # From the host, forced through the VM: hostCanRunContainers() says no, runInVm() runs it inside.
  # Under QEMU's software emulation one engine run takes 3-10 s instead of 0.3-1 s: the checker's time limits
  # are scaled (runInVm passes MINICONTAINER_TIMEOUT_SCALE into the VM).
  (cd "$repo" && in_ns env MINICONTAINER_FORCE_VM=1 MINICONTAINER_TIMEOUT_SCALE="${MINICONTAINER_TIMEOUT_SCALE:-8}" sh -c "$check_cmd")
}

todo_on_the_host() {
  # The VM has no synced folder: a file edited on the host reaches it only because the host -> VM path carries it.
  # Step 04's starter fails 04.lo-up; the TODOs done on the host (the solution's network.ts) turn it green in the VM.
  local check=(env MINICONTAINER_FORCE_VM=1 MINICONTAINER_TIMEOUT_SCALE="${MINICONTAINER_TIMEOUT_SCALE:-8}"
    npm run --silent check step-04 -- --only 04.lo-up)
  mkdir -p "$state/steps-backup"
  cp -p "$repo"/steps/04-network/*.ts "$state/steps-backup/"
  local rc=0
  (cd "$repo" && in_ns "${check[@]}") >"$state/todo-before.log" 2>&1 || rc=$?
  # (its summary line renamed: CI adds up every `N passed, N failed` line, and this failure is the expected one)
  sed 's/^\([0-9]* passed, [0-9]* failed\)/the starter, failing as it should: \1/' "$state/todo-before.log" >&2
  [ "$rc" = 1 ] || { echo "the starter's 04.lo-up should fail with status 1 in the VM, got $rc" >&2; return 1; }
  cp "$repo/solutions/04-network/network.ts" "$repo/steps/04-network/network.ts"
  rc=0
  (cd "$repo" && in_ns "${check[@]}") >"$state/todo-after.log" 2>&1 || rc=$?
  cat "$state/todo-after.log" >&2
  [ "$rc" = 0 ] || { echo "after the TODOs were done on the host, 04.lo-up should pass in the VM, got status $rc" >&2; return 1; }
  grep -q 'carried 1 file(s), .*: steps/04-network/network.ts$' "$state/todo-after.log" ||
    { echo "expected exactly the one edited file, steps/04-network/network.ts, to be carried over" >&2; return 1; }
  # The starter back, as a learner's edit on the host would be (newer than the VM's copy): carried over next time.
  cp "$state/steps-backup/"*.ts "$repo/steps/04-network/"
  rm -rf "$state/steps-backup"
}

watch_from_the_host() {
  # `check --watch` typed on the host: the host watches (the VM's copy changes only when carried over); an edit on the
  # host carries the file over and checks again, in the VM.
  local log=$state/watch.log pid rounds=0
  (cd "$repo" && exec setsid env MINICONTAINER_FORCE_VM=1 MINICONTAINER_TIMEOUT_SCALE="${MINICONTAINER_TIMEOUT_SCALE:-8}" \
    ip netns exec "$ns" npm run --silent check step-04 -- --solution --only 04.netns --watch) >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 120); do rounds=$(grep -c 'watching for changes on the laptop' "$log" || true); [ "$rounds" -ge 1 ] && break; sleep 2; done
  printf '\n' >>"$repo/solutions/04-network/README.md" # an edit on the host
  for _ in $(seq 120); do rounds=$(grep -c 'watching for changes on the laptop' "$log" || true); [ "$rounds" -ge 2 ] && break; sleep 2; done
  kill -TERM -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  truncate -s -1 "$repo/solutions/04-network/README.md" # the edit undone
  sed 's/^\([0-9]* passed, [0-9]* failed\)/(watch round) \1/' "$log" >&2
  [ "$rounds" -ge 2 ] || { echo "the edit on the host did not start a second round (rounds: $rounds)" >&2; return 1; }
  grep -q 'carried 1 file(s), .*: solutions/04-network/README.md$' "$log" ||
    { echo "the second round should carry the edited file" >&2; return 1; }
  [ "$(grep -c '^1 passed, 0 failed' "$log")" -ge 2 ] || { echo "both rounds should pass" >&2; return 1; }
}

work_inside_the_vm() {
  # A learner who works inside the VM (vagrant ssh, edit /vagrant, sudo npm run check there): it works, and the next
  # command from the host refuses to overwrite that edit, naming the file, until the learner chooses.
  local file=steps/04-network/network.ts rc=0
  in_ns vagrant ssh -c "cd /vagrant && cp solutions/04-network/network.ts $file && sudo env MINICONTAINER_TIMEOUT_SCALE=${MINICONTAINER_TIMEOUT_SCALE:-8} npm run --silent check step-04 -- --only 04.lo-up" -- -T >&2 ||
    { echo "the check inside the VM, on the file edited there, should pass" >&2; return 1; }
  (cd "$repo" && in_ns env MINICONTAINER_FORCE_VM=1 npm run --silent check step-04 -- --only 04.lo-up) >"$state/inside.log" 2>&1 || rc=$?
  cat "$state/inside.log" >&2
  [ "$rc" = 125 ] || { echo "the host's check should stop (125) before overwriting the VM's edit, got $rc" >&2; return 1; }
  grep -q "not overwriting the VM's copy of $file" "$state/inside.log" || { echo "the message should name $file" >&2; return 1; }
  in_ns vagrant ssh -c "cmp -s /vagrant/$file /vagrant/solutions/04-network/network.ts" -- -T ||
    { echo "the VM's edit was overwritten" >&2; return 1; }
  in_ns vagrant ssh -c "rm /vagrant/$file" -- -T # the message's first way out: keep the laptop's
}

run_engine_tests() {
  # The engine's own test suite inside the VM: the one place here where the kernel offers cgroup v2 (this CI host
  # has its memory controller on v1). Its rootfs fixture is the tarball baked into the box.
  (cd "$repo" && in_ns env MINICONTAINER_FORCE_VM=1 MINICONTAINER_ALPINE_FIXTURES=/opt/minicontainer/cache \
    MINICONTAINER_TIMEOUT_SCALE="${MINICONTAINER_TIMEOUT_SCALE:-8}" \
    sh bin/node test/vm/run-in-vm.ts test test/engine.test.ts)
}

[ "$(id -u)" = 0 ] || { echo "e2e.sh: run as root" >&2; exit 1; }
run_start=$(date +%s)
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
stage "apt packages" install_packages
stage "box (vm:box recipe, cached by hash)" build_box
stage "namespace + libvirtd + pool" start_libvirt
[ "${E2E_VBOX_BOOT:-1}" = 0 ] || stage "VirtualBox image under QEMU" boot_virtualbox_image
stage "vagrant up (box via catalog)" vagrant_up
stage "doctor from the host via the VM" run_doctor
stage "check from the host via the VM" run_check
stage "a TODO done on the host, in VM" todo_on_the_host
stage "check --watch from the host" watch_from_the_host
stage "working inside the VM" work_inside_the_vm
[ "${E2E_ENGINE_TESTS:-1}" = 0 ] || stage "engine tests in the VM (cgroup v2)" run_engine_tests
