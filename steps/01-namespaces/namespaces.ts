// Step 01: namespaces. Each namespace gives the container its own copy of one kernel resource:
// PID (process numbers), UTS (hostname), mount (the mount table), IPC (System V IPC, message queues).
import { CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_PRIVATE, MS_REC, mount, sethostname, unshare } from '../../lib/libc.ts'

/**
 * Host side, before init is spawned. unshare(CLONE_NEWPID) does not move the caller: the NEXT
 * child it creates becomes PID 1 of a new PID namespace.
 */
export function createPidNamespace(): void {
  // TODO(01.1): Give the container its own PID namespace, so that its first process is PID 1.
  //   Call unshare() with the CLONE_NEWPID flag (both come from lib/libc.ts).
  //   Lesson: "1. A PID namespace".
}

/** Container side, first thing in init: new mount, UTS and IPC namespaces for this process. */
export function enterNamespaces(): void {
  // TODO(01.2): Move init into new mount, UTS (hostname) and IPC namespaces, in ONE unshare() call:
  //   combine the flags with |: CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC.
  //   Lesson: "2. Mount, UTS and IPC namespaces".
}

/**
 * A new mount namespace starts as a copy of the host's, and on systemd hosts every mount is
 * "shared": a mount made inside would propagate back to the host. Private stops that.
 */
export function makeMountsPrivate(): void {
  // TODO(01.3): Stop mount propagation between the container and the host: remount "/" and
  //   everything under it private: mount(null, '/', null, MS_REC | MS_PRIVATE).
  //   Lesson: "3. Mount propagation".
}

/** Inside the new UTS namespace, the hostname is the container's own. */
export function setHostname(hostname: string): void {
  // TODO(01.4): Set the container's hostname with sethostname(hostname). Make sure this runs
  //   AFTER enterNamespaces(): without a UTS namespace it renames the host itself.
  //   Lesson: "4. The hostname".
}
