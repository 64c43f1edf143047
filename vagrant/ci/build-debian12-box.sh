#!/usr/bin/env bash
# Builds a small Debian 12 (bookworm) box for the vagrant-libvirt provider, from scratch with debootstrap,
# for machines that cannot download a box (CI). Direct kernel boot (the kernel and initrd travel in the box),
# QEMU's software driver (no KVM needed), cgroup v2 (Debian 12's default).
#
# Usage: sudo vagrant/ci/build-debian12-box.sh OUTPUT.box
# Needs: debootstrap, e2fsprogs (mkfs.ext4 -d), qemu-utils, the vagrant package (its insecure public key).
# Env: DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

out=${1:?usage: build-debian12-box.sh OUTPUT.box}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
say() { printf 'build-box: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { say "needs root (debootstrap, chroot)"; exit 1; }
pubkey=$(find /usr/share/rubygems-integration/all/gems /usr/share/vagrant /opt/vagrant -path '*/keys/vagrant.pub' 2>/dev/null | head -n1 || true)
[ -n "$pubkey" ] || { say "Vagrant's insecure public key (keys/vagrant.pub) not found: install the vagrant package"; exit 1; }

work=$(mktemp -d /var/tmp/minicontainer-box.XXXXXX)
cleanup() {
  for m in proc sys dev/pts dev; do umount "$work/root/$m" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
root=$work/root

say "debootstrap bookworm from $mirror"
debootstrap --variant=minbase \
  --include=systemd-sysv,udev,dbus,libpam-systemd,openssh-server,sudo,ifupdown,isc-dhcp-client,iproute2,nftables,rsync,ca-certificates,netbase,kmod,procps,linux-image-amd64,initramfs-tools \
  bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

say "configuring the guest"
echo minicontainer-ci >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 minicontainer-ci\n' >"$root/etc/hosts"
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
cat >"$root/etc/network/interfaces" <<'NET'
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
NET
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# The vagrant user: Vagrant's well-known insecure key (Vagrant replaces it at the first `vagrant up`),
# passwordless sudo.
chroot "$root" useradd -m -s /bin/bash vagrant
echo 'vagrant:vagrant' | chroot "$root" chpasswd
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$pubkey" "$root/home/vagrant/.ssh/authorized_keys"
printf 'Defaults:vagrant !requiretty\nvagrant ALL=(ALL) NOPASSWD: ALL\n' >"$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"

# SSH: host keys made at first boot (every VM its own), no DNS lookups (there is no DNS in CI).
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
UNIT
mkdir -p "$root/etc/systemd/system/ssh.service.wants"
ln -sf ../ssh-host-keys.service "$root/etc/systemd/system/ssh.service.wants/ssh-host-keys.service"
echo 'UseDNS no' >"$root/etc/ssh/sshd_config.d/minicontainer.conf"

chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/log/*.log

box=$work/box
mkdir "$box"
newest() { find "$root/boot" -maxdepth 1 -name "$1" | sort -V | tail -n1; }
cp "$(newest 'vmlinuz-*')" "$box/vmlinuz"
cp "$(newest 'initrd.img-*')" "$box/initrd.img"

say "making the disk image"
truncate -s 8G "$work/disk.raw"
mkfs.ext4 -q -F -L root -d "$root" "$work/disk.raw"
qemu-img convert -c -O qcow2 "$work/disk.raw" "$box/box.img"
rm -f "$work/disk.raw"

echo '{"provider":"libvirt","format":"qcow2","virtual_size":8}' >"$box/metadata.json"
cat >"$box/Vagrantfile" <<'VF'
# The box's own defaults (the project's Vagrantfile may override them).
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.driver = "qemu"
    lv.kernel = File.expand_path("vmlinuz", __dir__)
    lv.initrd = File.expand_path("initrd.img", __dir__)
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 net.ifnames=0"
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
VF

tar -cf "$out.tmp" -C "$box" metadata.json Vagrantfile box.img vmlinuz initrd.img
mv "$out.tmp" "$out"
say "done: $out ($(du -h "$out" | cut -f1))"
