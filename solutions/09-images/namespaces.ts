// Step 01: namespaces. Each namespace gives the container its own copy of one kernel resource:
// PID (process numbers), UTS (hostname), mount (the mount table), IPC (System V IPC, message queues).
import { CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_PRIVATE, MS_REC, mount, sethostname, unshare } from '../../lib/libc.ts'

/**
 * Host side, right before init is spawned: the container's processes must be numbered from 1 and
 * see nothing of the host's. The process that asks for a new PID namespace is not the one that
 * enters it: its next child is.
 */
export function createPidNamespace(): void {
  unshare(CLONE_NEWPID)
}

/** Container side, first thing in init: the namespaces that move the process that asks for them. */
export function enterNamespaces(): void {
  unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)
}

/**
 * A new mount namespace starts as a copy of the host's, and on systemd hosts every mount is
 * "shared": a mount made inside would show up on the host, and stay there.
 */
export function makeMountsPrivate(): void {
  mount(null, '/', null, MS_REC | MS_PRIVATE)
}

/** Inside the container's own UTS namespace, the hostname is the container's own. */
export function setHostname(hostname: string): void {
  sethostname(hostname)
}
