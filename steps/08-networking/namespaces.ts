// Step 01: namespaces. Each namespace gives the container its own copy of one kernel resource:
// PID (process numbers), UTS (hostname), mount (the mount table), IPC (System V IPC, message queues).
import { CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_PRIVATE, MS_REC, mount, sethostname, unshare } from '../../lib/libc.ts'

/**
 * Host side, before init is spawned. unshare(CLONE_NEWPID) does not move the caller: the NEXT
 * child it creates becomes PID 1 of a new PID namespace.
 */
export function createPidNamespace(): void {
  unshare(CLONE_NEWPID)
}

/** Container side, first thing in init: new mount, UTS and IPC namespaces for this process. */
export function enterNamespaces(): void {
  unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)
}

/**
 * A new mount namespace starts as a copy of the host's, and on systemd hosts every mount is
 * "shared": a mount made inside would propagate back to the host. Private stops that.
 */
export function makeMountsPrivate(): void {
  mount(null, '/', null, MS_REC | MS_PRIVATE)
}

/** Inside the new UTS namespace, the hostname is the container's own. */
export function setHostname(hostname: string): void {
  sethostname(hostname)
}
