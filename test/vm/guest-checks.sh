# The workshop box's properties, checked inside a booted guest (as root: `ssh ... sudo -n sh -s <this`), each printed
# as `ok <what>` or `FAIL <what>`. Set before it: firmware=bios|efi, nic_driver (e.g. e1000, virtio_net),
# disk (e.g. /dev/sda1 on AHCI, /dev/vda2 on virtio), rootfs=baked|none. Used by test/vm/boot-*-image.sh.
t() { if eval "$2" >/dev/null 2>&1; then echo "ok   $1"; else echo "FAIL $1"; fi; }
nic=$(ip -o -4 addr show scope global | awk '{print $2; exit}')
t "booted by GRUB ($firmware) from $disk" 'grep -q "BOOT_IMAGE=/vmlinuz" /proc/cmdline && [ "$(findmnt -no SOURCE /)" = "$disk" ] && if [ "$firmware" = efi ]; then [ -d /sys/firmware/efi ]; else [ ! -d /sys/firmware/efi ]; fi'
[ "$disk" != /dev/sda1 ] || t "the disk is on SATA (AHCI)" 'readlink -f /sys/block/sda | grep -q "/ata[0-9]" && ls /sys/bus/pci/drivers/ahci | grep -q "^0000:"'
t "DHCP on the $nic_driver NIC ($nic)" '[ -n "$nic" ] && [ "$(basename "$(readlink -f /sys/class/net/$nic/device/driver)")" = "$nic_driver" ]'
t "cgroup v2 with memory, cpu, pids" '[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && for c in memory cpu pids; do grep -qw $c /sys/fs/cgroup/cgroup.controllers || exit 1; done'
t "no swap" '[ "$(wc -l </proc/swaps)" -le 1 ]'
t "Node $(node --version 2>/dev/null) ($(node -p process.arch 2>/dev/null))" 'node --version | grep -q "^v24\."'
if [ "$rootfs" = baked ]; then
  t "the Alpine rootfs is installed" '[ -f /var/lib/minicontainer/rootfs/current/.minicontainer-rootfs.json ] && [ -e /var/lib/minicontainer/rootfs/current/bin/busybox ]'
fi
t "a static C program builds and runs" 'printf "int main(void){return 42;}\n" >/tmp/t.c && gcc -static -o /tmp/t /tmp/t.c && { /tmp/t; [ $? = 42 ]; } && ! ldd /tmp/t 2>/dev/null | grep -q "=>"'
t "musl-gcc builds a static program too" 'printf "#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}\n" >/tmp/m.c && musl-gcc -static -o /tmp/m /tmp/m.c && [ "$(/tmp/m)" = hi ]'
t "the box records its recipe" 'grep -q recipe_hash /etc/minicontainer-box.json'
echo "kernel $(uname -r) $(uname -m); $(grep -o '"version": "[^"]*"' /etc/minicontainer-box.json | head -n1); NIC $nic"
