// Step 07, the last two locks: what root in the container may still do. The command is root, the host's
// uid 0, on the host's kernel; namespaces change what it sees, not who it is. This file takes away the
// capabilities a container does not need, and installs a seccomp filter: a list of system calls the kernel
// refuses to run for it at all.
//
//   init, after the last mount and after lo is up (both need capabilities that are about to go):
//     dropCapabilities()      07.4  bounding, effective, permitted, inheritable, ambient; no_new_privs
//     installSyscallFilter()  07.5  last: from here on mount, unshare... fail for init too
//     execve(command)               the command starts with what is left, and cannot get more
import {
  capabilityMask, clearAmbientCapabilities, dropFromBoundingSet, lastCapability, setCapabilities, setNoNewPrivileges,
} from '../../lib/capabilities.ts'
import { EPERM, ENOSYS, assembleDenyList, installSeccompFilter, type DenyRule } from '../../lib/seccomp.ts'

/**
 * What the container keeps: docker's default set (moby, oci/caps/defaults.go) without MKNOD. Docker keeps
 * MKNOD and lets its device cgroup refuse to open the nodes; this engine has no device cgroup, so no mknod.
 */
export const KEPT_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP',
  'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
]

/** Every CLONE_NEW* flag (linux/sched.h): NS, CGROUP, UTS, IPC, USER, PID, NET. */
export const NAMESPACE_FLAGS = 0x7e020000

/** Container side: init keeps KEPT_CAPABILITIES only, and so does everything it will ever exec. */
export function dropCapabilities(): void {
  const keep = capabilityMask(KEPT_CAPABILITIES)
  for (let cap = 0; cap <= lastCapability(); cap++) {
    if ((keep & (1n << BigInt(cap))) === 0n) dropFromBoundingSet(cap)
  }
  setCapabilities({ effective: keep, permitted: keep, inheritable: 0n })
  clearAmbientCapabilities()
  setNoNewPrivileges()
}

export const DENIED_SYSCALLS = [
  ...[
    'mount', 'umount2', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr', 'pivot_root',
    'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'init_module', 'finit_module', 'delete_module',
    'kexec_load', 'kexec_file_load', 'reboot', 'swapon', 'swapoff', 'bpf', 'perf_event_open', 'ptrace', 'open_by_handle_at',
  ].map((syscall) => ({ syscall, errno: EPERM })),
  { syscall: 'clone', errno: EPERM, when: { argument: 0, anyBitOf: NAMESPACE_FLAGS } },
  { syscall: 'clone3', errno: ENOSYS },
] satisfies DenyRule[]

/**
 * Container side, the very last step before execve: assembles the filter (lib/seccomp.ts) and installs it.
 * The kernel takes it because no_new_privs is set (07.4).
 */
export function installSyscallFilter(): void {
  installSeccompFilter(assembleDenyList(DENIED_SYSCALLS))
}
