// Step 01: namespaces. Each namespace gives the container its own copy of one kernel resource:
// PID (process numbers), UTS (hostname), mount (the mount table), IPC (System V IPC, message queues).
// @imports 01-namespaces
// @starter
// // The calls are in lib/libc.ts; so are the kernel's flag constants your code needs: import them here too.
// import { mount, sethostname, unshare } from '../../lib/libc.ts'
// @solution
import { CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, MS_PRIVATE, MS_REC, mount, sethostname, unshare } from '../../lib/libc.ts'
// @end

/**
 * Host side, right before init is spawned: the container's processes must be numbered from 1 and
 * see nothing of the host's. The process that asks for a new PID namespace is not the one that
 * enters it: its next child is.
 */
export function createPidNamespace(): void {
  // @todo 01-namespaces
  // TODO(01.1): Give the container a PID namespace of its own, so that the next process this engine
  //   starts (init) is its PID 1 and sees none of the host's processes. Why here, on the host side and
  //   before init exists: this kind of namespace does not move the process that asks for it.
  //   Lesson: "1. A PID namespace". See man 2 unshare and man 7 pid_namespaces.
  // @solution
  unshare(CLONE_NEWPID)
  // @end
}

/** Container side, first thing in init: the namespaces that move the process that asks for them. */
export function enterNamespaces(): void {
  // @todo 01-namespaces
  // TODO(01.2): Move init (this process) out of three of the host's namespaces at once: its mount
  //   table, its hostname and its System V IPC. Why in init: these namespaces move the caller, and
  //   the engine on the host side must stay in the host's.
  //   Lesson: "2. Mount, UTS and IPC namespaces". See man 2 unshare and man 7 namespaces.
  // @solution
  unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)
  // @end
}

/**
 * A new mount namespace starts as a copy of the host's, and on systemd hosts every mount is
 * "shared": a mount made inside would show up on the host, and stay there.
 */
export function makeMountsPrivate(): void {
  // @todo 01-namespaces
  // TODO(01.3): Cut the container's mount table off from the host's: from now on no mount or unmount
  //   may travel from one to the other, in either direction, for "/" and every mount below it. Why: on
  //   a systemd host every mount is shared, and the /proc and /dev of step 02 would land on the host.
  //   Lesson: "3. Mount propagation". See man 7 mount_namespaces and man 2 mount.
  // @solution
  mount(null, '/', null, MS_REC | MS_PRIVATE)
  // @end
}

/** Inside the container's own UTS namespace, the hostname is the container's own. */
export function setHostname(hostname: string): void {
  // @todo 01-namespaces
  // TODO(01.4): Give the container the hostname it was asked for (--hostname). Why it is safe only
  //   here: outside a UTS namespace of its own the same call renames the host.
  //   Lesson: "4. The hostname". See man 2 sethostname.
  // @solution
  sethostname(hostname)
  // @end
}
