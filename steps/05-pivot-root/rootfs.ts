// Steps 02 and 05: a root filesystem of the container's own. pivot_root() makes it the root mount of
// the container's mount namespace and the host's tree is unmounted from it: no path leads back out.
// /proc and /dev, which the minirootfs ships empty, are mounted inside.
import fs from 'node:fs'
import path from 'node:path'
import {
  MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_REC, chdir, mount, pivotRoot, umount2,
  chroot, // step 02's way, until TODO(05.2) replaces it
} from '../../lib/libc.ts'

/** The device nodes a container needs, bind-mounted from the host's /dev (docker's minimal set). */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const

/**
 * Container side, after the mount namespace exists (step 01) so nothing here reaches the host.
 * Order matters: /dev is filled from the host's device nodes, which are out of reach once inside.
 */
export function enterRootfs(rootfs: string): void {
  makeMountPoint(rootfs)
  populateDev(rootfs)
  changeRoot(rootfs)
  mountProc()
}

/**
 * pivot_root wants the new root to be a mount point of its own, and the rootfs is just a folder of
 * the host's filesystem (from step 06 on it is already a mount: the container's overlay).
 */
export function makeMountPoint(rootfs: string): void {
  // TODO(05.1): Make `rootfs` a mount point of its own, showing the same files (and the mounts
  //   already under it). Why: pivot_root refuses a new root that is a plain folder (EINVAL). It stays
  //   private like every mount of this namespace (step 01), so nothing propagates to the host.
  //   Lesson: "2. A mount point of its own". See man 2 mount (bind mounts), man 2 pivot_root.
}

/**
 * Alpine's minirootfs has an empty /dev: no /dev/null, so even `dd if=/dev/zero` fails. Put a
 * small tmpfs there and bind-mount the host's device nodes onto empty files in it.
 */
export function populateDev(rootfs: string): void {
  const dev = path.join(rootfs, 'dev')
  mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_NOEXEC, 'mode=755,size=64k')
  for (const name of DEVICES) {
    const target = path.join(dev, name)
    fs.writeFileSync(target, '') // a bind mount needs something to cover
    mount(`/dev/${name}`, target, null, MS_BIND)
  }
  addDevLinks(dev)
}

/**
 * The links a shell expects (`echo hi > /dev/stderr`), pointing into the container's /proc, and
 * a /dev/shm for POSIX shared memory. Only on the tmpfs: never write into the rootfs itself.
 */
function addDevLinks(dev: string): void {
  const TMPFS_MAGIC = 0x01021994
  if (fs.statfsSync(dev).type !== TMPFS_MAGIC) return
  fs.symlinkSync('/proc/self/fd', path.join(dev, 'fd'))
  for (const [fd, name] of ['stdin', 'stdout', 'stderr'].entries()) fs.symlinkSync(`/proc/self/fd/${fd}`, path.join(dev, name))
  fs.mkdirSync(path.join(dev, 'shm'), { mode: 0o1777 })
  mount('shm', path.join(dev, 'shm'), 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=64m')
}

/** From here on, "/" is the rootfs for this process and everything it execs. */
export function changeRoot(rootfs: string): void {
  // TODO(05.2): Replace the two chroot lines below (step 02's: a root process walks out of them,
  //   see the lesson) with a real change of root: make `rootfs` the root MOUNT of the container's
  //   mount namespace with pivot_root. Mind what pivot_root works on: a mount point (TODO 05.1)
  //   and the paths you give it, relative to where you are; the lesson shows a form that needs no
  //   extra folder in the rootfs (until step 06 that folder is shared by every container: write
  //   nothing into it). Lesson: "3. pivot_root". See man 2 pivot_root.
  chroot(rootfs)
  chdir('/')
  // TODO(05.3): The host's old root is still in the container's mount namespace (stacked on top
  //   of "/": try `ls /..` inside). Take it out of the namespace altogether, although every host
  //   process still uses it, then leave the current directory at the new "/". Afterwards no path,
  //   not even /.. or the chroot trick, may reach a host file.
  //   Lesson: "4. Detach the old root". See man 2 umount (the flags), man 2 pivot_root (NOTES).
}

/**
 * `ps` and `top` read /proc. A proc filesystem mounted by a process in the new PID namespace
 * shows that namespace's processes only.
 */
export function mountProc(): void {
  mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)
}
