#!/usr/bin/env bash
# The workshop box: `npm run vm:box` (Linux, root). Builds the Vagrant box learners and CI boot, from Debian's
# archive with debootstrap (recipe.conf, packages.txt), with what the VM's provisioning would install baked in by
# that same provisioning script (vagrant/provision.sh bake): Node 24 (pinned, sha512-verified), the npm packages,
# the Alpine rootfs. amd64: GRUB in the disk's boot sector (BIOS; VirtualBox and libvirt boot it as a PC would);
# arm64: GRUB as the EFI system partition's default loader (UEFI, as arm64 machines boot), built on an amd64
# machine through qemu-user (qemu-user-static; registered for the build's duration if it is not already).
#
# Usage: vagrant/box/build.sh [--out DIR] [--alpine FILE] [--catalog BASE_URL [--catalog-file FILE]]
#                             [--deb-cache DIR] [--arch amd64|arm64] [--print-hash]
#   --out DIR          where the .box files go (default: dist/box/); a build whose recipe hash is there already
#                      is not done again
#   --alpine FILE      the Alpine minirootfs tarball to bake in (default: cache/alpine-minirootfs-<pinned>-<x86_64|aarch64>.tar.gz,
#                      the newest pinned one in cache/); verified against lib/rootfs/SHA512SUMS. `none`: no rootfs in
#                      the box (the VM installs it: npm run rootfs)
#   --arch ARCH        amd64 (default: libvirt and VirtualBox boxes) or arm64 (a libvirt box, UEFI)
#   --catalog BASE_URL write the Vagrant box catalog (vagrant/box/catalog.json, or --catalog-file) for the boxes in
#                      --out, each at BASE_URL/<file name> (upload the .box files there first)
#   --deb-cache DIR    keep the downloaded .deb files there (a rebuild downloads nothing again)
#   --print-hash       print the recipe hash and exit (what the box is cached by)
# Env: DEBIAN_MIRROR overrides recipe.conf's.
#
# Writes into --out: minicontainer-workshop-<version>-{libvirt,virtualbox}-<arch>.box (arm64: libvirt only), and
# minicontainer-workshop-<version>-<arch>.json (recipe hash, Debian release, kernel, Node, Alpine, sizes, sha256).
set -euo pipefail

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
repo=$(CDPATH='' cd -- "$here/../.." && pwd)
# shellcheck source=recipe.conf disable=SC1091
. "$here/recipe.conf"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { printf 'vm:box: %s\n' "$*" >&2; }
die() { printf 'vm:box: ERROR: %s\n' "$*" >&2; exit 1; }

arch=amd64
out=$repo/dist/box
alpine=
catalog_base=
catalog_file=$here/catalog.json
deb_cache=
print_hash=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arch=${2:?--arch wants amd64 or arm64}; shift 2 ;;
    --out) out=${2:?--out wants a folder}; shift 2 ;;
    --alpine) alpine=${2:?--alpine wants a file}; shift 2 ;;
    --catalog) catalog_base=${2:?--catalog wants the base URL the .box files are published at}; shift 2 ;;
    --catalog-file) catalog_file=${2:?--catalog-file wants a file}; shift 2 ;;
    --deb-cache) deb_cache=${2:?--deb-cache wants a folder}; shift 2 ;;
    --print-hash) print_hash=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
case "$arch" in
  amd64) alpine_arch=x86_64 node_arch=x64 qemu_arch=x86_64 console=ttyS0 providers="libvirt virtualbox" ;;
  arm64) alpine_arch=aarch64 node_arch=arm64 qemu_arch=aarch64 console=ttyAMA0 providers="libvirt" ;;
  *) die "--arch wants amd64 or arm64" ;;
esac
mkdir -p "$out"
out=$(CDPATH='' cd -- "$out" && pwd)
stem=minicontainer-workshop-$BOX_VERSION
info=$out/$stem-$arch.json

# --- the Alpine tarball: given, or the pinned default in cache/, or the newest pinned one there ----------------------
sums=$repo/lib/rootfs/SHA512SUMS
default_alpine=$(sed -n "s/^export const DEFAULT_VERSION = '\(.*\)'$/\1/p" "$repo/lib/rootfs/install.ts")
default_alpine=${default_alpine:-3.24.2}
if [ "$alpine" = none ]; then
  alpine_name=none alpine_sum=none
elif [ -z "$alpine" ]; then
  alpine=$repo/cache/alpine-minirootfs-$default_alpine-$alpine_arch.tar.gz
  if [ ! -f "$alpine" ]; then
    alpine=$(find "$repo/cache" -maxdepth 1 -name "alpine-minirootfs-*-$alpine_arch.tar.gz" 2>/dev/null | sort -V | tail -n1 || true)
  fi
  if [ -z "$alpine" ] || [ ! -f "$alpine" ]; then
    die "no Alpine tarball: put alpine-minirootfs-$default_alpine-$alpine_arch.tar.gz into cache/ (https://alpinelinux.org/downloads/, 'Mini root filesystem') or give --alpine FILE"
  fi
fi
if [ "$alpine" != none ]; then
  [ -f "$alpine" ] || die "--alpine $alpine: no such file"
  alpine_name=$(basename "$alpine")
  alpine_sum=$(awk -v f="$alpine_name" '{ n = $2; sub(/^\*/, "", n) } n == f { print $1 }' "$sums")
  [ -n "$alpine_sum" ] || die "$alpine_name is not one of the tarballs pinned in lib/rootfs/SHA512SUMS"
  case "$alpine_name" in *"-$alpine_arch.tar.gz") ;; *) die "$alpine_name is not for $alpine_arch" ;; esac
fi

# --- the recipe hash: everything that decides what is in the box ---------------------------------------------------
recipe_hash() {
  (
    cd "$repo"
    for file in vagrant/box/build.sh vagrant/box/recipe.conf vagrant/box/packages.txt vagrant/box/packages-apt.txt vagrant/box/files/* \
      vagrant/provision.sh package.json package-lock.json; do
      printf '== %s\n' "$file"
      cat "$file"
    done
    printf '== arch %s\n== alpine %s %s\n' "$arch" "$alpine_name" "$alpine_sum"
  ) | sha256sum | cut -c1-16
}
hash=$(recipe_hash)
if [ "$print_hash" = 1 ]; then echo "$hash"; exit 0; fi

# --- the catalog: versions, providers, architectures, sha256, URLs -------------------------------------------------
write_catalog() { # from every build-info JSON in $out
  local base=${catalog_base%/} entries=() file
  for file in "$out"/minicontainer-workshop-*.json; do
    [ -f "$file" ] || continue
    entries+=("$file")
  done
  [ "${#entries[@]}" -gt 0 ] || die "no box in $out to put into the catalog: build it first (npm run vm:box)"
  sh "$repo/bin/node" "$here/catalog.ts" --base "$base" --out "$catalog_file" "${entries[@]}"
  say "catalog: $catalog_file (box files at $base/)"
}

built_already() {
  local provider
  [ -f "$info" ] && grep -q "\"recipe_hash\": \"$hash\"" "$info" || return 1
  for provider in $providers; do [ -f "$out/$stem-$provider-$arch.box" ] || return 1; done
}
if built_already; then
  say "the boxes of recipe $hash are in $out already"
  [ -z "$catalog_base" ] || write_catalog
  exit 0
fi

# --- the build, in a mount namespace of its own (debootstrap's and our chroot mounts never reach the host) ----------
[ "$(uname -s)" = Linux ] || die "builds on Linux only (debootstrap, chroot); the finished .box files work everywhere"
[ "$(id -u)" = 0 ] || die "needs root (debootstrap, chroot, device files): sudo npm run vm:box"
for tool in debootstrap mkfs.ext4 qemu-img unshare tar sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install debootstrap e2fsprogs qemu-utils util-linux"
done
if [ "$arch" = arm64 ]; then
  for tool in mkfs.vfat mmd mcopy; do command -v "$tool" >/dev/null || die "$tool is missing: apt-get install dosfstools mtools"; done
fi
foreign=0
[ "$arch" = "$(dpkg --print-architecture 2>/dev/null || echo amd64)" ] || foreign=1
if [ -z "${MINICONTAINER_BOX_UNSHARED:-}" ]; then
  exec env MINICONTAINER_BOX_UNSHARED=1 unshare --mount --propagation private -- "$0" \
    --arch "$arch" --out "$out" --alpine "$alpine" ${deb_cache:+--deb-cache "$deb_cache"} \
    ${catalog_base:+--catalog "$catalog_base" --catalog-file "$catalog_file"}
fi

started=$(date +%s)
work=$(mktemp -d /var/tmp/minicontainer-box.XXXXXX)
root=$work/root
binfmt_made=0
cleanup() {
  local m
  for m in tmp/mc/repo/node_modules dev/pts dev proc sys; do umount "$root/$m" 2>/dev/null || true; done
  if [ "$binfmt_made" = 1 ]; then echo -1 >"/proc/sys/fs/binfmt_misc/qemu-$qemu_arch" 2>/dev/null || true; fi
  if [ "${MINICONTAINER_BOX_KEEP_WORK:-}" = 1 ]; then say "work folder kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
say "recipe $hash: Debian $DEBIAN_SUITE $arch, box $BOX_NAME $BOX_VERSION, into $out"

# Another CPU's programs run through qemu-user: binfmt_misc (mounted in this mount namespace only) with the
# interpreter opened at registration (flag F), so it works inside the chroot. Removed again at the end if ours.
if [ "$foreign" = 1 ]; then
  binfmt=/proc/sys/fs/binfmt_misc
  [ -f "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
  if [ ! -f "$binfmt/qemu-$qemu_arch" ]; then
    conf=/usr/lib/binfmt.d/qemu-$qemu_arch.conf
    [ -f "$conf" ] || die "building $arch on a $(uname -m) machine needs qemu-user-static: apt-get install qemu-user-static"
    grep -q ':[A-Z]*F[A-Z]*$' "$conf" || die "$conf lacks the F flag (an older qemu-user-static): the chroot could not find the interpreter"
    cat "$conf" >"$binfmt/register"
    binfmt_made=1
  fi
fi

# Node, npm and the npm packages come from cache/ (filled from the npm registry once; what offline classes use too).
"$repo/vagrant/prepare-offline-cache.sh" --arch "$node_arch"

packages=$(grep -v '^[[:space:]]*\(#\|$\)' "$here/packages.txt" | tr '\n' ',')
case "$arch" in
  amd64) packages+="linux-image-amd64,grub-pc-bin" ;;
  arm64) packages+="linux-image-arm64,grub-efi-arm64-bin" ;;
esac
debootstrap_args=(--variant=minbase --arch="$arch" --components=main --include="$packages")
[ "$foreign" = 0 ] || debootstrap_args+=(--foreign)
if [ -n "$deb_cache" ]; then
  mkdir -p "$deb_cache"
  debootstrap_args+=(--cache-dir="$(CDPATH='' cd -- "$deb_cache" && pwd)")
fi
say "debootstrap $DEBIAN_SUITE from $mirror ($(grep -cv '^[[:space:]]*\(#\|$\)' "$here/packages.txt") packages listed + their dependencies)"
t=$(date +%s)
debootstrap "${debootstrap_args[@]}" "$DEBIAN_SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
if [ "$foreign" = 1 ]; then
  say "debootstrap's second stage, through qemu-$qemu_arch"
  chroot "$root" /debootstrap/debootstrap --second-stage >>"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; die "debootstrap's second stage failed (log above)"; }
fi
say "debootstrap: $(($(date +%s) - t)) s"
# What debootstrap cannot configure in its base stage (packages-apt.txt), with apt in the finished base system. The
# chroot resolves names with the build machine's resolv.conf for that moment only.
apt_packages=$(grep -v '^[[:space:]]*\(#\|$\)' "$here/packages-apt.txt" | tr '\n' ' ')
if [ -n "$apt_packages" ]; then
  t=$(date +%s)
  mv "$root/etc/resolv.conf" "$work/resolv.conf.guest" 2>/dev/null || true
  cp -L /etc/resolv.conf "$root/etc/resolv.conf"
  # shellcheck disable=SC2086 # the list is words
  chroot "$root" env DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends $apt_packages && apt-get clean" \
    >>"$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; die "apt-get install $apt_packages failed (log above)"; }
  rm -f "$root/etc/resolv.conf"
  if [ -e "$work/resolv.conf.guest" ] || [ -L "$work/resolv.conf.guest" ]; then mv "$work/resolv.conf.guest" "$root/etc/resolv.conf"; fi
  say "apt: $apt_packages in $(($(date +%s) - t)) s"
fi
debian_release=$(cat "$root/etc/debian_version")
[ "$debian_release" = "$DEBIAN_POINT_RELEASE" ] ||
  say "note: the archive served Debian $debian_release (recipe.conf was last built from $DEBIAN_POINT_RELEASE); the box records $debian_release"
kernel=$(find "$root/boot" -maxdepth 1 -name 'vmlinuz-*' | sed 's|.*/vmlinuz-||' | sort -V | tail -n1)

# --- the guest's configuration ---------------------------------------------------------------------------------------
say "configuring the guest (kernel $kernel)"
uuid=$(cat /proc/sys/kernel/random/uuid)
echo minicontainer >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 minicontainer\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
printf 'UUID=%s / ext4 rw,errors=remount-ro 0 1\n' "$uuid" >"$root/etc/fstab" # and no swap, on purpose
: >"$root/etc/machine-id" # every VM makes its own at first boot (and so its own DHCP client id)
rm -f "$root/var/lib/dbus/machine-id"

# DHCP on every Ethernet NIC, whatever the kernel calls it (virtio: enp1s0, VirtualBox e1000: enp0s3, ...).
cat >"$root/etc/systemd/network/80-minicontainer-dhcp.network" <<'NET'
[Match]
Type=ether

[Network]
DHCP=yes

[DHCPv4]
UseDomains=yes
NET
chroot "$root" systemctl enable systemd-networkd systemd-resolved >/dev/null 2>&1
chroot "$root" systemctl mask swap.target >/dev/null 2>&1
# docker-registry's own service would listen on :5000 in every VM: step 09 starts registries of its own on 127.0.0.1.
chroot "$root" systemctl mask docker-registry.service >/dev/null 2>&1 || true

# The vagrant user: Vagrant's well-known insecure key (Vagrant puts a key of its own in at the first `vagrant up`),
# passwordless sudo. /vagrant is theirs: the laptop -> VM carry-over writes the repository there as vagrant.
chroot "$root" useradd -m -s /bin/bash -G sudo vagrant
echo 'vagrant:vagrant' | chroot "$root" chpasswd
install -d -m 700 -o 1000 -g 1000 "$root/home/vagrant/.ssh"
install -m 600 -o 1000 -g 1000 "$here/files/vagrant.pub" "$root/home/vagrant/.ssh/authorized_keys"
printf 'Defaults:vagrant !requiretty\nvagrant ALL=(ALL) NOPASSWD: ALL\n' >"$root/etc/sudoers.d/vagrant"
chmod 440 "$root/etc/sudoers.d/vagrant"
install -d -m 755 -o 1000 -g 1000 "$root/vagrant"

# SSH: host keys made at first boot (every VM its own), no DNS lookups (offline classes, CI have no DNS).
rm -f "$root"/etc/ssh/ssh_host_*
cat >"$root/etc/systemd/system/minicontainer-ssh-host-keys.service" <<'UNIT'
[Unit]
Description=Generate SSH host keys (first boot)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A

[Install]
WantedBy=ssh.service
UNIT
chroot "$root" systemctl enable minicontainer-ssh-host-keys.service >/dev/null 2>&1
printf 'UseDNS no\n' >"$root/etc/ssh/sshd_config.d/minicontainer.conf"

# --- baked in by the provisioning script itself: Node 24, the npm packages, the Alpine rootfs ------------------------
say "baking in Node, the npm packages and the Alpine rootfs (vagrant/provision.sh bake, in the guest's root)"
t=$(date +%s)
stage=$root/tmp/mc
mkdir -p "$stage/repo" "$stage/cache"
# The repository as a fresh clone has it (tracked and new files; not node_modules, caches, builds).
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -xf - -C "$stage/repo"
else
  tar -C "$repo" --exclude=./node_modules --exclude=./.tools --exclude=./.vagrant --exclude=./.git --exclude=./cache \
    --exclude=./dist --exclude=./.minicontainer -cf - . | tar -xf - -C "$stage/repo"
fi
cp -R "$repo/cache/npm" "$stage/cache/npm"
cp "$repo"/cache/node-linux-"$node_arch"-*.tgz "$repo"/cache/npm-*.tgz "$stage/cache/"
[ "$alpine" = none ] || cp "$alpine" "$stage/cache/"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"
chroot "$root" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin HOME=/root LANG=C.UTF-8 \
  MINICONTAINER_REPO=/tmp/mc/repo MINICONTAINER_CACHE=/tmp/mc/cache \
  MINICONTAINER_BAKE_ROOTFS="$([ "$alpine" = none ] && echo 0 || echo 1)" \
  bash /tmp/mc/repo/vagrant/provision.sh bake
umount "$root/tmp/mc/repo/node_modules" "$root/dev/pts" "$root/dev" "$root/proc"
install -d -m 755 "$root/opt/minicontainer/cache"
[ "$alpine" = none ] || cp "$alpine" "$root/opt/minicontainer/cache/"
rm -rf "$stage"
node_version=$(sed -n 's/^NODE_VERSION=//p' "$repo/vagrant/provision.sh")
say "baked in: $(($(date +%s) - t)) s"

# --- GRUB ----------------------------------------------------------------------------------------------------------
# amd64: core.img in the gap after the boot sector, boot.img in the boot sector (what grub-install does for BIOS).
# arm64: one EFI executable with GRUB's core, the firmware's default loader on the EFI system partition.
cmdline="root=UUID=$uuid ro console=tty0 console=$console,115200n8"
grub_dir=$([ "$arch" = amd64 ] && echo i386-pc || echo arm64-efi)
say "GRUB ($grub_dir)"
mkdir -p "$root/boot/grub"
cp -R "$root/usr/lib/grub/$grub_dir" "$root/boot/grub/"
serial_lines=
if [ "$arch" = amd64 ]; then serial_lines=$(printf 'serial --unit=0 --speed=115200\nterminal_input console serial\nterminal_output console serial'); fi
cat >"$root/boot/grub/grub.cfg" <<CFG
# The workshop box (vagrant/box/build.sh). /vmlinuz and /initrd.img follow Debian's kernel updates.
$serial_lines
set timeout=1
menuentry 'Debian GNU/Linux (minicontainer workshop box)' {
  insmod gzio
  insmod part_msdos
  insmod ext2
  search --no-floppy --fs-uuid --set=root $uuid
  linux /vmlinuz $cmdline
  initrd /initrd.img
}
CFG
cat >"$root/tmp/grub-early.cfg" <<CFG
search --no-floppy --fs-uuid --set=root $uuid
set prefix=(\$root)/boot/grub
CFG
if [ "$arch" = amd64 ]; then
  chroot "$root" grub-mkimage -O i386-pc -o /tmp/core.img -c /tmp/grub-early.cfg -p /boot/grub \
    biosdisk part_msdos ext2 search search_fs_uuid normal configfile
  mv "$root/tmp/core.img" "$work/core.img"
  cp "$root/usr/lib/grub/i386-pc/boot.img" "$work/boot.img"
else
  chroot "$root" grub-mkimage -O arm64-efi -o /tmp/BOOTAA64.EFI -c /tmp/grub-early.cfg -p /boot/grub \
    part_msdos ext2 fat search search_fs_uuid normal configfile linux gzio efi_gop
  mv "$root/tmp/BOOTAA64.EFI" "$work/BOOTAA64.EFI"
fi
rm -f "$root/tmp/grub-early.cfg"

# --- clean the guest, then record what it is ------------------------------------------------------------------------
chroot "$root" apt-get clean
# Translations and documentation other than the licences: 90 MB the workshop does not read (man pages stay). Later
# installs inside the VM leave them out too.
cat >"$root/etc/dpkg/dpkg.cfg.d/minicontainer-slim" <<'DPKG'
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
DPKG
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/debconf/*-old "$root"/var/log/*.log "$root"/var/log/apt/* \
  "$root"/tmp/* "$root"/root/.npm "$root"/root/.cache
# shellcheck disable=SC2016 # dpkg's format, not the shell's
chroot "$root" dpkg-query -W -f='${Package} ${Version} ${Architecture}\n' >"$work/manifest.txt"
built=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat >"$root/etc/minicontainer-box.json" <<JSON
{
  "name": "$BOX_NAME",
  "version": "$BOX_VERSION",
  "recipe_hash": "$hash",
  "arch": "$arch",
  "debian": "$debian_release",
  "kernel": "$kernel",
  "node": "$node_version",
  "alpine": "$alpine_name",
  "built": "$built"
}
JSON
cp "$work/manifest.txt" "$root/etc/minicontainer-box.packages"

# --- the disk: an MBR; amd64: one ext4 partition from 1 MiB on, GRUB before it; arm64: an EFI system partition
# (FAT, 64 MiB) then the ext4 one. The ext4 file system is made from the guest's tree, in place. -------------------
say "disk image (${DISK_GIB} GiB virtual, sparse)"
t=$(date +%s)
disk=$work/disk.raw
total=$((DISK_GIB * 1024 * 1024 * 2)) # sectors
esp_start=2048 esp_sectors=131072
if [ "$arch" = amd64 ]; then root_start=2048; else root_start=$((esp_start + esp_sectors)); fi
root_sectors=$((total - root_start))
truncate -s $((total * 512)) "$disk"
mkfs.ext4 -q -F -L minicontainer -U "$uuid" -O ^metadata_csum_seed,^orphan_file -E offset=$((root_start * 512)) \
  -d "$root" "$disk" $((root_sectors / 8))k 2>"$work/mkfs.log" ||
  mkfs.ext4 -q -F -L minicontainer -U "$uuid" -E offset=$((root_start * 512)) -d "$root" "$disk" $((root_sectors / 8))k ||
  { cat "$work/mkfs.log" >&2; die "mkfs.ext4 failed"; }
# shellcheck disable=SC2059 # the format is the bytes
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))\\x$(printf %02x $((($1 >> 16) & 255)))\\x$(printf %02x $((($1 >> 24) & 255)))"; }
# shellcheck disable=SC2059
partition() { # STATUS TYPE START SECTORS: one 16-byte MBR entry (CHS fields unused: LBA)
  printf "\\x$1\\xfe\\xff\\xff\\x$2\\xfe\\xff\\xff"
  le32 "$3"
  le32 "$4"
}
{
  if [ "$arch" = amd64 ]; then
    head -c 440 "$work/boot.img"      # GRUB's boot sector code (its default: core.img at sector 1)
  else
    head -c 440 /dev/zero             # UEFI reads the partition table only
  fi
  printf '\x6d\x63\x62\x78\x00\x00'   # disk signature "mcbx", reserved
  if [ "$arch" = amd64 ]; then
    partition 80 83 "$root_start" "$root_sectors" # active, Linux
    head -c 48 /dev/zero
  else
    partition 00 ef "$esp_start" "$esp_sectors"   # EFI system partition
    partition 00 83 "$root_start" "$root_sectors" # Linux
    head -c 32 /dev/zero
  fi
  printf '\x55\xaa'
} >"$work/mbr.bin"
[ "$(stat -c %s "$work/mbr.bin")" = 512 ] || die "the boot sector is $(stat -c %s "$work/mbr.bin") bytes, not 512"
if [ "$arch" = amd64 ]; then
  [ "$(stat -c %s "$work/core.img")" -lt $(((root_start - 1) * 512)) ] || die "GRUB's core.img does not fit before the partition"
  # A BIOS that passes a wrong boot drive number: grub-setup's fix, jump replaced with two NOPs at 0x66.
  printf '\x90\x90' | dd of="$work/mbr.bin" bs=1 seek=$((0x66)) conv=notrunc status=none
  dd if="$work/core.img" of="$disk" bs=512 seek=1 conv=notrunc status=none
else
  mkfs.vfat -F 32 -n EFI -C "$work/esp.img" $((esp_sectors / 2)) >/dev/null
  mmd -i "$work/esp.img" ::/EFI ::/EFI/BOOT
  mcopy -i "$work/esp.img" "$work/BOOTAA64.EFI" ::/EFI/BOOT/BOOTAA64.EFI
  dd if="$work/esp.img" of="$disk" bs=512 seek="$esp_start" conv=notrunc status=none
fi
dd if="$work/mbr.bin" of="$disk" conv=notrunc status=none
say "disk image: $(($(date +%s) - t)) s"

# --- the two boxes ---------------------------------------------------------------------------------------------------
t=$(date +%s)
say "libvirt box (qcow2)"
lv=$work/libvirt
mkdir "$lv"
qemu-img convert -c -O qcow2 "$disk" "$lv/box.img"
printf '{"provider":"libvirt","format":"qcow2","virtual_size":%d}\n' "$DISK_GIB" >"$lv/metadata.json"
if [ "$arch" = amd64 ]; then
  cat >"$lv/Vagrantfile" <<'VF'
# The workshop box's own defaults (the project's Vagrantfile may override them).
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.disk_bus = "virtio"
    lv.nic_model_type = "virtio"
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
VF
else
  cat >"$lv/Vagrantfile" <<'VF'
# The workshop box's own defaults (the project's Vagrantfile may override them): an arm64 machine with UEFI
# firmware (Debian/Ubuntu's qemu-efi-aarch64 path; elsewhere set lv.loader to your AAVMF/edk2 code file).
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.machine_arch = "aarch64"
    lv.machine_type = "virt"
    lv.cpu_mode = "host-passthrough"
    lv.loader = "/usr/share/AAVMF/AAVMF_CODE.fd"
    lv.disk_bus = "virtio"
    lv.nic_model_type = "virtio"
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
VF
fi
cp "$root/etc/minicontainer-box.json" "$lv/info.json"

vb=$work/virtualbox
if [ "$arch" = amd64 ]; then
say "VirtualBox box (OVF + VMDK)"
mkdir "$vb"
vmdk=$stem-disk001.vmdk
qemu-img convert -O vmdk -o subformat=streamOptimized "$disk" "$vb/$vmdk"
mac=080027$(printf '%s' "$hash" | cut -c1-6 | tr a-f A-F)
"$here/ovf.sh" --name "minicontainer-workshop" --vmdk "$vb/$vmdk" --capacity-gib "$DISK_GIB" \
  --cpus "$VM_CPUS" --memory "$VM_MEMORY_MIB" --os-type Debian_64 >"$vb/box.ovf"
printf '{"provider":"virtualbox"}\n' >"$vb/metadata.json"
cat >"$vb/Vagrantfile" <<VF
# The workshop box's own defaults (the project's Vagrantfile may override them).
Vagrant.configure("2") do |config|
  config.vm.base_mac = "$mac"
  # No Guest Additions in this box: the workshop carries the repository into the VM over ssh instead.
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.provider :virtualbox do |vb|
    # A generic OVF leaves VirtualBox's defaults: more than one CPU needs the I/O APIC; the guest keeps UTC.
    vb.customize ["modifyvm", :id, "--ioapic", "on", "--rtcuseutc", "on", "--graphicscontroller", "vmsvga"]
  end
end
VF
cp "$root/etc/minicontainer-box.json" "$vb/info.json"
fi
rm -f "$disk"
say "formats: $(($(date +%s) - t)) s"

tar -cf "$out/$stem-libvirt-$arch.box.tmp" -C "$lv" metadata.json Vagrantfile info.json box.img
mv "$out/$stem-libvirt-$arch.box.tmp" "$out/$stem-libvirt-$arch.box"
if [ "$arch" = amd64 ]; then
  tar -cf "$out/$stem-virtualbox-$arch.box.tmp" -C "$vb" box.ovf "$vmdk" metadata.json Vagrantfile info.json
  mv "$out/$stem-virtualbox-$arch.box.tmp" "$out/$stem-virtualbox-$arch.box"
fi
cp "$work/manifest.txt" "$out/$stem-$arch.packages"
box_entry() { # PROVIDER
  local file=$stem-$1-$arch.box
  printf '    {"provider": "%s", "file": "%s", "size": %d, "sha256": "%s"}\n' "$1" "$file" \
    "$(stat -c %s "$out/$file")" "$(sha256sum "$out/$file" | cut -d' ' -f1)"
}
cat >"$info" <<JSON
{
  "name": "$BOX_NAME",
  "version": "$BOX_VERSION",
  "recipe_hash": "$hash",
  "arch": "$arch",
  "debian": "$debian_release",
  "kernel": "$kernel",
  "node": "$node_version",
  "alpine": "$alpine_name",
  "built": "$built",
  "build_seconds": $(($(date +%s) - started)),
  "boxes": [
$(for provider in $providers; do box_entry "$provider"; done | sed '$!s/$/,/')
  ]
}
JSON
say "done in $(($(date +%s) - started)) s: $(for provider in $providers; do printf '%s %s, ' "$(du -h "$out/$stem-$provider-$arch.box" | cut -f1)" "$provider"; done)in $out"
[ -z "$catalog_base" ] || write_catalog
