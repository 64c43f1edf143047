#!/usr/bin/env bash
# The workshop box for arm64, booted for real on this amd64 machine: QEMU emulates an arm64 "virt" machine (TCG, much
# slower than a Mac's virtualization) with UEFI firmware (edk2/AAVMF), the box's own qcow2 on virtio, a virtio NIC;
# over ssh (Vagrant's insecure key) the guest must show GRUB booted it through UEFI, DHCP, cgroup v2 with
# memory/cpu/pids, no swap, Node for arm64, and a C compiler that builds a static program that runs.
#
# Usage (root): test/vm/boot-arm64-image.sh BOX.box   (the libvirt arm64 box). Needs qemu-system-arm and
# qemu-efi-aarch64. Network as in boot-virtualbox-image.sh: a namespace of its own, `restrict=on`, ssh forwarded to
# 127.0.0.1 there.
set -euo pipefail

box=${1:?usage: boot-arm64-image.sh BOX.box}
repo=$(CDPATH='' cd -- "$(dirname -- "$0")/../.." && pwd)
say() { printf 'arm64-image: %s\n' "$*" >&2; }

if [ -z "${MINICONTAINER_IN_NETNS:-}" ]; then
  # shellcheck disable=SC2016 # expanded by that sh
  exec unshare --net -- sh -c 'ip link set lo up && exec env MINICONTAINER_IN_NETNS=1 "$0" "$1"' "$0" "$box"
fi

firmware=/usr/share/qemu-efi-aarch64/QEMU_EFI.fd
[ -f "$firmware" ] || { say "no UEFI firmware for arm64 ($firmware): apt-get install qemu-efi-aarch64"; exit 1; }
state=$(mktemp -d /var/tmp/minicontainer-arm64.XXXXXX)
qemu_pid=
cleanup() {
  if [ -n "$qemu_pid" ]; then kill "$qemu_pid" 2>/dev/null || true; sleep 1; kill -9 "$qemu_pid" 2>/dev/null || true; fi
  if [ "${E2E_KEEP_STATE:-}" = 1 ]; then say "state kept in $state"; else rm -rf "$state"; fi
}
trap cleanup EXIT

tar -xf "$box" -C "$state"
rootfs=$(grep -q '"alpine": "none"' "$state/info.json" && echo none || echo baked)
key=$(find /usr/share/rubygems-integration/all/gems /usr/share/vagrant /opt/vagrant -path '*/keys/vagrant' 2>/dev/null | head -n1 || true)
[ -n "$key" ] || { say "Vagrant's insecure private key (keys/vagrant) not found: install the vagrant package"; exit 1; }
install -m 600 "$key" "$state/key"
port=2222
ssh_() {
  ssh -i "$state/key" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
    -o ConnectTimeout=5 -o BatchMode=yes vagrant@127.0.0.1 "$@"
}

say "booting the arm64 box under QEMU (TCG): virt machine, UEFI, virtio disk and NIC"
start=$(date +%s)
qemu-system-aarch64 -machine virt -cpu max -accel tcg -m 1536 -smp 2 -bios "$firmware" -display none \
  -serial "file:$state/console.log" \
  -drive "if=none,id=disk0,file=$state/box.img,format=qcow2,snapshot=on" -device virtio-blk-pci,drive=disk0 \
  -netdev "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=net0 \
  -daemonize -pidfile "$state/qemu.pid"
qemu_pid=$(cat "$state/qemu.pid")
until ssh_ true 2>/dev/null; do
  if ! kill -0 "$qemu_pid" 2>/dev/null; then say "QEMU ended"; tail -n 40 "$state/console.log" >&2; exit 1; fi
  if [ $(($(date +%s) - start)) -gt 1800 ]; then say "no ssh after 30 minutes; the console:"; tail -n 40 "$state/console.log" >&2; exit 1; fi
  sleep 10
done
say "ssh answered $(($(date +%s) - start)) s after power-on"
{ echo "firmware=efi disk=/dev/vda2 nic_driver=virtio_net rootfs=$rootfs"; cat "$repo/test/vm/guest-checks.sh"; } |
  ssh_ 'sudo -n sh -s' | tee "$state/guest.log"
if grep -q '^FAIL' "$state/guest.log"; then say "the arm64 image failed (FAIL above)"; exit 1; fi
say "the arm64 image booted and passed ($(($(date +%s) - start)) s)"
