// Step 07: the kernel's own filesystems inside the container. /proc, /sys and /sys/fs/cgroup are windows
// onto the one kernel every container shares: what is written there is written to the host.
//
//   init, container side:
//     enterCgroupNamespace()   07.1  (init is already in its cgroup: the host side put it there)
//     ... the rootfs, /proc (step 02) ...
//     protectKernelFiles()     07.2  /sys read-only; parts of /proc masked or read-only; /dev nodev
//     mountCgroups(layout)     07.3  the container's cgroups, read-only, at /sys/fs/cgroup
import fs from 'node:fs'
import path from 'node:path'
import { CLONE_NEWCGROUP, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT, mount, unshare } from '../../lib/libc.ts'
import { CGROUP_MOUNT_POINT, type CgroupLayout } from '../../lib/cgroup-layout.ts'

/** Files and folders of /proc and /sys that show or change the host's kernel, hidden as runc hides them. */
export const MASKED_PATHS = [
  '/proc/kcore', '/proc/keys', '/proc/timer_list', '/proc/latency_stats', '/proc/sched_debug', '/proc/acpi',
  '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
]
/** Folders and files of /proc a container may read but never write (docker's read-only paths). */
export const READ_ONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']

/** The flags of every read-only kernel filesystem mounted here. */
const READ_ONLY = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC

/** Container side: from now on init's cgroup is the root of every cgroup path it sees. */
export function enterCgroupNamespace(): void {
  unshare(CLONE_NEWCGROUP)
}

/** Container side, inside the rootfs with /proc mounted: the kernel's files a container must not change. */
export function protectKernelFiles(): void {
  fs.mkdirSync('/sys', { recursive: true })
  mount('sysfs', '/sys', 'sysfs', READ_ONLY)
  for (const target of MASKED_PATHS) {
    if (!fs.existsSync(target)) continue
    if (fs.statSync(target).isDirectory()) mount('tmpfs', target, 'tmpfs', READ_ONLY, 'size=0')
    else mount('/dev/null', target, null, MS_BIND)
  }
  for (const target of READ_ONLY_PATHS) {
    if (!fs.existsSync(target)) continue
    mount(target, target, null, MS_BIND)
    mount(null, target, null, MS_REMOUNT | MS_BIND | READ_ONLY)
  }
  mount(null, '/dev', null, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=755,size=64k')
}

/**
 * Container side, after /sys is mounted: the container's cgroups at /sys/fs/cgroup, read-only. `layout`
 * describes the host's hierarchies (lib/cgroup-layout.ts); it was read before the rootfs hid the host's mounts.
 */
export function mountCgroups(layout: CgroupLayout): void {
  const v2 = layout.hierarchies.find((h) => h.dir === '')
  if (v2) {
    mount('cgroup2', CGROUP_MOUNT_POINT, 'cgroup2', READ_ONLY)
    return
  }
  mount('tmpfs', CGROUP_MOUNT_POINT, 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=755,size=64k')
  for (const hierarchy of layout.hierarchies) {
    const dir = path.join(CGROUP_MOUNT_POINT, hierarchy.dir)
    fs.mkdirSync(dir)
    mount(hierarchy.fsType, dir, hierarchy.fsType, READ_ONLY, hierarchy.options || null)
  }
  for (const link of layout.links) fs.symlinkSync(link.target, path.join(CGROUP_MOUNT_POINT, link.name))
  mount(null, CGROUP_MOUNT_POINT, null, MS_REMOUNT | READ_ONLY, 'mode=755,size=64k')
}
