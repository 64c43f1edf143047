// Step 07: the kernel's own filesystems inside the container. /proc, /sys and /sys/fs/cgroup are windows
// onto the one kernel every container shares: what is written there is written to the host.
//
//   init, container side:
//     enterCgroupNamespace()   07.1  (init is already in its cgroup: the host side put it there)
//     ... the rootfs, /proc (step 02) ...
//     protectKernelFiles()     07.2  /sys read-only; parts of /proc masked or read-only; /dev nodev
//     mountCgroups(layout)     07.3  the container's cgroups, read-only, at /sys/fs/cgroup
// What the given code uses. The calls and the other flags your TODOs need are in lib/libc.ts (node:fs and
// node:path for files and folders): import them here too.
import { MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY } from '../../lib/libc.ts'
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
  // TODO(07.1): Give init a cgroup namespace of its own: /proc/self/cgroup then says "/", and a cgroup
  //   filesystem mounted from inside shows the container's cgroup as the top of the tree. The namespace's root
  //   is the cgroup the caller is in at that moment: init is already in the container's cgroup.
  //   Lesson: "2. A cgroup namespace". See man 7 cgroup_namespaces.
}

/** Container side, inside the rootfs with /proc mounted: the kernel's files a container must not change. */
export function protectKernelFiles(): void {
  // TODO(07.2): Close the windows onto the host's kernel:
  //   - a sysfs at /sys, read-only (mounted now, after the network namespace: it shows the container's
  //     interfaces, not the host's); a rootfs without a /sys folder gets one (in the container's own layer);
  //   - each of MASKED_PATHS hidden: a file gets the container's /dev/null bound over it, a folder an empty
  //     read-only tmpfs;
  //   - each of READ_ONLY_PATHS read-only: a bind mount cannot be made read-only when it is made, only by
  //     remounting it afterwards;
  //   - a path this kernel does not have is skipped (not every kernel has /proc/sysrq-trigger);
  //   - /dev: its tmpfs remounted nodev, so that no device node made in it can be opened (a remount sets
  //     ALL the flags of the mount: repeat the ones it keeps).
  //   Lesson: "3. Files of the kernel". See man 2 mount (MS_BIND, MS_REMOUNT, MS_RDONLY, MS_NODEV), man 5 proc.
}

/**
 * Container side, after /sys is mounted: the container's cgroups at /sys/fs/cgroup, read-only. `layout`
 * describes the host's hierarchies (lib/cgroup-layout.ts); it was read before the rootfs hid the host's mounts.
 */
export function mountCgroups(layout: CgroupLayout): void {
  // TODO(07.3): Mount the cgroup filesystems the host has, read-only, at /sys/fs/cgroup (CGROUP_MOUNT_POINT):
  //   - cgroup v2: the one hierarchy (dir '') straight on /sys/fs/cgroup;
  //   - cgroup v1: first a small tmpfs on /sys/fs/cgroup to hold one folder per hierarchy, each mounted with
  //     its fsType and its options as the mount's data ('memory', 'cpu,cpuacct', 'name=systemd'), then the
  //     links (cpu -> cpu,cpuacct), and only then the tmpfs itself made read-only.
  //   Inside the cgroup namespace each mount shows the container's own cgroup as its root.
  //   Lesson: "4. Read-only cgroups". See man 7 cgroups ("Mounting v1 controllers"), man 2 mount.
}
