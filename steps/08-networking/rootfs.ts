// Step 02: a root filesystem of the container's own. chroot() changes what "/" means for this
// process; /proc and /dev, which the minirootfs ships empty, are mounted inside.
import fs from 'node:fs'
import path from 'node:path'
import { MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, chdir, chroot, mount } from '../../lib/libc.ts'

/** The device nodes a container needs, bind-mounted from the host's /dev (docker's minimal set). */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'] as const

/**
 * Container side, after the mount namespace exists (step 01) so nothing here reaches the host.
 * Order matters: /dev is filled from the host's device nodes, which are out of reach once inside.
 */
export function enterRootfs(rootfs: string): void {
  populateDev(rootfs)
  changeRoot(rootfs)
  mountProc()
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
  chroot(rootfs)
  chdir('/')
}

/**
 * `ps` and `top` read /proc. A proc filesystem mounted by a process in the new PID namespace
 * shows that namespace's processes only.
 */
export function mountProc(): void {
  mount('proc', '/proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC)
}
