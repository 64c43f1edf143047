#!/usr/bin/env bash
# The workshop box's VirtualBox image, booted for real without VirtualBox: its OVF is read with VirtualBox's rules
# (vagrant/box/ovf-check.ts), then QEMU boots the box's own VMDK on VirtualBox-like hardware (a PC with an AHCI SATA
# disk and an Intel E1000 NIC, BIOS), and over ssh (Vagrant's insecure key, as `vagrant up` logs in the first time)
# the guest must show: GRUB booted it from the SATA disk, DHCP gave the e1000 NIC an address, cgroup v2 with
# memory/cpu/pids, no swap, Node, the Alpine rootfs, and a C compiler that builds a static program that runs.
#
# Usage (root): test/vm/boot-virtualbox-image.sh BOX.box   (run inside a network namespace of its own: test/vm/e2e.sh
# calls it in its own; standalone it makes an anonymous one). QEMU's user-mode network is `restrict=on`: the guest reaches
# nothing; only ssh is forwarded, to 127.0.0.1 in that namespace.
set -euo pipefail

box=${1:?usage: boot-virtualbox-image.sh BOX.box}
repo=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
say() { printf 'vbox-image: %s\n' "$*" >&2; }

if [ -z "${MINICONTAINER_IN_NETNS:-}" ]; then
  # A network namespace of its own with only `lo` (anonymous: nothing mounted on the host, it ends with the run).
  # shellcheck disable=SC2016 # expanded by that sh
  exec unshare --net -- sh -c 'ip link set lo up && exec env MINICONTAINER_IN_NETNS=1 "$0" "$1"' "$0" "$box"
fi

state=$(mktemp -d /var/tmp/minicontainer-vbox.XXXXXX)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; sleep 1; kill -9 "$qemu_pid" 2>/dev/null || true; fi
  if [ "${E2E_KEEP_STATE:-}" = 1 ]; then say "state kept in $state"; else rm -rf "$state"; fi
}
trap cleanup EXIT

tar -xf "$box" -C "$state"
vmdk=$(find "$state" -maxdepth 1 -name '*.vmdk' | head -n1)
[ -n "$vmdk" ] || { say "no .vmdk in $box"; exit 1; }
(cd "$repo" && sh bin/node vagrant/box/ovf-check.ts "$state/box.ovf" "$vmdk")

key=$(find /usr/share/rubygems-integration/all/gems /usr/share/vagrant /opt/vagrant -path '*/keys/vagrant' 2>/dev/null | head -n1 || true)
[ -n "$key" ] || { say "Vagrant's insecure private key (keys/vagrant) not found: install the vagrant package"; exit 1; }
install -m 600 "$key" "$state/key"
port=2222
ssh_() {
  ssh -i "$state/key" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ConnectTimeout=5 -o BatchMode=yes vagrant@127.0.0.1 "$@"
}

boot() {
  : >"$state/console.log"
  qemu-system-x86_64 -machine pc -accel tcg -m 1536 -smp 2 -display none -serial "file:$state/console.log" \
    -device ahci,id=ahci -drive "if=none,id=disk0,file=$vmdk,format=vmdk,snapshot=on" -device ide-hd,drive=disk0,bus=ahci.0 \
    -netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device e1000,netdev=net0 \
    -daemonize -pidfile "$state/qemu.pid"
  qemu_pid=$(cat "$state/qemu.pid")
}
say "booting $(basename "$vmdk") under QEMU (TCG): PC, BIOS, AHCI SATA disk, e1000 NIC"
start=$(date +%s)
attempt=1
boot
until ssh_ true 2>/dev/null; do
  if ! kill -0 "$qemu_pid" 2>/dev/null; then say "QEMU ended"; tail -n 40 "$state/console.log" >&2; exit 1; fi
  # QEMU 7.2's multi-threaded TCG now and then corrupts the kernel's early code patching (a panic in the first
  # seconds, never seen on hardware): one more boot, and the console of the first says what happened.
  if [ "$attempt" = 1 ] && grep -aq 'Kernel panic' "$state/console.log"; then
    say "the guest kernel panicked under emulation (console below); booting once more"
    grep -a -m1 -B2 'Kernel panic' "$state/console.log" >&2
    kill "$qemu_pid" 2>/dev/null || true
    sleep 1
    kill -9 "$qemu_pid" 2>/dev/null || true
    attempt=2
    boot
  fi
  if [ $(($(date +%s) - start)) -gt 900 ]; then say "no ssh after 15 minutes; the console:"; tail -n 40 "$state/console.log" >&2; exit 1; fi
  sleep 5
done
say "ssh answered $(($(date +%s) - start)) s after power-on"
grep -q 'GNU GRUB\|Booting .Debian' "$state/console.log" && say "GRUB: $(grep -ao 'GNU GRUB *version [0-9.~a-z+-]*' "$state/console.log" | head -n1 || echo seen)"

# Every property, each printed as `ok <what>` or `FAIL <what>` by the guest itself.
{ echo 'firmware=bios disk=/dev/sda1 nic_driver=e1000 rootfs=baked'; cat "$repo/test/vm/guest-checks.sh"; } |
  ssh_ 'sudo -n sh -s' | tee "$state/guest.log"
if grep -q '^FAIL' "$state/guest.log"; then say "the VirtualBox image failed (FAIL above)"; exit 1; fi
say "the VirtualBox image booted and passed ($(($(date +%s) - start)) s)"
